// The DHT record store's budget (SPEC state "Storage bound"): the pure accounting, and real nodes
// where one peer's records stop being stored once it has used its share of another node's disk.

import assert from 'node:assert/strict'
import { encodeRecord } from '../../../protocols/state/messages.ts'
import { RecordStoreBound } from '../../../protocols/state/store-bound.ts'
import { LimitExceededError } from '../../../protocols/kit/errors.ts'
import { createAgentNode, NoReplicasError } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { stopAll, tempDir, waitFor } from '../../helpers.ts'
import { identity, makeRecord } from './fixtures.ts'

const NOW = 1_700_000_000_000

describe('state: the DHT record store budget', function () {
  this.timeout(120_000)

  it('refuses an author past its record count and everyone past the byte budget; the node\'s own records always pass', async () => {
    const [self, mallory, alice] = await Promise.all([identity(), identity(), identity()])
    const bound = new RecordStoreBound({ self: self.id, perAuthorMax: 2, bytesMax: 1_000 })
    const bytes = async (who: typeof self, key: string, expiresAtMs = NOW + 60_000): Promise<Uint8Array> => encodeRecord(await makeRecord(who, { key, nowMs: NOW, expiresAtMs }))
    bound.admit('/dht/record/a', await bytes(mallory, 'shared/a'), 100)
    bound.admit('/dht/record/b', await bytes(mallory, 'shared/b', NOW + 10), 100)
    const c = await bytes(mallory, 'shared/c')
    assert.throws(() => { bound.admit('/dht/record/c', c, 100) }, (err: unknown) => err instanceof LimitExceededError && /STORED_RECORDS_PER_AUTHOR_MAX/.test(err.message))
    // Replacing one of its own keys is not a new record.
    bound.admit('/dht/record/a', await bytes(mallory, 'shared/a'), 150)
    // Bytes that do not decode count as a record of no author: only the byte budget holds them back.
    assert.throws(() => { bound.admit('/dht/record/d', new Uint8Array(0), 800) }, (err: unknown) => err instanceof LimitExceededError && /STORED_RECORD_BYTES_MAX/.test(err.message))
    bound.admit('/dht/record/e', await bytes(alice, 'shared/e'), 500)
    // The node's own records do not count against the budget and are never refused.
    for (let i = 0; i < 5; i++) bound.admit(`/dht/record/own${i}`, await bytes(self, `shared/own${i}`), 900)
    assert.deepEqual(bound.stats(), { records: 8, bytes: 750, refused: 2, swept: 0 })
    // Expiry frees the room.
    assert.deepEqual(bound.expired(NOW + 20), ['/dht/record/b'])
    bound.removed('/dht/record/b')
    bound.admit('/dht/record/c', c, 100)
    assert.equal(bound.stats().bytes, 750)
  })

  it('real nodes: a peer\'s puts past its share are refused by the node that would store them, which says so in its stats', async () => {
    const dir = await tempDir('agentmesh-store-bound-')
    let nodes: AgentNode[] = []
    try {
      const victim = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dataDir: dir.path, dhtStore: { perAuthorMax: 3 } })
      const writer = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [victim.addresses()[0]!] })
      nodes = [victim, writer]
      const tables = (...ns: AgentNode[]): boolean => ns.every((n) => (n.libp2p.services.dht as SingleKadDHT).routingTable.size >= 1)
      await waitFor(() => tables(victim, writer), 'both DHT routing tables to hold the other')
      // The victim is the writer's only peer: it is every record's one remote replica.
      for (let i = 0; i < 3; i++) assert.equal((await writer.state.put(`flood/${i}`, i)).replicas, 1)
      await assert.rejects(writer.state.put('flood/3', 3), NoReplicasError)
      assert.ok((victim.state.stats().stored?.refused ?? 0) >= 1, 'the victim counts the refusal')
      // The writer's stored records are still served, and the victim's own puts are unaffected.
      assert.equal((await victim.state.get('flood/1'))?.value, 1)
      await victim.state.put('mine', 'ok').catch((err: unknown) => { if (!(err instanceof NoReplicasError)) throw err })
      // A restart counts what the data dir holds: the budget is still spent.
      await victim.stop()
      const again = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dataDir: dir.path, dhtStore: { perAuthorMax: 3 } })
      nodes = [again, writer]
      assert.ok((again.state.stats().stored?.records ?? 0) >= 3, 'the stored records are counted at start')
      await writer.libp2p.dial(again.libp2p.getMultiaddrs()[0]!)
      await waitFor(() => tables(again), 'the restarted node\'s routing table to hold the writer')
      await assert.rejects(writer.state.put('flood/4', 4), NoReplicasError)
    } finally {
      await stopAll(nodes)
      await dir.remove()
    }
  })
})
