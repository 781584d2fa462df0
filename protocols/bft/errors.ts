// Typed errors of the bft protocol: bad wire input, refused signing, failed certificates.

import { AgentMeshError } from '../kit/errors.ts'

/** The core refused to sign because it already signed at or past this (height, round, step) (SPEC bft B5). */
export class DoubleSignError extends AgentMeshError {
  override name = 'DoubleSignError'
  constructor (message: string) { super('ERR_BFT_DOUBLE_SIGN', message) }
}

/** A decision, certificate or chain that does not verify; `reason` says which check failed. */
export class VerificationError extends AgentMeshError {
  override name = 'VerificationError'
  constructor (message: string) { super('ERR_BFT_VERIFY', message) }
}
