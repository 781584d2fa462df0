// Bounded, deterministic CBOR (via cborg) for every wire message: the same value always
// encodes to the same bytes, so bytes can be hashed and signed.

import * as cborg from 'cborg'
import { DecodeError, LimitExceededError } from './errors.ts'

/** Nesting depth allowed in any decoded message (no protocol needs more; bounds recursion). */
export const CBOR_DEPTH_MAX = 64

/** Encode a value deterministically (sorted map keys, shortest forms). */
export function encodeCbor (value: unknown): Uint8Array {
  return cborg.encode(value)
}

/**
 * Decode bytes produced by `encodeCbor`, refusing input over `bytesMax`.
 * `what` names the message in errors, e.g. `Cannot decode direct frame: …`.
 */
export function decodeCbor (bytes: Uint8Array, options: { bytesMax: number, what: string }): unknown {
  if (bytes.byteLength > options.bytesMax) {
    throw new LimitExceededError(`Cannot decode ${options.what}: ${bytes.byteLength} bytes exceeds limit of ${options.bytesMax}`)
  }
  try {
    return cborg.decode(bytes, { strict: true, rejectDuplicateMapKeys: true, allowIndefinite: false, allowUndefined: false })
  } catch (err) {
    throw new DecodeError(`Cannot decode ${options.what}: ${(err as Error).message}`, { cause: err })
  }
}
