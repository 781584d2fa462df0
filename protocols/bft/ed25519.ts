// Ed25519 signing and verification keyed by libp2p peer ids (SPEC bft "Signed bytes"). Uses
// node:crypto's synchronous Ed25519; signatures are the same bytes libp2p's Ed25519 key makes.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { toHex } from '../kit/bytes.ts'
import type { Signer, Verifier } from './signing.ts'

const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
/** Peer ids whose public key we keep parsed: one per member of every group we verify for. */
export const PUBLIC_KEYS_CACHED_MAX = 1024
/** Verified (signer, bytes, signature) triples remembered by a caching verifier. */
export const VERIFIED_CACHED_MAX = 65_536

/** A signer from a 32-byte Ed25519 seed (the libp2p private key's seed); `id` is its peer id. */
export function ed25519SignerFromSeed (seed: Uint8Array): Signer {
  if (seed.byteLength !== 32) throw new RangeError(`Ed25519 seed must be 32 bytes, got ${seed.byteLength}`)
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const raw = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length))
  const id = peerIdFromPublicKey(publicKeyFromRaw(raw)).toString()
  return { id, sign: (bytes) => new Uint8Array(sign(null, bytes, key)) }
}

/**
 * A verifier that reads the public key out of each Ed25519 peer id. With `cache`, it remembers
 * triples it already checked (verification is deterministic, so this only saves CPU when the same
 * signed message reaches many members, as in the simulator).
 */
export function createEd25519Verifier (options: { cache?: boolean } = {}): Verifier & { verifications: () => number } {
  const keys = new Map<string, KeyObject | null>()
  const verified = new Map<string, boolean>()
  let verifications = 0
  const keyOf = (peerId: string): KeyObject | null => {
    let key = keys.get(peerId)
    if (key !== undefined) return key
    key = parseKey(peerId)
    if (keys.size >= PUBLIC_KEYS_CACHED_MAX) keys.delete(keys.keys().next().value!)
    keys.set(peerId, key)
    return key
  }
  const check = (signer: string, bytes: Uint8Array, signature: Uint8Array): boolean => {
    const key = keyOf(signer)
    if (key === null || signature.byteLength !== 64) return false
    verifications++
    return verify(null, bytes, key, signature)
  }
  return {
    verifications: () => verifications,
    verify (signer, bytes, signature) {
      if (options.cache !== true) return check(signer, bytes, signature)
      const id = `${signer}|${toHex(signature)}|${toHex(bytes)}`
      const known = verified.get(id)
      if (known !== undefined) return known
      const result = check(signer, bytes, signature)
      if (verified.size >= VERIFIED_CACHED_MAX) verified.delete(verified.keys().next().value!)
      verified.set(id, result)
      return result
    }
  }
}

function parseKey (peerId: string): KeyObject | null {
  let raw: Uint8Array | undefined
  try {
    const id = peerIdFromString(peerId)
    raw = id.type === 'Ed25519' ? id.publicKey.raw : undefined
  } catch (err) {
    // Not a parseable peer id: such a "member" can never have signed anything.
    if (!(err instanceof Error)) throw err
    return null
  }
  if (raw === undefined) return null
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
}
