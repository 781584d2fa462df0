// The core refuses blocks that repeat a committed item (SPEC bft B3), and drops everything a
// non-member sends without answering it (SPEC bft "Threat model").

import assert from 'node:assert/strict'
import type { BftEffect } from '../../../protocols/bft/effects.ts'
import type { Block, BftMessage, Proposal, Vote } from '../../../protocols/bft/messages.ts'
import { blockHash, proposalSignBytes, voteSignBytes } from '../../../protocols/bft/signing.ts'
import { Cluster, testSigner } from './harness.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

function propose (cluster: Cluster, proposer: number, block: Block, round = 0): Proposal {
  const unsigned = { groupId: 'test', height: block.height, round, polRound: -1, block, proposer: cluster.ids[proposer]! }
  return { type: 'proposal', ...unsigned, signature: cluster.signers[proposer]!.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
}

function ownPrevotes (cluster: Cluster, i: number, effects: BftEffect[], height: number): Vote[] {
  return effects.flatMap(e => e.type === 'broadcast' && e.message.type === 'prevote' && e.message.voter === cluster.ids[i] && e.message.height === height ? [e.message] : [])
}

/** A 4-member cluster that committed `a` at height 1; member 0 is the honest core under test, member 2 proposes height 2. */
function committedA (): { cluster: Cluster, a: Uint8Array } {
  const cluster = new Cluster(4)
  const a = enc('pay 10 to bob')
  cluster.core(1).submit([a])
  cluster.run(60, () => cluster.ids.every(id => (cluster.decisions.get(id)?.length ?? 0) >= 1))
  for (const id of cluster.ids) assert.equal(cluster.decisions.get(id)!.length, 1)
  assert.equal(cluster.core(0).proposerOf(2, 0), cluster.ids[2])
  return { cluster, a }
}

describe('bft core: committed items and non-members', () => {
  it('prevotes nil on a block that repeats an item committed at an earlier height', () => {
    const { cluster, a } = committedA()
    const core = cluster.core(0)
    core.step(cluster.ids[2]!, propose(cluster, 2, { height: 2, prevHash: core.head.hash, items: [enc('new'), a] }))
    assert.deepEqual(ownPrevotes(cluster, 0, core.drain(), 2).map(v => v.blockHash), [null])
  })

  it('prevotes nil on a block holding one item twice, and prevotes a block of new items', () => {
    const { cluster } = committedA()
    const core = cluster.core(0)
    const twice: Block = { height: 2, prevHash: core.head.hash, items: [enc('x'), enc('x')] }
    core.step(cluster.ids[2]!, propose(cluster, 2, twice))
    assert.deepEqual(ownPrevotes(cluster, 0, core.drain(), 2).map(v => v.blockHash), [null])
    // Control, next round: a block of new items gets our prevote.
    const other = new Cluster(4)
    other.core(1).submit([enc('first')])
    other.run(60, () => other.ids.every(id => (other.decisions.get(id)?.length ?? 0) >= 1))
    const fresh: Block = { height: 2, prevHash: other.core(0).head.hash, items: [enc('y')] }
    other.core(0).step(other.ids[2]!, propose(other, 2, fresh))
    assert.deepEqual(ownPrevotes(other, 0, other.core(0).drain(), 2).map(v => v.blockHash), [blockHash('test', fresh)])
  })

  it('still refuses the repeated item after a restart (the memory comes back from the recent decisions)', () => {
    const { cluster, a } = committedA()
    const before = cluster.core(0)
    const restarted = cluster.start(cluster.signers[0]!, { state: before.persistedState, head: before.head, recentDecisions: cluster.decisions.get(cluster.ids[0]!)! })
    restarted.step(cluster.ids[2]!, propose(cluster, 2, { height: 2, prevHash: restarted.head.hash, items: [a] }))
    assert.deepEqual(ownPrevotes(cluster, 0, restarted.drain(), 2).map(v => v.blockHash), [null])
  })

  it('does not commit a certified catch-up decision that repeats a committed item', () => {
    const { cluster, a } = committedA()
    const core = cluster.core(0)
    const block: Block = { height: 2, prevHash: core.head.hash, items: [a] }
    const bytes = voteSignBytes({ groupId: 'test', height: 2, round: 0, type: 'precommit', blockHash: blockHash('test', block) })
    const decision = { groupId: 'test', block, certificate: { round: 0, signers: [1, 2, 3].map(i => cluster.ids[i]!), signatures: [1, 2, 3].map(i => cluster.signers[i]!.sign(bytes)) } }
    core.step(cluster.ids[1]!, { type: 'decision', groupId: 'test', decisions: [decision] })
    const effects = core.drain()
    assert.equal(effects.filter(e => e.type === 'commit').length, 0)
    assert.equal(core.height, 2)
  })

  it('drops and counts every message from a non-member, answers nothing and queues nothing', () => {
    const { cluster } = committedA()
    const core = cluster.core(0)
    const outsider = testSigner(99)
    assert.ok(!cluster.ids.includes(outsider.id))
    const unsignedVote = { groupId: 'test', height: 2, round: 0, type: 'prevote' as const, blockHash: null }
    const messages: BftMessage[] = [
      { type: 'status', groupId: 'test', height: 1 }, // would be answered with decisions if it came from a member
      { type: 'status', groupId: 'another-group', height: 1 },
      { type: 'submit', groupId: 'test', items: [enc('from outside')] },
      { ...unsignedVote, voter: outsider.id, signature: outsider.sign(voteSignBytes(unsignedVote)) },
      propose(cluster, 2, { height: 2, prevHash: core.head.hash, items: [enc('relayed')] }) // a member's real proposal, relayed
    ]
    const pendingBefore = core.pendingCount
    for (const message of messages) core.step(outsider.id, message)
    const effects = core.drain()
    assert.equal(effects.length, messages.length, effects.map(e => e.type).join(','))
    assert.ok(effects.every(e => e.type === 'reject' && e.from === outsider.id && e.reason === 'sender is not a member'), 'the same reason for a known and an unknown group')
    assert.equal(core.pendingCount, pendingBefore)
    // Control: the same status from a member is answered.
    core.step(cluster.ids[3]!, { type: 'status', groupId: 'test', height: 1 })
    assert.ok(core.drain().some(e => e.type === 'send' && e.to === cluster.ids[3] && e.message.type === 'decision'))
  })
})
