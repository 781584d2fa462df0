// The node's Ed25519 identity, kept in its database so the peer id survives restarts.

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { SYNC_PUT } from './storage.ts'
import type { Storage } from './storage.ts'

const IDENTITY_KEY = 'private-key'

/** Load the node's private key, creating and durably storing one on first start. */
export async function loadOrCreateIdentity (storage: Storage): Promise<PrivateKey> {
  const db = storage.sublevel('identity')
  const stored = await db.get(IDENTITY_KEY)
  if (stored !== undefined) return privateKeyFromProtobuf(stored)
  const key = await generateKeyPair('Ed25519')
  await db.put(IDENTITY_KEY, privateKeyToProtobuf(key), SYNC_PUT)
  return key
}
