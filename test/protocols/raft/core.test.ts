// Interaction tests of the raft core: elections, pre-vote, check-quorum, replication and repair,
// commit rules (Figure 8), snapshots, membership, leadership transfer, reads, restart.
import assert from 'node:assert/strict'
import { createRng } from '../../../protocols/kit/rng.ts'
import { RaftCore } from '../../../protocols/raft/core.ts'
import { decodeMessage, encodeMessage, message } from '../../../protocols/raft/messages.ts'
import type { Entry } from '../../../protocols/raft/messages.ts'
import { describeReady } from '../../../protocols/raft/ready.ts'
import { cmd, TestNet } from './net.ts'

const ids3 = ['n1', 'n2', 'n3']
const ids5 = ['n1', 'n2', 'n3', 'n4', 'n5']

function leaderOf (net: TestNet): string {
  const l = net.leaders()
  assert.equal(l.length, 1, `exactly one leader, got ${l.join(',')}`)
  return l[0]!
}

describe('raft core: elections', () => {
  it('a campaign elects one leader, which commits a no-op of its term', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    assert.equal(leaderOf(net), 'n1')
    for (const id of ids3) {
      assert.equal(net.core(id).term, 1)
      assert.equal(net.core(id).leader, 'n1')
      assert.deepEqual(net.applied.get(id)!.map((e) => `${e.term}/${e.index} ${e.kind}`), ['1/1 noop'])
    }
  })

  it('randomized election timeouts elect a leader by ticking alone', () => {
    const net = new TestNet(ids5)
    net.tick(40)
    leaderOf(net)
  })

  it('a node with a stale log cannot win (election restriction)', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n3')
    net.core('n1').propose(cmd('a'))
    net.settle()
    net.heal()
    net.isolate('n1')
    net.elect('n3') // n3's log lacks 'a': n2 refuses
    assert.notEqual(net.core('n3').role, 'leader')
    net.elect('n2')
    assert.equal(net.core('n2').role, 'leader')
  })

  it('a follower persists its vote before answering and never votes twice in a term', () => {
    const net = new TestNet(ids3, { preVote: false })
    const n3 = net.core('n3')
    n3.step(message({ type: 'vote', from: 'n1', to: 'n3', term: 1 }))
    const r = n3.drain()
    assert.deepEqual(r.hardState, { term: 1, vote: 'n1', commit: 0 }, 'the vote is in the hard state of the same Ready')
    assert.equal(r.messages[0]!.reject, false)
    n3.advance(r)
    n3.step(message({ type: 'vote', from: 'n2', to: 'n3', term: 1 }))
    const r2 = n3.drain()
    assert.equal(r2.messages[0]!.reject, true)
    assert.deepEqual(describeReady(r2), ['send n3->n2 voteResp term=1 rejected hint=0/0'])
  })
})

describe('raft core: pre-vote and check-quorum', () => {
  it('a partitioned node does not inflate its term, and does not disrupt the leader when it returns', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n3')
    net.tick(100)
    assert.equal(net.core('n3').term, 1, 'pre-vote keeps the term while it cannot win')
    net.heal()
    net.tick(5)
    assert.equal(leaderOf(net), 'n1')
    assert.equal(net.core('n1').term, 1)
  })

  it('without pre-vote the same partition raises the term (the disruption pre-vote prevents)', () => {
    const net = new TestNet(ids3, { preVote: false, checkQuorum: false })
    net.elect('n1')
    net.isolate('n3')
    net.tick(100, ['n3'])
    assert.ok(net.core('n3').term > 1)
  })

  it('a leader that cannot reach a majority steps down within two election timeouts', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n1')
    net.tick(20, ['n1'])
    assert.equal(net.core('n1').role, 'follower')
  })

  it('forgetLeader drops the lease: the follower then grants a pre-vote and a vote at once (fast failover)', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n2').forgetLeader()
    assert.equal(net.core('n2').leader, '')
    net.isolate('n1')
    net.elect('n3') // n3 campaigns right away; n2 no longer ignores it
    assert.equal(net.core('n3').role, 'leader')
    assert.equal(net.core('n3').term, 2)
    assert.equal(net.core('n2').leader, 'n3')
  })

  it('without forgetLeader a follower in its lease ignores the campaign of a peer', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n1')
    net.elect('n3')
    assert.notEqual(net.core('n3').role, 'leader')
    assert.equal(net.core('n2').leader, 'n1')
  })

  it('followers of a live leader ignore a vote request (leader lease)', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    const n2 = net.core('n2')
    n2.step(message({ type: 'vote', from: 'n3', to: 'n2', term: 5, index: 99, logTerm: 1 }))
    net.settle()
    assert.equal(n2.term, 1)
    assert.equal(n2.leader, 'n1')
  })
})

describe('raft core: replication', () => {
  it('followers forward proposals to the leader; every node applies the same commands in order', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n2').propose(cmd('x'))
    net.core('n3').propose(cmd('y'))
    net.core('n1').propose(cmd('z'))
    net.settle()
    const order = net.appliedData('n1')
    assert.deepEqual([...order].sort(), ['x', 'y', 'z'])
    for (const id of ids3) assert.deepEqual(net.appliedData(id), order)
  })

  it('a proposal without a leader is dropped with an event', () => {
    const net = new TestNet(ids3)
    net.core('n2').propose(cmd('x'), { client: 'c', seq: 1 })
    net.settle()
    const ev = net.events.get('n2')!.find((e) => e.type === 'dropped')
    assert.ok(ev !== undefined && ev.type === 'dropped' && ev.client === 'c' && ev.reason === 'no leader')
  })

  it('repairs a divergent follower log with few round trips (fast backtracking)', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n1')
    for (let i = 0; i < 50; i++) net.core('n1').propose(cmd(`stale${i}`)) // uncommitted, term 1
    net.settle()
    net.tick(40, ['n2', 'n3'])
    const leader = net.leaders().find((id) => id !== 'n1')!
    for (let i = 0; i < 5; i++) net.core(leader).propose(cmd(`new${i}`))
    net.settle()
    net.heal()
    const before = net.sent.length
    net.tick(3)
    const rejects = net.sent.slice(before).filter((m) => m.type === 'appResp' && m.reject && m.from === 'n1')
    assert.ok(rejects.length <= 2, `${rejects.length} rejections to skip 50 entries`)
    for (const id of ids3) assert.deepEqual(net.appliedData(id), ['new0', 'new1', 'new2', 'new3', 'new4'])
    assert.equal(net.core('n1').log.lastIndex(), net.core(leader).log.lastIndex())
  })

  it('Figure 8: an entry of an earlier term is not committed by counting replicas, only with one of the current term', () => {
    const rng = createRng(7)
    const persisted = { hardState: { term: 2, vote: '', commit: 1 }, snapshot: null, entries: [entry(1, 1, 'noop'), entry(1, 2, 'normal')] }
    const core = new RaftCore({ id: 'n1', voters: ids5, rng, persisted })
    core.campaign()
    for (const from of ['n2', 'n3']) core.step(message({ type: 'preVoteResp', from, to: 'n1', term: 3 }))
    for (const from of ['n2', 'n3']) core.step(message({ type: 'voteResp', from, to: 'n1', term: 3 }))
    assert.equal(core.role, 'leader')
    assert.equal(core.term, 3)
    core.advance(core.drain()) // persists the term-3 no-op at index 3
    for (const from of ['n2', 'n3']) core.step(message({ type: 'appResp', from, to: 'n1', term: 3, index: 2 }))
    assert.equal(core.log.committed, 1, 'index 2 (term 1) is on a majority but must not commit by counting')
    core.step(message({ type: 'appResp', from: 'n2', to: 'n1', term: 3, index: 3 }))
    assert.equal(core.log.committed, 1)
    core.step(message({ type: 'appResp', from: 'n3', to: 'n1', term: 3, index: 3 }))
    assert.equal(core.log.committed, 3, 'committing the term-3 entry commits index 2 with it')
  })

  it('the leader counts itself only once its own entries are persisted', () => {
    const core = new RaftCore({ id: 'n1', voters: ['n1'], rng: createRng(1) })
    core.campaign()
    assert.equal(core.role, 'leader')
    const r = core.drain()
    assert.equal(r.committedEntries.length, 0, 'the no-op is not committed before it is persisted')
    core.advance(r)
    assert.equal(core.log.committed, 1)
  })

  it('a restarted node keeps its term, vote and log, and rejoins', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n1').propose(cmd('a'))
    net.settle()
    net.restart('n2')
    assert.equal(net.core('n2').term, 1)
    assert.equal(net.core('n2').vote, 'n1')
    assert.equal(net.core('n2').log.lastIndex(), 2)
    net.tick(2)
    assert.deepEqual(net.appliedData('n2'), ['a'])
  })
})

describe('raft core: batched proposals (group commit)', () => {
  it('the leader appends a batch and sends one append per follower; a follower forwards it in one prop', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    const before = net.sent.length
    net.core('n1').proposeBatch([{ data: cmd('a'), client: 'c1', seq: 1 }, { data: cmd('b'), client: 'c2', seq: 1 }, { data: cmd('c'), client: 'c3', seq: 1 }])
    net.process()
    const apps = net.sent.slice(before).filter((m) => m.type === 'app')
    assert.deepEqual(apps.map((m) => [m.to, m.entries.length]), [['n2', 3], ['n3', 3]])
    net.settle()
    net.core('n2').proposeBatch([{ data: cmd('d'), client: 'c4', seq: 1 }, { data: cmd('e'), client: 'c5', seq: 1 }])
    net.process()
    const props = net.sent.filter((m) => m.type === 'prop' && m.from === 'n2')
    assert.equal(props.length, 1)
    assert.equal(props[0]!.entries.length, 2)
    assert.deepEqual(decodeMessage(encodeMessage(props[0]!)).entries.map((e) => e.client), ['c4', 'c5'], 'a batched prop passes the codec')
    net.settle()
    for (const id of ids3) assert.deepEqual(net.appliedData(id), ['a', 'b', 'c', 'd', 'e'])
    assert.throws(() => net.core('n1').proposeBatch(Array.from({ length: 257 }, () => ({ data: cmd('x'), client: '', seq: 0 }))), /ENTRIES_MAX/)
  })
})

describe('raft core: snapshots', () => {
  it('a lagging follower receives the snapshot, installs it and catches up', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n3')
    for (let i = 0; i < 20; i++) net.core('n1').propose(cmd(`v${i}`))
    net.settle()
    const n1 = net.core('n1')
    const snapshot = n1.compact(n1.log.applied, cmd('state@21'))
    assert.equal(snapshot.index, 21)
    assert.deepEqual(snapshot.voters, ids3)
    assert.equal(n1.log.firstIndex(), 22)
    n1.propose(cmd('after'))
    net.heal()
    net.tick(3)
    const snaps = net.sent.filter((m) => m.type === 'snap' && m.to === 'n3')
    assert.equal(snaps.length, 1)
    const n3 = net.core('n3')
    assert.equal(n3.log.snapshotIndex, 21)
    assert.equal(net.storage.get('n3')!.snapshot!.index, 21)
    assert.deepEqual(net.appliedData('n3'), ['after'])
    assert.equal(n3.log.committed, n1.log.committed)
  })
})

describe('raft core: membership', () => {
  it('refuses a change until the leader committed an entry of its term (2015 fix), one at a time', () => {
    const net = new TestNet(['n1', 'n2', 'n3', 'n4'], { voters: ids3 })
    net.filter = (m) => m.type === 'appResp' // the new leader's no-op cannot commit
    net.elect('n2')
    const n2 = net.core('n2')
    assert.equal(n2.role, 'leader')
    n2.proposeConfChange({ op: 'add', node: 'n4' }, { client: 'admin', seq: 1 })
    net.settle()
    const refused = net.events.get('n2')!.find((e) => e.type === 'dropped' && e.what === 'conf')
    assert.ok(refused !== undefined && refused.type === 'dropped' && /not committed an entry of its term/.test(refused.reason) && refused.client === 'admin')
    net.filter = () => false
    net.tick(2)
    assert.equal(n2.log.committed, 1)
    n2.proposeConfChange({ op: 'add', node: 'n4' })
    n2.proposeConfChange({ op: 'remove', node: 'n3' })
    net.settle()
    assert.ok(net.events.get('n2')!.some((e) => e.type === 'dropped' && /still uncommitted/.test(e.reason)), 'a second change waits for the first')
    net.tick(3)
    for (const id of ['n1', 'n2', 'n3', 'n4']) assert.deepEqual(net.core(id).voters, ['n1', 'n2', 'n3', 'n4'], id)
    n2.propose(cmd('with4'))
    net.settle()
    assert.deepEqual(net.appliedData('n4'), ['with4'])
  })

  it('a leader that removes itself steps down and the rest elect a new leader', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n1').proposeConfChange({ op: 'remove', node: 'n1' })
    net.settle()
    assert.notEqual(net.core('n1').role, 'leader')
    assert.deepEqual(net.core('n2').voters, ['n2', 'n3'])
    net.tick(40, ['n2', 'n3'])
    assert.ok(['n2', 'n3'].includes(net.leaders()[0]!))
  })
})

describe('raft core: leadership transfer', () => {
  it('hands leadership to a caught-up voter without waiting for an election timeout', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n1').transferLeadership('n3')
    net.settle()
    assert.equal(leaderOf(net), 'n3')
    assert.equal(net.core('n3').term, 2)
    assert.ok(net.sent.some((m) => m.type === 'timeoutNow' && m.to === 'n3'))
  })

  it('catches a lagging target up first', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n3')
    net.core('n1').propose(cmd('a'))
    net.settle()
    net.heal()
    net.core('n1').transferLeadership('n3')
    net.settle()
    assert.equal(leaderOf(net), 'n3')
    assert.deepEqual(net.appliedData('n3'), ['a'])
  })
})

describe('raft core: read index', () => {
  it('the leader answers after a heartbeat quorum, at its commit index', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n1').propose(cmd('a'))
    net.settle()
    const before = net.sent.length
    net.core('n1').readIndex('r1')
    net.settle()
    assert.ok(net.sent.slice(before).some((m) => m.type === 'heartbeat' && m.context !== ''))
    assert.deepEqual(net.readStates.get('n1'), [{ context: 'r1', index: 2 }])
  })

  it('a follower read is forwarded to the leader', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n3').readIndex('r2')
    net.settle()
    assert.deepEqual(net.readStates.get('n3'), [{ context: 'r2', index: 1 }])
  })

  it('a partitioned leader cannot serve a read', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.isolate('n1')
    net.core('n1').readIndex('r3')
    net.tick(5, ['n1'])
    assert.deepEqual(net.readStates.get('n1'), [])
  })
})

function entry (term: number, index: number, kind: Entry['kind']): Entry {
  return { term, index, kind, data: new Uint8Array(0), client: '', seq: 0 }
}

describe('raft core: hostile input', () => {
  it('a malformed membership change is refused, not appended', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    const n1 = net.core('n1')
    const last = n1.log.lastIndex()
    n1.step(message({ type: 'prop', from: 'n2', to: 'n1', term: 0, entries: [{ term: 0, index: 0, kind: 'conf', data: new Uint8Array([1, 2, 3]), client: 'x', seq: 1 }] }))
    net.settle()
    assert.equal(n1.log.lastIndex(), last)
    assert.ok(net.events.get('n1')!.some((e) => e.type === 'dropped' && e.what === 'conf'))
  })
})

describe('raft core: read responses are checked', () => {
  function followerWithPendingRead (): { net: TestNet, before: number } {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.filter = (m) => m.type === 'readIndex' // the request leaves n3 and stays pending
    net.core('n3').readIndex('ctx')
    net.settle()
    net.filter = () => false
    return { net, before: net.core('n3').rejected.unexpectedReadResponse }
  }

  it('accepts an answer only from the current leader, in the current term, for a pending context', () => {
    const { net, before } = followerWithPendingRead()
    const n3 = net.core('n3')
    n3.step(message({ type: 'readIndexResp', from: 'n2', to: 'n3', term: 1, index: 0, context: 'ctx' })) // not the leader
    n3.step(message({ type: 'readIndexResp', from: 'n1', to: 'n3', term: 0, index: 0, context: 'ctx' })) // an older term
    n3.step(message({ type: 'readIndexResp', from: 'n1', to: 'n3', term: 1, index: 0, context: 'other' })) // never asked
    net.settle()
    assert.deepEqual(net.readStates.get('n3'), [])
    assert.equal(n3.rejected.unexpectedReadResponse, before + 3)
    n3.step(message({ type: 'readIndexResp', from: 'n1', to: 'n3', term: 1, index: 1, context: 'ctx' }))
    n3.step(message({ type: 'readIndexResp', from: 'n1', to: 'n3', term: 1, index: 1, context: 'ctx' })) // a duplicate
    net.settle()
    assert.deepEqual(net.readStates.get('n3'), [{ context: 'ctx', index: 1 }])
    assert.equal(n3.rejected.unexpectedReadResponse, before + 4)
  })

  it('an answer meant for an earlier incarnation does not complete a read of the restarted node', () => {
    const { net } = followerWithPendingRead()
    const stale = message({ type: 'readIndexResp', from: 'n1', to: 'n3', term: 1, index: 1, context: 'ctx' })
    net.restart('n3')
    net.core('n3').step(stale)
    net.settle()
    assert.deepEqual(net.readStates.get('n3'), [])
  })

  it('a forwarded read is dropped with an event when the leader changes', () => {
    const { net } = followerWithPendingRead()
    net.core('n1').transferLeadership('n2')
    net.settle()
    assert.equal(net.core('n3').leader, 'n2')
    assert.ok(net.events.get('n3')!.some((e) => e.type === 'dropped' && e.what === 'read' && e.context === 'ctx'))
    net.core('n3').step(message({ type: 'readIndexResp', from: 'n1', to: 'n3', term: 1, index: 1, context: 'ctx' }))
    net.settle()
    assert.deepEqual(net.readStates.get('n3'), [])
  })
})
