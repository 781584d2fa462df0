// Signature check of an event envelope against its author's peer id (Ed25519 keys are
// inlined in the peer id; kit/peer-key.ts keeps each author's key parsed). CPU-bound, so the
// adapter does it once per event id.

import { verifyByPeerId } from '../kit/peer-key.ts'
import { signingBytes } from './messages.ts'
import type { Envelope } from './messages.ts'

/** True when `e.signature` is the author's signature over the body; false for any failure. */
export async function verifyEnvelope (e: Envelope): Promise<boolean> {
  return await verifyByPeerId(e.author, signingBytes(e.bodyBytes), e.signature)
}
