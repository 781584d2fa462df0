// Test fixtures for state records: real Ed25519 identities and signed records.

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { encodeValue, signRecord, encodeRecord } from '../../../protocols/state/messages.ts'
import type { SignedRecord, UnsignedRecord } from '../../../protocols/state/messages.ts'
import type { Payload } from '../../../protocols/direct/messages.ts'

/** A peer identity for tests. */
export interface Identity { key: PrivateKey, id: string }

/** A fresh Ed25519 identity. */
export async function identity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

/** A record signed by `signer` (defaults: author = signer, version 1, expires in an hour from `nowMs`). */
export async function makeRecord (signer: Identity, fields: Partial<Omit<UnsignedRecord, 'value'>> & { value?: Payload, nowMs: number }): Promise<SignedRecord> {
  const { nowMs, value, ...rest } = fields
  return await signRecord({
    key: 'shared/x',
    author: signer.id,
    version: 1,
    hlc: { wallMs: nowMs, logical: 0 },
    expiresAtMs: nowMs + 3_600_000,
    ...rest,
    value: encodeValue(value ?? { n: 1 })
  }, signer.key)
}

/** Encoded bytes of a record, as the DHT carries them. */
export function bytesOf (record: SignedRecord): Uint8Array { return encodeRecord(record) }
