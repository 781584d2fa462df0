// Signature check of an event envelope against its author's peer id (Ed25519 keys are
// inlined in the peer id). Async and CPU-bound, so the adapter does it once per event id.

import { peerIdFromString } from '@libp2p/peer-id'
import { signingBytes } from './messages.ts'
import type { Envelope } from './messages.ts'

/** True when `e.signature` is the author's signature over the body; false for any failure. */
export async function verifyEnvelope (e: Envelope): Promise<boolean> {
  let publicKey
  try {
    publicKey = peerIdFromString(e.author).publicKey
  } catch (err) {
    void err // an unparsable author is a forged event, not an error of ours
    return false
  }
  if (publicKey === undefined) return false
  try {
    return await publicKey.verify(signingBytes(e.bodyBytes), e.signature)
  } catch (err) {
    void err // malformed signatures make some key types throw instead of returning false
    return false
  }
}
