// Typed errors for expected failures. Each message says what failed and why.

/** Base class of every error agentmesh throws on purpose; `code` is stable for programs. */
export class AgentMeshError extends Error {
  override name = 'AgentMeshError'
  readonly code: string

  constructor (code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Peer or user input that does not decode or breaks a bound. */
export class DecodeError extends AgentMeshError {
  override name = 'DecodeError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_DECODE', message, options) }
}

/** A value or frame larger than its named limit. */
export class LimitExceededError extends AgentMeshError {
  override name = 'LimitExceededError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_LIMIT_EXCEEDED', message, options) }
}

/** A wait that ran past its deadline. */
export class TimeoutError extends AgentMeshError {
  override name = 'TimeoutError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_TIMEOUT', message, options) }
}

/** An operation cancelled by its AbortSignal. */
export class AbortedError extends AgentMeshError {
  override name = 'AbortedError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_ABORTED', message, options) }
}

/** An operation on a node that has stopped. */
export class NotRunningError extends AgentMeshError {
  override name = 'NotRunningError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_NOT_RUNNING', message, options) }
}

/** A peer that cannot be reached (no address, refused, or gone). */
export class PeerUnreachableError extends AgentMeshError {
  override name = 'PeerUnreachableError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_PEER_UNREACHABLE', message, options) }
}

/** Describe any thrown value in one line, for logs and error chains. */
export function describeError (err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

/** A write to a doc or topic whose writer list does not name this node. */
export class NotAWriterError extends AgentMeshError {
  override name = 'NotAWriterError'
  constructor (what: string, peerId: string, options?: ErrorOptions) {
    super('ERR_NOT_A_WRITER', `Cannot write ${what}: this node (${peerId}) is not on its writer list, so every node that restricted it would refuse the write`, options)
  }
}
