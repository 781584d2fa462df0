// Typed errors of raft groups (`node.groups`): each says which group and why.

import { AgentMeshError } from '../../protocols/kit/errors.ts'

/** No leader was known, or the request could not be committed, before the deadline. */
export class NoLeaderError extends AgentMeshError {
  override name = 'NoLeaderError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_NO_LEADER', message, options) }
}

/** An operation on a group this node has not joined (or has left). */
export class GroupNotJoinedError extends AgentMeshError {
  override name = 'GroupNotJoinedError'
  constructor (group: string) { super('ERR_GROUP_NOT_JOINED', `Raft group "${group}" is not joined on this node (call node.groups.join first, or it was left)`) }
}

/** `join` of a group that is already joined, or with bad options. */
export class GroupConfigError extends AgentMeshError {
  override name = 'GroupConfigError'
  constructor (message: string) { super('ERR_GROUP_CONFIG', message) }
}

/** A lock held by someone else until the caller's deadline. */
export class LockUnavailableError extends AgentMeshError {
  override name = 'LockUnavailableError'
  constructor (message: string) { super('ERR_LOCK_UNAVAILABLE', message) }
}

/** An operation that needs the built-in KV on a group joined with a custom `apply`. */
export class NotBuiltInKvError extends AgentMeshError {
  override name = 'NotBuiltInKvError'
  constructor (group: string, what: string) { super('ERR_NOT_BUILTIN_KV', `Cannot ${what} on raft group "${group}": it was joined with a custom apply, and ${what} needs the built-in KV`) }
}

/** `propose(value, {bft: true})` on a node built without a BFT service. */
export class BftNotConfiguredError extends AgentMeshError {
  override name = 'BftNotConfiguredError'
  constructor (group: string) { super('ERR_BFT_NOT_CONFIGURED', `Cannot propose with {bft: true} on group "${group}": the group was joined without BFT (pass {bft: true} or a validate hook to groups.join on every member; BFT needs at least 4 members)`) }
}

/** A retried request whose de-duplication session was evicted (SPEC raft R12): refused rather than applied twice. */
export class SessionExpiredError extends AgentMeshError {
  override name = 'SessionExpiredError'
  constructor (message: string) { super('ERR_SESSION_EXPIRED', message) }
}

/** The state machine's apply threw: the command is committed but failed deterministically. */
export class ApplyError extends AgentMeshError {
  override name = 'ApplyError'
  constructor (message: string) { super('ERR_APPLY', message) }
}
