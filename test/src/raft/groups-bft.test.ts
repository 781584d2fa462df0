// A raft group joined with BFT: `propose(value, {bft: true})` goes through Byzantine agreement
// on the same members and returns a certificate anyone can check (DESIGN "Public API").

import assert from 'node:assert/strict'
import type { AgentNode, RaftGroup } from '../../../src/index.ts'
import { BftNotConfiguredError } from '../../../src/index.ts'
import { connectAll, startCluster } from '../../protocols/bft/adapter-helpers.ts'

describe('groups: propose with {bft: true} on real nodes over TCP', function () {
  this.timeout(120_000)
  let nodes: AgentNode[]
  let cleanup: () => Promise<void>
  let groups: RaftGroup[]

  before(async () => {
    ({ nodes, cleanup } = await startCluster(4))
    await connectAll(nodes)
    const members = nodes.map(n => n.peerId)
    groups = await Promise.all(nodes.map(async n => await n.groups.join('treasury', { members, validate: (v) => ((v as { amount: number }).amount ?? 0) >= 0 })))
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await cleanup()
  })

  it('commits a flagged value with a certificate every member and the app can verify', async () => {
    const decision = await groups[2]!.propose({ transfer: 'a→b', amount: 25 }, { bft: true, timeoutMs: 30_000 }) as { value: unknown, height: number, certificate: { signers: string[] } }
    assert.deepEqual(decision.value, { transfer: 'a→b', amount: 25 })
    assert.ok(decision.height >= 1)
    assert.ok(decision.certificate.signers.length >= 3, 'a quorum (2f+1 = 3 of 4) signed')
    for (const g of groups) assert.equal(g.verify(decision), true)
    const tampered = structuredClone(decision)
    ;(tampered.value as { amount: number }).amount = 2500
    assert.equal(groups[0]!.verify(tampered), false, 'a tampered value fails verification')
  })

  it('crash-fault-tolerant proposals still go through raft on the same group', async () => {
    await groups[0]!.kv.put('k', 'v', { timeoutMs: 30_000 })
    assert.equal(await groups[3]!.kv.get('k', { timeoutMs: 30_000 }), 'v')
  })

  it('a group joined without BFT says so clearly', async () => {
    const plain = await nodes[0]!.groups.join('plain', { members: [nodes[0]!.peerId] })
    await assert.rejects(plain.propose('x', { bft: true }), (err: unknown) => err instanceof BftNotConfiguredError && /joined without BFT/.test(err.message))
  })
})
