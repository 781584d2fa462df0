// A stranger for hostile tests: a real libp2p host with its own fresh key and agentmesh's
// transports and services, that runs none of agentmesh's protocols and is a member of nothing.

import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { createMeshLibp2p } from '../src/libp2p.ts'
import type { MeshLibp2p, TransportKind } from '../src/libp2p.ts'
import type { PrivateKey } from '@libp2p/interface'

/** A running stranger host and the key it speaks for. */
export interface Stranger { libp2p: MeshLibp2p, privateKey: PrivateKey }

/** Start a stranger host listening on `listen` (default: an OS-assigned loopback TCP port). */
export async function startStranger (options: { transport?: TransportKind, listen?: string[] } = {}): Promise<Stranger> {
  const transport = options.transport ?? 'tcp'
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createMeshLibp2p({
    privateKey,
    datastore: new MemoryDatastore(),
    transport,
    listen: options.listen ?? (transport === 'tcp' ? ['/ip4/127.0.0.1/tcp/0'] : []),
    dhtValidators: {},
    dhtSelectors: {}
  })
  await libp2p.start()
  return { libp2p, privateKey }
}
