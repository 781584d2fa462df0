// What the CLI prints: dialable addresses in a useful order, the human start-up banner,
// and the NDJSON event lines of `--json` (DESIGN "CLI"). Pure: no I/O.

import { multiaddr } from '@multiformats/multiaddr'

/** The NDJSON lines `--json` prints on stdout, one object per line. Fields may be added, never removed. */
export type CliEvent =
  | { event: 'ready', peerId: string, name: string, addresses: string[], api?: string, apiTokenFile?: string, apiToken?: string }
  | { event: 'peer:join', peerId: string, name?: string }
  | { event: 'peer:leave', peerId: string, name?: string }
  | { event: 'peer:unreachable', address: string, reason: string, detail: string }
  | { event: 'stopped' }
  // `--exec` (node/exec): the worker child's life, so scripts can follow it.
  | { event: 'exec:spawned', pid: number }
  | { event: 'exec:ready', pid: number, queues: string[], concurrency: number }
  | { event: 'exec:exited', pid: number, code: number | null, signal: string | null, restartInMs?: number }
  | { event: 'exec:gave-up', reason: string }

/** One NDJSON line (with its newline) for an event. */
export function jsonLine (event: CliEvent): string {
  return `${JSON.stringify(event)}\n`
}

/**
 * How useful an address is to print, lower first: home/office LANs (192.168/16, 10/8), then
 * 172.16/12 (often a container bridge), then other addresses, loopback last.
 * Undefined: not dialable (wildcard or link-local).
 */
function rankOf (address: string): number | undefined {
  let host: { name: string, value?: string } | undefined
  try {
    host = multiaddr(address).getComponents()[0]
  } catch {
    return undefined // not a multiaddr: libp2p never reports one, but never print garbage
  }
  const value = host?.value ?? ''
  if (host?.name === 'ip4') {
    if (value === '0.0.0.0') return undefined // a listen wildcard, not something to dial
    if (value.startsWith('127.')) return RANK_LOOPBACK
    if (value.startsWith('169.254.')) return undefined // link-local: rarely routable between machines
    if (value.startsWith('192.168.') || value.startsWith('10.')) return 0
    if (/^172\.(1[6-9]|2\d|3[01])\./.test(value)) return 1
    return 2
  }
  if (host?.name === 'ip6') {
    const lower = value.toLowerCase()
    if (lower === '::') return undefined
    if (lower === '::1') return RANK_LOOPBACK
    if (lower.startsWith('fe80')) return undefined // link-local needs a zone id to dial
    return 2
  }
  return host !== undefined ? 2 : undefined
}

const RANK_LOOPBACK = 3

/** Dialable addresses only (no 0.0.0.0, ::, link-local), LAN first, then others, loopback last. */
export function orderAddresses (addresses: readonly string[]): string[] {
  const ranked = addresses.flatMap((address, index) => {
    const rank = rankOf(address)
    return rank === undefined ? [] : [{ address, index, rank }]
  })
  ranked.sort((a, b) => a.rank - b.rank || a.index - b.index)
  return [...new Set(ranked.map(r => r.address))]
}

/** What the start-up banner shows. */
export interface Banner {
  peerId: string
  name: string
  addresses: readonly string[]
  /** How the user runs the CLI, e.g. `npm run node --` or `agentmesh`. */
  command: string
  /** The data dir holding the identity, if any. */
  dataDir: string | undefined
  /** The local API, when `--api` serves one: its URL and where its token is (or the token itself). */
  api?: { url: string, tokenFile: string | undefined, token: string }
}

/** The human start-up text: peer id, addresses, and the exact commands that join this node. */
export function bannerText (banner: Banner): string {
  const ordered = orderAddresses(banner.addresses)
  const remote = ordered.find(a => rankOf(a) !== RANK_LOOPBACK)
  const local = ordered.find(a => rankOf(a) === RANK_LOOPBACK)
  const lines = [
    `agentmesh node "${banner.name}" is running`,
    `  peer id:   ${banner.peerId}`,
    `  identity:  ${banner.dataDir !== undefined ? `kept in ${banner.dataDir}` : 'in memory (pass --data-dir <path> to keep this peer id across restarts)'}`
  ]
  ordered.forEach((address, i) => lines.push(`  ${i === 0 ? 'addresses:' : '          '} ${address}`))
  if (ordered.length === 0) lines.push('  addresses: none dialable (check --listen)')
  if (remote !== undefined) {
    lines.push('', 'Join from another machine on this network:', `  ${banner.command} --peer ${remote}`)
  }
  if (local !== undefined) {
    lines.push('', 'Start another node on this machine:', `  ${banner.command} --peer ${local}`)
  }
  if (banner.api !== undefined) {
    const { url, tokenFile, token } = banner.api
    lines.push('', `Local API for agents in any language: ${url} (OpenAPI: ${url}/openapi.json, MCP: ${url}/mcp)`)
    lines.push(`  A2A agent card: ${url}/.well-known/agent-card.json`)
    if (tokenFile !== undefined) {
      lines.push(`  token in ${tokenFile}`, `  curl -H "Authorization: Bearer $(cat ${tokenFile})" ${url}/v1/node`)
    } else {
      lines.push(`  token (this run only; pass --data-dir to keep one): ${token}`, `  curl -H "Authorization: Bearer ${token}" ${url}/v1/node`)
    }
    // DESIGN "Operations": the banner prints the link that signs a browser in to the dashboard.
    lines.push(`Dashboard: ${url}/?token=${token}`, `  Prometheus metrics: ${url}/metrics (same bearer token)`)
  }
  lines.push('', 'Stop with Ctrl-C.')
  return lines.join('\n')
}

/** The human warning when no `--peer` was reached: each address, why, and what to check. */
export function unreachableText (peers: ReadonlyArray<{ address: string, reason: string, detail: string }>, afterMs: number): string {
  const advice: Record<string, string> = {
    refused: 'nothing listens there: is that node running, and is the port the one it printed?',
    'timed out': 'no answer: check the host, and that its firewall accepts inbound TCP on that port',
    'peer id mismatch': 'a different node answers there: copy the /p2p/<peer-id> that node printed (it changes on restart without --data-dir)',
    'no route': 'the host cannot be reached from here: check the address',
    failed: 'see the detail'
  }
  const lines = [`agentmesh: warning: could not reach any --peer after ${Math.round(afterMs / 1000)} s; still retrying`]
  for (const peer of peers) {
    lines.push(`  ${peer.address}`, `    ${peer.reason} (${peer.detail})`, `    ${advice[peer.reason] ?? advice.failed!}`)
  }
  return lines.join('\n')
}
