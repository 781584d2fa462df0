// Typed errors of the state protocol: rejected records and puts that reached no peer.

import { AgentMeshError } from '../kit/errors.ts'

/** Why a record was rejected (SPEC state, "Validation"). */
export type RejectReason = 'malformed' | 'key-mismatch' | 'bad-author' | 'forged' | 'not-owner' | 'expired' | 'from-the-future' | 'stale'

/** A record that fails validation; every node throws this from the DHT validator and drops the record. */
export class RecordRejectedError extends AgentMeshError {
  override name = 'RecordRejectedError'
  readonly reason: RejectReason
  constructor (reason: RejectReason, message: string, options?: ErrorOptions) {
    super('ERR_RECORD_REJECTED', message, options)
    this.reason = reason
  }
}

/** A put that no remote peer stored: the record is kept locally and republished once peers appear. */
export class NoReplicasError extends AgentMeshError {
  override name = 'NoReplicasError'
  readonly key: string
  /** DHT peers that were asked and refused or failed (0: no peer was reachable at all). */
  readonly peersFailed: number
  constructor (key: string, detail: string, peersFailed: number) {
    super('ERR_NO_REPLICAS', `Cannot replicate state key "${key}": ${detail}; it is stored on this node only and will be republished when peers are reachable`)
    this.key = key
    this.peersFailed = peersFailed
  }
}
