// Which peers hold a key's record, estimated from membership (SPEC state, "One-hop reads").
// Pure: Kademlia distance is XOR of SHA-256 ids, as kad-dht computes it, so the peers ranked
// closest here are the ones a converged kad-dht put stored the record on.

import { xorCompare } from 'uint8arrays/xor-compare'
import { xor } from 'uint8arrays/xor'
import { sha256 } from '../kit/bytes.ts'

/** Replicas per record: kad-dht's K, the closest peers a put stores the record on. */
export const STATE_REPLICAS = 20

/** kad-dht's id of a DHT key, or of a peer (pass its multihash bytes): SHA-256 of the bytes. */
export function kadIdOf (bytes: Uint8Array): Uint8Array { return sha256(bytes) }

/** A member this node could ask. */
export interface ReplicaCandidate {
  peerId: string
  /** `kadIdOf(peer multihash)`. */
  kadId: Uint8Array
  /** An open connection exists: asking costs one stream, not a dial and a handshake. */
  connected: boolean
}

/**
 * The peers to ask for a key, in order. Of the `replicas` ids closest to `keyId` (this node
 * ranked among them but never returned), connected peers come first, then the rest; each group
 * closest first. Ties cannot happen between distinct ids.
 */
export function readOrder (keyId: Uint8Array, self: Uint8Array, candidates: readonly ReplicaCandidate[], replicas: number = STATE_REPLICAS): string[] {
  const ranked = candidates.map(c => ({ c, isSelf: false, distance: xor(c.kadId, keyId) }))
  ranked.push({ c: { peerId: '', kadId: self, connected: false }, isSelf: true, distance: xor(self, keyId) })
  ranked.sort((a, b) => xorCompare(a.distance, b.distance))
  const closest = ranked.slice(0, replicas).filter(r => !r.isSelf)
  return [...closest.filter(r => r.c.connected), ...closest.filter(r => !r.c.connected)].map(r => r.c.peerId)
}
