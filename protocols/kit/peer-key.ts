// Signature checks against the key inlined in a signer's peer id, with the key parsed once.
// libp2p's `publicKey.verify` rebuilds a node:crypto KeyObject from a JWK on every call, which
// cost about a third of each Ed25519 check (`npm run sim -- fanout --profile`: createPublicKey
// and getKeyObjectSlots beside verifyOneShot). Here an Ed25519 signer's key becomes a KeyObject
// once per process; other key types (secp256k1, RSA) go through libp2p's verify unchanged.

import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'

/**
 * Signers whose key stays parsed, per process (a key is a pure function of the peer id, so nodes
 * sharing a process share the table): as many as an events topic may hold authors
 * (TOPIC_AUTHORS_MAX), so a busy topic's authors do not evict each other. The oldest parsed is
 * forgotten first; a forgotten signer is parsed again on its next message. ~200 bytes each.
 */
export const PEER_KEYS_CACHED_MAX = 4096
/** Ed25519 signatures are 64 bytes; anything else is refused without asking OpenSSL. */
const ED25519_SIGNATURE_BYTES = 64
/** DER SubjectPublicKeyInfo header of an Ed25519 key; the 32 raw key bytes follow. */
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

type PeerKey =
  | { kind: 'ed25519', key: KeyObject }
  | { kind: 'other', verify: (data: Uint8Array, sig: Uint8Array) => boolean | Promise<boolean> }
  | { kind: 'none' }

const keys = new Map<string, PeerKey>()

function parse (peerId: string): PeerKey {
  let publicKey
  try {
    publicKey = peerIdFromString(peerId).publicKey
  } catch (err) {
    void err // an unparsable signer signed nothing: the check fails, it is not our error
    return { kind: 'none' }
  }
  if (publicKey === undefined) return { kind: 'none' }
  if (publicKey.type === 'Ed25519') {
    const der = new Uint8Array(SPKI_ED25519_PREFIX.byteLength + publicKey.raw.byteLength)
    der.set(SPKI_ED25519_PREFIX, 0)
    der.set(publicKey.raw, SPKI_ED25519_PREFIX.byteLength)
    return { kind: 'ed25519', key: createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'spki' }) }
  }
  return { kind: 'other', verify: (data, sig) => publicKey.verify(data, sig) }
}

function keyOf (peerId: string): PeerKey {
  let key = keys.get(peerId)
  if (key !== undefined) return key
  key = parse(peerId)
  if (keys.size >= PEER_KEYS_CACHED_MAX) keys.delete(keys.keys().next().value!)
  keys.set(peerId, key)
  return key
}

/**
 * True when `signature` is `peerId`'s signature over `data`; false for any failure (unparsable
 * peer id, id without an inlined key, wrong length, mismatch). Never throws.
 */
export async function verifyByPeerId (peerId: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const key = keyOf(peerId)
  if (key.kind === 'none') return false
  try {
    if (key.kind === 'ed25519') {
      if (signature.byteLength !== ED25519_SIGNATURE_BYTES) return false
      return verify(null, data, key.key, signature)
    }
    return await key.verify(data, signature)
  } catch (err) {
    void err // malformed signatures make some key types throw instead of returning false
    return false
  }
}
