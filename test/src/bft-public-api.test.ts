// The README's BFT section through the package's public API only: a typed validate hook, and a
// group's hash-chained log checked with verifyChain and the exported Ed25519 verifier.

import assert from 'node:assert/strict'
import type { AgentNode, RaftGroup } from '../../src/index.ts'
import { createEd25519Verifier, verifyChain } from '../../src/index.ts'
import { connectAll, startCluster } from '../protocols/bft/adapter-helpers.ts'

interface Transfer { transfer: string, amount: number }

describe('BFT through the public API (real nodes over TCP)', function () {
  this.timeout(120_000)
  let nodes: AgentNode[]
  let cleanup: () => Promise<void>
  let groups: RaftGroup[]
  let members: string[]

  before(async () => {
    ({ nodes, cleanup } = await startCluster(4))
    await connectAll(nodes)
    members = nodes.map(n => n.peerId)
    // `v` is a Transfer here: this line must type-check as the README writes it.
    groups = await Promise.all(nodes.map(async n => await n.groups.join<Transfer>('treasury', { members, validate: (v) => typeof v.amount === 'number' && v.amount >= 0 })))
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await cleanup()
  })

  it('a committed log verifies with verifyChain; a tampered one does not', async () => {
    await groups[1]!.propose({ transfer: 'a→b', amount: 25 }, { bft: true, timeoutMs: 30_000 })
    await groups[2]!.propose({ transfer: 'b→c', amount: 5 }, { bft: true, timeoutMs: 30_000 })
    const log = await nodes[1]!.bft.group('treasury')!.log()
    assert.ok(log.length >= 2)
    const verifier = createEd25519Verifier()
    assert.deepEqual(verifyChain(log, { groupId: 'treasury', members, verifier }), { ok: true })
    assert.equal(verifyChain(log, { groupId: 'other', members, verifier }).ok, false, 'another group name breaks the chain')
    const tampered = structuredClone(log)
    const item = tampered[0]!.block.items[0]!
    item[5] = item[5]! ^ 0xff
    assert.equal(verifyChain(tampered, { groupId: 'treasury', members, verifier }).ok, false, 'a changed item fails')
  })

  it('the typed validate hook refuses a value', async () => {
    await assert.rejects(groups[0]!.propose({ transfer: 'x', amount: -1 }, { bft: true, timeoutMs: 30_000 }), /validate hook/)
  })
})
