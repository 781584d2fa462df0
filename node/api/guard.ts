// Who may talk to the API: a check of Host and Origin against DNS rebinding (a web page whose
// name resolves to 127.0.0.1 must not reach the node through the visitor's browser), and the
// bearer token. Pure helpers; the server applies them to every request.

import { isIP } from 'node:net'

/** Hostnames that always mean this machine. */
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1'])

/** True for a loopback host: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost (host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (LOOPBACK_NAMES.has(bare)) return true
  return isIP(bare) === 4 && bare.startsWith('127.')
}

/** True for a wildcard bind address (every interface). */
export function isWildcardHost (host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '')
  return bare === '0.0.0.0' || bare === '::'
}

/** The hostname part of a Host header value or a URL authority (`[::1]:80` → `::1`). */
export function hostnameOf (authority: string): string {
  const trimmed = authority.trim().toLowerCase()
  if (trimmed.startsWith('[')) return trimmed.slice(1, trimmed.indexOf(']') === -1 ? undefined : trimmed.indexOf(']'))
  const colon = trimmed.lastIndexOf(':')
  return colon === -1 || trimmed.indexOf(':') !== colon ? trimmed : trimmed.slice(0, colon)
}

/** What the guard accepts: loopback names always, the bound host, and any host on a wildcard bind. */
export interface HostPolicy { boundHost: string }

/** Whether a request's Host header names this server (undefined Host: HTTP/1.0, refused). */
export function hostAllowed (hostHeader: string | undefined, policy: HostPolicy): boolean {
  if (hostHeader === undefined || hostHeader === '') return false
  const name = hostnameOf(hostHeader)
  if (isLoopbackHost(name)) return true
  // A wildcard bind was asked for explicitly (--api-allow-remote): every name of this machine is valid.
  if (isWildcardHost(policy.boundHost)) return true
  return name === hostnameOf(policy.boundHost.includes(':') && !policy.boundHost.startsWith('[') ? `[${policy.boundHost}]` : policy.boundHost)
}

/** Whether an Origin header (sent by browsers) is one of ours; absent Origin (non-browser clients) passes. */
export function originAllowed (origin: string | undefined, policy: HostPolicy): boolean {
  if (origin === undefined) return true
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false // "null" or garbage: an opaque origin is never ours
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  return hostAllowed(url.host, policy)
}
