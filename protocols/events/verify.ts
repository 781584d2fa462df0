// Signature check of an event envelope against its author's peer id (Ed25519 keys are
// inlined in the peer id). CPU-bound, so the adapter does it once per event id.
//
// An Ed25519 author's key is parsed once and kept as a node:crypto KeyObject: libp2p's
// `publicKey.verify` rebuilds a KeyObject from a JWK on every call, which cost about a third of
// each check (sim fanout --profile: createPublicKey/getKeyObjectSlots beside verifyOneShot).
// Other key types go through libp2p's verify unchanged.

import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { signingBytes } from './messages.ts'
import type { Envelope } from './messages.ts'

/**
 * Authors whose Ed25519 key stays parsed, per process (a key is a pure function of the peer id,
 * so nodes sharing a process share the table): one per author a topic may hold (TOPIC_AUTHORS_MAX).
 * The oldest parsed is forgotten first; a forgotten author is parsed again on its next event.
 */
export const AUTHOR_KEYS_CACHED_MAX = 4096
/** Ed25519 signatures are 64 bytes; anything else is forged without asking OpenSSL. */
const ED25519_SIGNATURE_BYTES = 64
/** DER SubjectPublicKeyInfo header of an Ed25519 key; the 32 raw key bytes follow. */
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

type AuthorKey =
  | { kind: 'ed25519', key: KeyObject }
  | { kind: 'other', verify: (data: Uint8Array, sig: Uint8Array) => boolean | Promise<boolean> }
  | { kind: 'none' }

const keys = new Map<string, AuthorKey>()

function parseAuthor (author: string): AuthorKey {
  let publicKey
  try {
    publicKey = peerIdFromString(author).publicKey
  } catch (err) {
    void err // an unparsable author is a forged event, not an error of ours
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

function keyOf (author: string): AuthorKey {
  let key = keys.get(author)
  if (key !== undefined) return key
  key = parseAuthor(author)
  if (keys.size >= AUTHOR_KEYS_CACHED_MAX) keys.delete(keys.keys().next().value!)
  keys.set(author, key)
  return key
}

/** True when `e.signature` is the author's signature over the body; false for any failure. */
export async function verifyEnvelope (e: Envelope): Promise<boolean> {
  const key = keyOf(e.author)
  if (key.kind === 'none') return false
  try {
    if (key.kind === 'ed25519') {
      if (e.signature.byteLength !== ED25519_SIGNATURE_BYTES) return false
      return verify(null, signingBytes(e.bodyBytes), key.key, e.signature)
    }
    return await key.verify(signingBytes(e.bodyBytes), e.signature)
  } catch (err) {
    void err // malformed signatures make some key types throw instead of returning false
    return false
  }
}
