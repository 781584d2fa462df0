// Typed errors of the bft service API (`node.bft`): bad membership, refused values, closed groups.

import { AgentMeshError } from '../kit/errors.ts'

/** This node is not in the member list of the group it tried to join or use. */
export class NotAMemberError extends AgentMeshError {
  override name = 'NotAMemberError'
  constructor (message: string) { super('ERR_BFT_NOT_A_MEMBER', message) }
}

/** A BFT group needs n ≥ 4 distinct Ed25519 peer ids (n ≥ 3f+1 with f ≥ 1). */
export class GroupSizeError extends AgentMeshError {
  override name = 'GroupSizeError'
  constructor (message: string) { super('ERR_BFT_GROUP_SIZE', message) }
}

/** The value failed this member's `validate` hook, so it was never submitted. */
export class ValidationRejectedError extends AgentMeshError {
  override name = 'ValidationRejectedError'
  constructor (message: string) { super('ERR_BFT_VALIDATION_REJECTED', message) }
}

/** The group was already joined on this node (call `leave()` first). */
export class AlreadyJoinedError extends AgentMeshError {
  override name = 'AlreadyJoinedError'
  constructor (message: string) { super('ERR_BFT_ALREADY_JOINED', message) }
}
