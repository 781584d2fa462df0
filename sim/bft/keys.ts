// Deterministic Ed25519 identities for the BFT simulator: key i is derived from a fixed label, so
// every seed and every replay uses the same peer ids without touching any randomness source.

import { sha256 } from '../../protocols/kit/bytes.ts'
import { ed25519SignerFromSeed } from '../../protocols/bft/ed25519.ts'
import type { Signer } from '../../protocols/bft/signing.ts'

/** Size of the identity pool members are drawn from. */
export const SIM_KEY_POOL = 16

const signers: Signer[] = []

/** The i-th simulator signer (created once, then reused: key generation is pure in i). */
export function simSigner (i: number): Signer {
  let signer = signers[i]
  if (signer === undefined) {
    signer = ed25519SignerFromSeed(sha256(new TextEncoder().encode(`agentmesh-bft-sim-key-${i}`)))
    signers[i] = signer
  }
  return signer
}
