// Review tests of the core's safety edges (SPEC bft B3, T3, T8 catch-up): inputs that a driver
// might hand the core without the codec's checks, and certified decisions for invalid blocks.

import assert from 'node:assert/strict'
import type { BftEffect } from '../../../protocols/bft/effects.ts'
import type { Block, Decision, Proposal, Vote } from '../../../protocols/bft/messages.ts'
import { blockHash, proposalSignBytes, voteSignBytes } from '../../../protocols/bft/signing.ts'
import { Cluster } from './harness.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const validate = (item: Uint8Array): boolean => item[0] !== 0x21 // items starting with "!" are invalid

/** A decision for `block` certified by the precommits of members `signers` (indices) in `round`. */
function certify (cluster: Cluster, block: Block, round: number, signers: number[]): Decision {
  const hash = blockHash('test', block)
  const bytes = voteSignBytes({ groupId: 'test', height: block.height, round, type: 'precommit', blockHash: hash })
  return { groupId: 'test', block, certificate: { round, signers: signers.map(i => cluster.ids[i]!), signatures: signers.map(i => cluster.signers[i]!.sign(bytes)) } }
}

function prevote (cluster: Cluster, i: number, height: number, round: number, hash: Uint8Array | null): Vote {
  const unsigned = { groupId: 'test', height, round, type: 'prevote' as const, blockHash: hash }
  return { ...unsigned, voter: cluster.ids[i]!, signature: cluster.signers[i]!.sign(voteSignBytes(unsigned)) }
}

const commits = (effects: BftEffect[]): BftEffect[] => effects.filter(e => e.type === 'commit')

describe('bft core review', () => {
  it('does not commit a catch-up decision whose block fails validate, even with a quorum certificate', () => {
    // With more than f faulty members a certificate for an invalid block can exist; the honest
    // member must refuse it on the catch-up path exactly as T8 refuses it from live precommits.
    const cluster = new Cluster(4, { validate })
    const core = cluster.core(0)
    const bad = certify(cluster, { height: 1, prevHash: core.head.hash, items: [enc('!steal')] }, 0, [1, 2, 3])
    core.step(cluster.ids[1]!, { type: 'decision', groupId: 'test', decisions: [bad] })
    const effects = core.drain()
    assert.deepEqual(commits(effects), [])
    assert.ok(effects.some(e => e.type === 'reject' && /valid/.test(e.reason)), JSON.stringify(effects.map(e => e.type)))
    assert.equal(core.height, 1)
    // An empty block is not valid either (B3).
    core.step(cluster.ids[1]!, { type: 'decision', groupId: 'test', decisions: [certify(cluster, { height: 1, prevHash: core.head.hash, items: [] }, 0, [1, 2, 3])] })
    assert.deepEqual(commits(core.drain()), [])
    // Control: the same certificate over a valid block commits.
    const good = certify(cluster, { height: 1, prevHash: core.head.hash, items: [enc('ok')] }, 0, [1, 2, 3])
    core.step(cluster.ids[1]!, { type: 'decision', groupId: 'test', decisions: [good] })
    assert.equal(commits(core.drain()).length, 1)
    assert.equal(core.height, 2)
  })

  it('ignores a proposal whose polRound is not below its round, even without the codec', () => {
    // The codec refuses polRound ≥ round; the core must not depend on it (Tendermint line 28: vr < round).
    const cluster = new Cluster(4, { validate })
    const core = cluster.core(0)
    const proposer = 2 // proposer of (1, 1) is members[(1+1) % 4]
    assert.equal(core.proposerOf(1, 1), cluster.ids[proposer])
    const block: Block = { height: 1, prevHash: core.head.hash, items: [enc('v')] }
    const hash = blockHash('test', block)
    const unsigned = { groupId: 'test', height: 1, round: 1, polRound: 1, block, proposer: cluster.ids[proposer]! }
    const polPrevotes = [1, 2, 3].map(i => prevote(cluster, i, 1, 1, hash))
    const proposal: Proposal = { type: 'proposal', ...unsigned, signature: cluster.signers[proposer]!.sign(proposalSignBytes(unsigned)), polPrevotes }
    core.step(cluster.ids[proposer]!, proposal)
    const effects = core.drain()
    assert.ok(effects.some(e => e.type === 'reject' && /polRound/.test(e.reason)), effects.map(e => e.type).join(','))
    assert.ok(!effects.some(e => e.type === 'broadcast' && (e.message.type === 'prevote' || e.message.type === 'precommit') && e.message.blockHash !== null))
  })

  it('ignores a proposal whose block height differs from the proposal height', () => {
    const cluster = new Cluster(4, { validate })
    const core = cluster.core(0)
    const proposer = 1
    const block: Block = { height: 2, prevHash: core.head.hash, items: [enc('v')] }
    const unsigned = { groupId: 'test', height: 1, round: 0, polRound: -1, block, proposer: cluster.ids[proposer]! }
    const proposal: Proposal = { type: 'proposal', ...unsigned, signature: cluster.signers[proposer]!.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
    core.step(cluster.ids[proposer]!, proposal)
    const effects = core.drain()
    assert.ok(!effects.some(e => e.type === 'broadcast' && e.message.type === 'prevote' && e.message.blockHash !== null))
  })
})

describe('bft core locks and carried polkas (Tendermint lines 22-33)', () => {
  const X = (cluster: Cluster): Block => ({ height: 1, prevHash: cluster.core(0).head.hash, items: [enc('x')] })
  const Y = (cluster: Cluster): Block => ({ height: 1, prevHash: cluster.core(0).head.hash, items: [enc('y')] })
  const propose = (cluster: Cluster, i: number, round: number, block: Block, polRound: number, polPrevotes: Vote[]): Proposal => {
    const unsigned = { groupId: 'test', height: 1, round, polRound, block, proposer: cluster.ids[i]! }
    return { type: 'proposal', ...unsigned, signature: cluster.signers[i]!.sign(proposalSignBytes(unsigned)), polPrevotes }
  }
  const ownVotes = (cluster: Cluster, effects: BftEffect[], type: 'prevote' | 'precommit', round: number): Vote[] => effects
    .flatMap(e => e.type === 'broadcast' && e.message.type === type && e.message.voter === cluster.ids[0] && e.message.round === round ? [e.message] : [])

  /** Member 0 locks X in round 0 (polka of 0, 1, 2), then f+1 members pull it into round 2. */
  function lockedOnX (): { cluster: Cluster, core: ReturnType<Cluster['core']> } {
    const cluster = new Cluster(4, { validate })
    const core = cluster.core(0)
    const hx = blockHash('test', X(cluster))
    core.step(cluster.ids[1]!, propose(cluster, 1, 0, X(cluster), -1, []))
    for (const i of [1, 2]) core.step(cluster.ids[i]!, prevote(cluster, i, 1, 0, hx))
    const effects = core.drain()
    assert.equal(ownVotes(cluster, effects, 'precommit', 0)[0]?.blockHash?.length, 32, 'precommits X')
    assert.equal(core.persistedState.lockedRound, 0)
    for (const i of [1, 2]) core.step(cluster.ids[i]!, prevote(cluster, i, 1, 2, null))
    assert.equal(core.round, 2)
    core.drain()
    return { cluster, core }
  }

  it('a member locked on X prevotes nil on a fresh proposal for Y in a later round', () => {
    const { cluster, core } = lockedOnX()
    core.step(cluster.ids[3]!, propose(cluster, 3, 2, Y(cluster), -1, []))
    const votes = ownVotes(cluster, core.drain(), 'prevote', 2)
    assert.equal(votes.length, 1)
    assert.equal(votes[0]!.blockHash, null)
  })

  it('a member restarted from its persisted state keeps its lock across the restart', () => {
    const { cluster, core } = lockedOnX()
    const state = core.persistedState
    assert.equal(state.lockedRound, 0)
    const restarted = cluster.start(cluster.signers[0]!, { state, head: core.head })
    for (const i of [1, 2]) restarted.step(cluster.ids[i]!, prevote(cluster, i, 1, 2, null)) // pulled into round 2 again
    restarted.step(cluster.ids[3]!, propose(cluster, 3, 2, Y(cluster), -1, []))
    const effects = restarted.drain()
    assert.deepEqual(ownVotes(cluster, effects, 'prevote', 2).map(v => v.blockHash), [null])
    // and it re-sent its round-0 precommit byte for byte, never a new one
    const precommits = ownVotes(cluster, effects, 'precommit', 0)
    assert.ok(precommits.every(v => state.signedMessages.some(m => m.type === 'precommit' && Buffer.from(m.signature).equals(Buffer.from(v.signature)))))
  })

  it('a polka for Y in a round after the lock, carried by the proposal, unlocks it', () => {
    const { cluster, core } = lockedOnX()
    const hy = blockHash('test', Y(cluster))
    core.step(cluster.ids[3]!, propose(cluster, 3, 2, Y(cluster), 1, [1, 2, 3].map(i => prevote(cluster, i, 1, 1, hy))))
    const votes = ownVotes(cluster, core.drain(), 'prevote', 2)
    assert.deepEqual(votes.map(v => v.blockHash), [hy])
  })

  it('a carried polka made of one member repeated, or with a forged vote, does not unlock it', () => {
    const { cluster, core } = lockedOnX()
    const hy = blockHash('test', Y(cluster))
    const one = prevote(cluster, 3, 1, 1, hy)
    core.step(cluster.ids[3]!, propose(cluster, 3, 2, Y(cluster), 1, [one, one, one]))
    assert.deepEqual(ownVotes(cluster, core.drain(), 'prevote', 2), [], 'waits: 1 distinct voter is no polka')
    const forged = { ...prevote(cluster, 2, 1, 1, hy), signature: new Uint8Array(64) }
    core.step(cluster.ids[3]!, propose(cluster, 3, 2, Y(cluster), 1, [prevote(cluster, 1, 1, 1, hy), forged, one]))
    const effects = core.drain()
    assert.ok(effects.some(e => e.type === 'reject' && /signature/.test(e.reason)))
    assert.ok(!ownVotes(cluster, effects, 'prevote', 2).some(v => v.blockHash !== null), 'never prevotes Y')
    assert.equal(core.persistedState.lockedRound, 0)
  })
})
