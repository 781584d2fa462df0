// Interaction tests of the pure core with real Ed25519 signatures (SPEC bft T1–T11, B3–B5, E1):
// normal commit, silent proposer, equivocating proposer, invalid proposal, restart.

import assert from 'node:assert/strict'
import { verifyChain, verifyDecision } from '../../../protocols/bft/certificate.ts'
import { describeEffect, type BftEffect } from '../../../protocols/bft/effects.ts'
import { BATCH_ITEMS_MAX, type BftMessage, type Proposal } from '../../../protocols/bft/messages.ts'
import { blockHash, proposalSignBytes, signBytesOf } from '../../../protocols/bft/signing.ts'
import { Cluster, testVerifier } from './harness.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const validate = (item: Uint8Array): boolean => item[0] !== 0x21 // items starting with "!" are invalid

function allCommitted (cluster: Cluster, ids: string[], height: number): boolean {
  return ids.every(id => (cluster.decisions.get(id) ?? []).length >= height)
}

/** Every signed message a member broadcast was covered by a persist effect before it (SPEC bft E1). */
function assertPersistBeforeSend (cluster: Cluster, id: string): void {
  const persisted: Array<{ height: number, round: number, step: string }> = []
  for (const effect of cluster.effects.get(id)!) {
    if (effect.type === 'persist' && effect.state.signed !== null) persisted.push(effect.state.signed)
    if (effect.type === 'broadcast' && (effect.message.type === 'proposal' || effect.message.type === 'prevote' || effect.message.type === 'precommit')) {
      const m = effect.message
      const signer = m.type === 'proposal' ? m.proposer : m.voter
      if (signer !== id) continue
      const step = m.type
      assert.ok(persisted.some(s => s.height > m.height || (s.height === m.height && (s.round > m.round || (s.round === m.round && rank(s.step) >= rank(step))))), `sent ${step} h=${m.height} r=${m.round} before persisting it`)
    }
  }
}
const rank = (step: string): number => ['proposal', 'prevote', 'precommit'].indexOf(step)

describe('bft core', () => {
  it('follows the expected trace for a normal commit (proposer of height 1)', () => {
    const cluster = new Cluster(4)
    cluster.core(0).submit([enc('pay alice 10')])
    cluster.run(20, () => allCommitted(cluster, cluster.ids, 1))
    const trace = cluster.effects.get(cluster.ids[1]!)!.map(describeEffect)
    const proposer = cluster.ids[1]!.slice(-6)
    assert.deepEqual(trace.map(line => line.replace(/block=[0-9a-f]{8}/, 'block=<hash>')), [
      'persist signed=1/0/proposal locked=-1',
      `broadcast proposal h=1 r=0 pol=-1 items=1 from=…${proposer}`,
      'persist signed=1/0/prevote locked=-1',
      `broadcast prevote h=1 r=0 block=<hash> from=…${proposer}`,
      'persist signed=1/0/precommit locked=0',
      `broadcast precommit h=1 r=0 block=<hash> from=…${proposer}`,
      'commit h=1 r=0 block=<hash> items=1 signers=3',
      'persist signed=1/0/precommit locked=-1'
    ])
  })

  it('commits a submitted batch at all members with a verifiable certificate', () => {
    const cluster = new Cluster(4, { validate })
    cluster.core(0).submit([enc('a'), enc('b')])
    cluster.core(2).submit([enc('c')])
    cluster.run(50, () => allCommitted(cluster, cluster.ids, 1))
    const first = cluster.decisions.get(cluster.ids[0]!)![0]!
    assert.equal(first.block.height, 1)
    assert.equal(first.certificate.round, 0)
    assert.ok(first.block.items.length >= 2, 'the proposer batches pending items')
    for (const id of cluster.ids) {
      const d = cluster.decisions.get(id)![0]!
      assert.deepEqual(blockHash('test', d.block), blockHash('test', first.block))
      assert.deepEqual(verifyDecision(d, { members: cluster.ids, verifier: testVerifier, groupId: 'test' }), { ok: true })
      assertPersistBeforeSend(cluster, id)
    }
    cluster.run(80, () => cluster.ids.every(id => cluster.decisions.get(id)!.flatMap(d => d.block.items).length === 3))
    for (const id of cluster.ids) assert.deepEqual(verifyChain(cluster.decisions.get(id)!, { members: cluster.ids, verifier: testVerifier, groupId: 'test' }), { ok: true })
  })

  it('batches a burst of 600 items into a few blocks of at most BATCH_ITEMS_MAX', () => {
    const cluster = new Cluster(4, { validate })
    for (let i = 0; i < 600; i += 60) cluster.core(i % 4).submit(Array.from({ length: 60 }, (_, j) => enc(`cmd ${i + j}`)))
    cluster.run(200, () => cluster.ids.every(id => cluster.decisions.get(id)!.flatMap(d => d.block.items).length === 600))
    const decisions = cluster.decisions.get(cluster.ids[0]!)!
    assert.equal(decisions.flatMap(d => d.block.items).length, 600)
    assert.ok(decisions.length <= 4, `${decisions.length} blocks`)
    assert.ok(decisions.every(d => d.block.items.length <= BATCH_ITEMS_MAX))
    assert.deepEqual(verifyChain(decisions, { members: cluster.ids, verifier: testVerifier, groupId: 'test' }), { ok: true })
  })

  it('moves to the next round and proposer when the proposer is silent', () => {
    const cluster = new Cluster(4, { validate })
    const silent = cluster.core(1).proposerOf(1, 0)
    cluster.intercept = (from, _to, message) => from === silent ? [] : [message]
    cluster.core(0).submit([enc('x')])
    cluster.run(100, () => allCommitted(cluster, cluster.ids.filter(id => id !== silent), 1))
    const d = cluster.decisions.get(cluster.ids[0]!)![0]!
    assert.ok(d.certificate.round >= 1, `decided in round ${d.certificate.round}`)
    assert.ok(!d.certificate.signers.includes(silent))
    assert.deepEqual(d.block.items, [enc('x')])
  })

  it('detects an equivocating proposer, keeps the evidence, and still agrees', () => {
    const cluster = new Cluster(4, { validate })
    const liar = cluster.ids[1]!
    const liarSigner = cluster.signers.find(s => s.id === liar)!
    let forged = 0
    cluster.intercept = (from, to, message) => {
      if (from !== liar || message.type !== 'proposal' || to !== cluster.ids[3]) return [message]
      const unsigned = { ...message, block: { ...message.block, items: [enc('double-spend')] } }
      forged++
      return [{ ...unsigned, signature: liarSigner.sign(proposalSignBytes(unsigned)) }]
    }
    cluster.core(1).submit([enc('pay 10')])
    cluster.run(100, () => allCommitted(cluster, cluster.ids, 1))
    assert.ok(forged > 0)
    const hashes = new Set(cluster.ids.map(id => Buffer.from(blockHash('test', cluster.decisions.get(id)![0]!.block)).toString('hex')))
    assert.equal(hashes.size, 1, 'all members decide the same block')
    // Member 3 relays the conflicting proposal it got as evidence once it sees the other one.
    const evidence = cluster.ids.flatMap(id => cluster.core(cluster.ids.indexOf(id)).evidence)
    assert.ok(evidence.length > 0, 'evidence kept')
    for (const e of evidence) {
      assert.equal(e.first.type, 'proposal')
      assert.equal((e.first as Proposal).proposer, liar)
      assert.ok(testVerifier.verify(liar, signBytesOf(e.first), e.first.signature) && testVerifier.verify(liar, signBytesOf(e.second), e.second.signature))
    }
    const emitted = [...cluster.effects.values()].flat().filter((e): e is Extract<BftEffect, { type: 'evidence' }> => e.type === 'evidence')
    assert.ok(emitted.length > 0, 'evidence emitted as an effect')
  })

  it('never prevotes for or commits a proposal that fails validate', () => {
    const cluster = new Cluster(4, { validate })
    const liar = cluster.ids[1]!
    const liarSigner = cluster.signers.find(s => s.id === liar)!
    cluster.intercept = (from, _to, message) => {
      if (from !== liar || message.type !== 'proposal' || message.round !== 0) return [message]
      const unsigned = { ...message, block: { ...message.block, items: [enc('!steal everything')] } }
      return [{ ...unsigned, signature: liarSigner.sign(proposalSignBytes(unsigned)) }]
    }
    cluster.core(1).submit([enc('ok')])
    cluster.run(100, () => allCommitted(cluster, cluster.ids, 1))
    for (const id of cluster.ids.filter(i => i !== liar)) {
      const votes = cluster.effects.get(id)!.filter(e => e.type === 'broadcast' && e.message.type === 'prevote' && e.message.round === 0).map(e => (e as { message: BftMessage }).message)
      assert.ok(votes.length > 0 && votes.every(v => v.type === 'prevote' && v.blockHash === null), 'honest members prevote nil in round 0')
      const d = cluster.decisions.get(id)![0]!
      assert.ok(d.certificate.round >= 1)
      assert.deepEqual(d.block.items, [enc('ok')])
    }
  })

  it('a restarted member resumes from persisted state and never signs twice', () => {
    const cluster = new Cluster(4, { validate })
    const victim = cluster.ids[2]!
    const proposer = cluster.ids[1]!
    const proposerSigner = cluster.signers.find(s => s.id === proposer)!
    // Let the proposal and the victim's prevote happen, then cut the network before precommits.
    cluster.core(1).submit([enc('v1')])
    cluster.intercept = (_from, _to, message) => message.type === 'precommit' ? [] : [message]
    cluster.run(1)
    const persists = cluster.effects.get(victim)!.filter((e): e is Extract<BftEffect, { type: 'persist' }> => e.type === 'persist')
    const state = persists.at(-1)!.state
    assert.equal(state.signed?.height, 1)
    assert.equal(state.signed?.round, 0)
    const signedBefore = new Set(state.signedMessages.map(m => Buffer.from(m.signature).toString('hex')))
    const original = state.signedMessages.find(m => m.type === 'prevote')!

    // The proposer (now Byzantine) offers the restarted victim a conflicting round-0 proposal.
    const head = cluster.core(0).head
    const restarted = cluster.start(cluster.signers.find(s => s.id === victim)!, { state, head })
    assert.equal(restarted.round, 0)
    assert.equal(restarted.currentStep, state.signed?.step)
    const unsigned = { groupId: 'test', height: 1, round: 0, polRound: -1, block: { height: 1, prevHash: head.hash, items: [enc('v2')] }, proposer }
    const conflicting: Proposal = { type: 'proposal', ...unsigned, signature: proposerSigner.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
    restarted.step(proposer, conflicting)
    for (let t = 0; t < 10; t++) restarted.tick()
    const newlySigned = restarted.drain().filter(e => e.type === 'broadcast' && (e.message.type === 'prevote' || e.message.type === 'precommit') && e.message.voter === victim && e.message.round === 0)
      .map(e => (e as { message: BftMessage & { signature: Uint8Array } }).message)
    assert.ok(newlySigned.length > 0, 'it re-sends what it signed before')
    for (const m of newlySigned) assert.ok(signedBefore.has(Buffer.from(m.signature).toString('hex')), `re-signed ${m.type} in round 0 after restart`)
    assert.ok(original.type === 'prevote' && original.blockHash !== null)

    // Control: a member that lost its state (no restore) does sign a conflicting prevote.
    const amnesiac = cluster.start(cluster.signers.find(s => s.id === victim)!)
    amnesiac.step(proposer, conflicting)
    const prevote = amnesiac.drain().find(e => e.type === 'broadcast' && e.message.type === 'prevote')
    assert.ok(prevote !== undefined && prevote.type === 'broadcast' && prevote.message.type === 'prevote' && prevote.message.blockHash !== null)
  })

  it('rejects messages from non-members, bad signatures and wrong proposers', () => {
    const cluster = new Cluster(4, { validate })
    const core = cluster.core(0)
    const proposer = cluster.ids[1]!
    const signer = cluster.signers.find(s => s.id === proposer)!
    const unsigned = { groupId: 'test', height: 1, round: 0, polRound: -1, block: { height: 1, prevHash: core.head.hash, items: [enc('z')] }, proposer }
    const good: Proposal = { type: 'proposal', ...unsigned, signature: signer.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
    core.step('12D3KooWnotamember', good)
    core.step(proposer, { ...good, signature: new Uint8Array(64) })
    core.step(proposer, { ...good, proposer: cluster.ids[2]! })
    core.step(proposer, { ...good, groupId: 'other' })
    const reasons = core.drain().filter(e => e.type === 'reject').map(e => (e as { reason: string }).reason)
    assert.deepEqual(reasons.map(r => r.split(' ')[0]), ['sender', 'bad', 'proposal', 'message'])
    core.step(proposer, good)
    assert.ok(core.drain().some(e => e.type === 'broadcast' && e.message.type === 'prevote' && e.message.blockHash !== null))
  })
})
