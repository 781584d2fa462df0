// Real-node tests of the bft adapter (node.bft) over loopback TCP: agreement with identical,
// verifiable hash-chained logs at n = 4 and 7, typed errors, a Byzantine member, restart, a kill.

import assert from 'node:assert/strict'
import type { AgentNode } from '../../../src/index.ts'
import { AbortedError, TimeoutError, NotAMemberError, GroupSizeError, ValidationRejectedError, bftProposeHandler } from '../../../src/index.ts'
import type { BftDecision, BftGroup } from '../../../src/index.ts'
import { signerOf } from '../../../protocols/bft/messages.ts'
import { joinWithSeams } from '../../../protocols/bft/adapter.ts'
import { byzantineRewrite } from '../../../sim/bft/byzantine-double.ts'
import { waitFor } from '../../helpers.ts'
import { connectAll, expectSameVerifiedLogs, killNode, startCluster, startNode } from './adapter-helpers.ts'

const LONG = { timeoutMs: 30_000 }

describe('bft adapter: 4 members over TCP', function () {
  this.timeout(120_000)
  let nodes: AgentNode[]
  let dirs: string[]
  let cleanup: () => Promise<void>
  let outsider: AgentNode
  let members: string[]
  let groups: BftGroup[]

  before(async () => {
    ({ nodes, dirs, cleanup } = await startCluster(4))
    outsider = await startNode()
    await connectAll([...nodes, outsider])
    members = nodes.map(n => n.peerId)
    groups = await Promise.all(nodes.map(async n => await n.bft.join('ledger', { members, validate: (v) => (v as { amount?: number }).amount === undefined || (v as { amount: number }).amount >= 0 })))
  })

  after(async () => {
    await Promise.all([...nodes, outsider].map(async n => { await n.stop() }))
    await cleanup()
  })

  it('commits a sequence of values from every member with identical, verifiable logs', async () => {
    const decisions: BftDecision[] = []
    for (let i = 0; i < 8; i++) decisions.push(await groups[i % 4]!.propose({ transfer: i, amount: 10 * i }, LONG))
    for (let i = 1; i < decisions.length; i++) assert.ok(decisions[i]!.height > decisions[i - 1]!.height, 'sequential proposals commit at increasing heights')
    // A burst is batched: far fewer heights than values.
    const before = groups[0]!.status().committedHeight
    const burst = await Promise.all(Array.from({ length: 200 }, async (_, i) => await groups[i % 4]!.propose({ burst: i }, LONG)))
    const heights = new Set(burst.map(d => d.height))
    assert.ok(heights.size < 100, `200 concurrent values took ${heights.size} heights`)
    const top = Math.max(...burst.map(d => d.height))
    assert.ok(top > before)
    const log = await expectSameVerifiedLogs(groups, top)
    for (const d of [...decisions, ...burst]) {
      assert.deepEqual(log[d.height - 1]!.block, d.block)
      assert.ok(d.certificate.signers.length >= 3)
      assert.ok(d.certificate.signers.every(s => members.includes(s)))
      for (const g of groups) assert.equal(g.verify(d), true)
      assert.equal(outsider.bft.verify(d, { group: 'ledger', members }), true, 'a non-member verifies with the member list')
    }
  })

  it('rejects a tampered decision', async () => {
    const d = await groups[1]!.propose({ transfer: 'x', amount: 5 }, LONG)
    assert.equal(outsider.bft.verify(structuredClone(d), { group: 'ledger', members }), true)
    assert.equal(outsider.bft.verify({ ...structuredClone(d), value: { transfer: 'x', amount: 500 } }, { group: 'ledger', members }), false, 'changed value')
    const item = structuredClone(d)
    item.block.items[d.index]![item.block.items[d.index]!.length - 1]! ^= 1
    assert.equal(outsider.bft.verify(item, { group: 'ledger', members }), false, 'changed item bytes')
    const sig = structuredClone(d)
    sig.certificate.signatures[0]![0]! ^= 1
    assert.equal(outsider.bft.verify(sig, { group: 'ledger', members }), false, 'changed signature')
    const few = structuredClone(d)
    few.certificate.signers = few.certificate.signers.slice(0, 2)
    few.certificate.signatures = few.certificate.signatures.slice(0, 2)
    assert.equal(outsider.bft.verify(few, { group: 'ledger', members }), false, 'below quorum')
    assert.equal(outsider.bft.verify({ ...d, block: { ...d.block, items: 'nope' } } as unknown as BftDecision, { group: 'ledger', members }), false, 'malformed block')
    assert.equal(outsider.bft.verify({ ...d, certificate: null } as unknown as BftDecision, { group: 'ledger', members }), false, 'no certificate')
    assert.equal(outsider.bft.verify(d, { group: 'ledger', members: [...members.filter(m => m !== d.certificate.signers[0]), outsider.peerId] }), false, 'a signer outside the member list')
    // A decision of another group with the same members verifies for that group only.
    const twins = await Promise.all(nodes.map(async n => await n.bft.join('ledger-twin', { members })))
    const twin = await twins[0]!.propose({ transfer: 'x', amount: 5 }, LONG)
    assert.equal(outsider.bft.verify(twin, { group: 'ledger-twin', members }), true)
    assert.equal(outsider.bft.verify(twin, { group: 'ledger', members }), false, 'same members, other group')
    assert.equal(outsider.bft.verify({ ...twin, groupId: 'ledger' }, { group: 'ledger', members }), false, 'relabelled: the certificate signs the group name')
    assert.equal(groups[0]!.verify(twin), false)
    assert.throws(() => outsider.bft.verify(d, members as unknown as { group: string, members: string[] }), TypeError, 'the old shape cannot name the group')
    await Promise.all(twins.map(async g => { await g.leave() }))
    const handler = bftProposeHandler(groups[2]!)
    const viaHandler = await handler.propose({ via: 'handler' }, {})
    assert.equal(handler.verify(viaHandler), true)
    assert.equal(handler.verify({ ...viaHandler, value: { via: 'forged' } }), false)
    assert.equal(handler.verify(null), false)
    assert.equal(handler.verify('not a decision'), false)
  })

  it('throws typed errors: not a member, too few members, validation, abort', async () => {
    await assert.rejects(outsider.bft.join('ledger', { members }), NotAMemberError)
    await assert.rejects(nodes[0]!.bft.join('small', { members: members.slice(0, 3) }), GroupSizeError)
    await assert.rejects(nodes[0]!.bft.join('bad', { members: [...members.slice(0, 3), 'not-a-peer-id'] }), GroupSizeError)
    await assert.rejects(groups[0]!.propose({ amount: -1 }), ValidationRejectedError)
    await assert.rejects(groups[0]!.propose({ amount: 1 }, { signal: AbortSignal.abort(new Error('caller gave up')) }), AbortedError)
  })

  it('agrees despite a Byzantine member (equivocating proposer, double voter) and keeps the evidence', async () => {
    const byzantine = nodes[3]!
    const byz = await Promise.all(nodes.map(async (n) => await joinWithSeams(n.bft, 'byz', { members, seams: n === byzantine ? { rewrite: byzantineRewrite('both') } : {} })))
    const honest = byz.slice(0, 3)
    let top = 0
    for (let i = 0; i < 8; i++) top = Math.max(top, (await honest[i % 3]!.propose({ step: i }, LONG)).height)
    await expectSameVerifiedLogs(honest, top)
    await waitFor(async () => (await Promise.all(honest.map(async g => await g.evidence()))).flat().length > 0, 'evidence against the Byzantine member', 20_000)
    const evidence = (await Promise.all(honest.map(async g => await g.evidence()))).flat()
    for (const e of evidence) {
      assert.equal(signerOf(e.first), byzantine.peerId, 'evidence only names the Byzantine member')
      assert.equal(signerOf(e.second), byzantine.peerId)
    }
    const types = new Set(evidence.map(e => e.first.type))
    assert.ok(types.has('prevote') || types.has('precommit'), `double votes detected (got ${[...types].join(',')})`)
    await Promise.all(byz.map(async g => { await g.leave() }))
  })

  it('restarts a member from its data dir: no double-sign, state restored, catches up', async () => {
    const index = 2
    const beforeHeight = groups[index]!.status().committedHeight
    await nodes[index]!.stop()
    const others = groups.filter((_, i) => i !== index)
    let top = 0
    for (let i = 0; i < 3; i++) top = Math.max(top, (await others[i]!.propose({ whileDown: i }, LONG)).height)
    nodes[index] = await startNode(dirs[index])
    assert.equal(nodes[index].peerId, members[index], 'same identity after restart')
    groups[index] = await nodes[index].bft.join('ledger', { members })
    const restoredHeight = groups[index].status().committedHeight
    assert.ok(restoredHeight >= beforeHeight && restoredHeight < top, `log head restored from disk (${beforeHeight} ≤ ${restoredHeight} < ${top})`)
    await connectAll(nodes)
    await expectSameVerifiedLogs(groups, top)
    top = Math.max(top, (await groups[index].propose({ afterRestart: true }, LONG)).height)
    await expectSameVerifiedLogs(groups, top)
    for (const g of groups) {
      for (const e of await g.evidence()) assert.notEqual(signerOf(e.first), members[index], 'the restarted member never signed twice')
    }
  })

  it('keeps committing with one member killed; with two killed, propose times out', async () => {
    await killNode(nodes[3]!)
    const alive = groups.slice(0, 3)
    let top = 0
    for (let i = 0; i < 6; i++) top = Math.max(top, (await alive[i % 3]!.propose({ afterKill: i }, LONG)).height)
    await expectSameVerifiedLogs(alive, top)
    await killNode(nodes[2]!)
    await assert.rejects(groups[0]!.propose({ noQuorum: true }, { timeoutMs: 1_500 }), TimeoutError)
  })
})

describe('bft adapter: 7 members over TCP', function () {
  this.timeout(120_000)

  it('commits sequential and concurrent values with identical, verifiable logs', async () => {
    const { nodes, cleanup } = await startCluster(7, false)
    try {
      const members = nodes.map(n => n.peerId)
      const groups = await Promise.all(nodes.map(async n => await n.bft.join('seven', { members })))
      let top = 0
      for (let i = 0; i < 7; i++) top = Math.max(top, (await groups[i]!.propose({ seq: i }, LONG)).height)
      const burst = await Promise.all(Array.from({ length: 70 }, async (_, i) => await groups[i % 7]!.propose({ burst: i }, LONG)))
      top = Math.max(top, ...burst.map(d => d.height))
      await expectSameVerifiedLogs(groups, top)
      for (const d of burst) assert.ok(d.certificate.signers.length >= 5 && groups[0]!.verify(d))
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
      await cleanup()
    }
  })
})
