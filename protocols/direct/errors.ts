// Typed errors a direct caller can get back from the remote side.

import { AgentMeshError } from '../kit/errors.ts'
import type { FailureCode } from './messages.ts'

/** The remote node has no handler for the method. */
export class UnknownMethodError extends AgentMeshError {
  override name = 'UnknownMethodError'
  readonly method: string
  constructor (method: string, peerId: string) {
    super('ERR_UNKNOWN_METHOD', `Peer ${peerId} has no handler for method "${method}"`)
    this.method = method
  }
}

/** The remote handler failed or rejected the request; `remoteCode` says which. */
export class RemoteError extends AgentMeshError {
  override name = 'RemoteError'
  readonly remoteCode: FailureCode
  readonly method: string
  constructor (options: { method: string, peerId: string, code: FailureCode, message: string }) {
    super('ERR_REMOTE', `Peer ${options.peerId} failed "${options.method}" (${options.code}): ${options.message}`)
    this.remoteCode = options.code
    this.method = options.method
  }
}

/**
 * The remote node refused the call because this node went over its per-peer request budget;
 * `limit` names the limit (SPEC direct D5). Retry later, or slower.
 */
export class RateLimitedError extends AgentMeshError {
  override name = 'RateLimitedError'
  readonly limit: string
  readonly method: string
  constructor (options: { method: string, peerId: string, limit: string, message: string }) {
    super('ERR_RATE_LIMITED', `Peer ${options.peerId} refused "${options.method}": ${options.message}`)
    this.limit = options.limit
    this.method = options.method
  }
}
