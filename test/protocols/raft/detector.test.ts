// The heartbeat-loss detector of the raft core (SPEC raft R6a): a follower that has not heard from
// its leader for suspectTicks stops honouring its lease and campaigns a tick (plus its rank) later,
// long before the election timeout; a live leader with a healthy majority is never disrupted; and
// a leader that comes back from a pause serves nothing stale and steps down on the newer term.
import assert from 'node:assert/strict'
import { message } from '../../../protocols/raft/messages.ts'
import { cmd, TestNet } from './net.ts'

const ids3 = ['n1', 'n2', 'n3']
const ids5 = ['n1', 'n2', 'n3', 'n4', 'n5']
const E = 10
const S = 3

/** A cluster where n1 leads term 1 and every member applied its no-op. */
function ledByN1 (ids: string[], suspectTicks = S): TestNet {
  const net = new TestNet(ids, { electionTicks: E, suspectTicks })
  net.elect('n1')
  assert.equal(net.core('n1').role, 'leader')
  return net
}

/** n1 stops: it neither ticks nor hears nor is heard (SIGSTOP, a hung host). */
function pause (net: TestNet, id: string): void { net.isolate(id) }

describe('raft core: heartbeat-loss detector (R6a)', () => {
  it('survivors elect a new leader after suspectTicks + 1 silent ticks, well before the election timeout', () => {
    const net = ledByN1(ids3)
    pause(net, 'n1')
    net.tick(S, ['n2', 'n3'])
    assert.equal(net.core('n2').leader, 'n1', 'within suspectTicks the followers still follow n1')
    net.tick(1, ['n2', 'n3'])
    assert.equal(net.core('n2').role, 'leader', 'rank 0 among the survivors campaigns at suspectTicks + 1 and wins')
    assert.equal(net.core('n2').term, 2)
    assert.equal(net.core('n3').leader, 'n2')
  })

  it('with the detector off the same pause waits for the election timeout', () => {
    const net = ledByN1(ids3, 0)
    pause(net, 'n1')
    net.tick(S + 1, ['n2', 'n3'])
    assert.equal(net.leaders().filter((id) => id !== 'n1').length, 0)
    assert.equal(net.core('n2').leader, 'n1')
  })

  it('survivors campaign one tick apart by rank: five members elect exactly one leader in the next term', () => {
    const net = ledByN1(ids5)
    pause(net, 'n1')
    net.tick(S + 1, ['n2', 'n3', 'n4', 'n5'])
    assert.deepEqual(net.leaders().filter((id) => id !== 'n1'), ['n2'])
    for (const id of ['n2', 'n3', 'n4', 'n5']) assert.equal(net.core(id).term, 2, `${id} is in term 2: no split vote raised it further`)
  })

  it('if rank 0 is gone too, rank 1 campaigns one tick later', () => {
    const net = ledByN1(ids5)
    pause(net, 'n1')
    pause(net, 'n2')
    net.tick(S + 1, ['n3', 'n4', 'n5'])
    assert.equal(net.core('n3').role, 'follower')
    net.tick(1, ['n3', 'n4', 'n5'])
    assert.equal(net.core('n3').role, 'leader')
  })

  it('a live leader with a healthy majority is never disrupted by a follower that lost its heartbeats', () => {
    const net = ledByN1(ids3)
    net.filter = (m) => m.from === 'n1' && m.to === 'n3' // n3 hears nothing from n1; n2 does
    net.tick(10 * E)
    assert.equal(net.core('n1').role, 'leader')
    assert.equal(net.core('n1').term, 1)
    assert.equal(net.core('n2').term, 1, 'n2 heard n1 within suspectTicks: it ignored every pre-vote of n3')
    assert.equal(net.core('n3').term, 1, 'pre-votes never raise the term')
  })

  it('a voter that heard from its leader within suspectTicks ignores a (pre-)vote; after suspectTicks it grants it', () => {
    const net = ledByN1(ids3)
    pause(net, 'n1')
    const n2 = net.core('n2')
    net.tick(S - 1, ['n2'])
    n2.step(message({ type: 'preVote', from: 'n3', to: 'n2', term: 2, index: 99, logTerm: 1 }))
    assert.equal(n2.hasReady(), false, 'inside the lease: no answer')
    net.tick(1, ['n2'])
    n2.step(message({ type: 'preVote', from: 'n3', to: 'n2', term: 2, index: 99, logTerm: 1 }))
    const r = n2.drain()
    assert.equal(r.messages.length, 1)
    assert.equal(r.messages[0]!.type, 'preVoteResp')
    assert.equal(r.messages[0]!.reject, false)
    assert.equal(n2.term, 1, 'a pre-vote does not change the term')
    n2.advance(r)
  })

  it('a leader keeps ignoring campaigns for its whole check-quorum round (the detector shortens followers\' leases only)', () => {
    const net = ledByN1(ids3)
    net.tick(S + 1, ['n1'])
    net.core('n1').step(message({ type: 'vote', from: 'n3', to: 'n1', term: 7, index: 99, logTerm: 1 }))
    assert.equal(net.core('n1').role, 'leader')
    assert.equal(net.core('n1').term, 1)
  })

  it('a leader that comes back from a pause serves no read, commits nothing, and steps down on the newer term', () => {
    const net = ledByN1(ids3)
    net.core('n1').propose(cmd('before'))
    net.settle()
    pause(net, 'n1')
    net.tick(S + 1, ['n2', 'n3'])
    assert.equal(net.core('n2').role, 'leader')
    net.core('n3').propose(cmd('under n2'))
    net.settle()
    assert.deepEqual(net.appliedData('n3'), ['before', 'under n2'])
    // n1 resumes: it still believes it leads term 1 and has not yet heard of term 2
    const n1 = net.core('n1')
    assert.equal(n1.role, 'leader')
    n1.readIndex('stale-read')
    n1.propose(cmd('stale write'))
    net.settle()
    assert.equal(net.readStates.get('n1')!.length, 0, 'still cut off: no heartbeat quorum, so no read')
    net.heal()
    net.tick(1, ['n1']) // its first heartbeat is answered with term 2
    assert.equal(n1.role, 'follower')
    assert.equal(n1.term, 2)
    assert.equal(net.readStates.get('n1')!.length, 0, 'the read was never answered')
    assert.ok(net.events.get('n1')!.some((e) => e.type === 'dropped' && e.what === 'read' && e.context === 'stale-read'), 'the read was dropped with an event')
    net.tick(2)
    for (const id of ids3) assert.deepEqual(net.appliedData(id), ['before', 'under n2'], `${id}: the stale write never applied`)
    assert.equal(net.core('n2').role, 'leader')
  })

  it('refuses a threshold outside (heartbeatTicks, electionTicks)', () => {
    assert.throws(() => new TestNet(ids3, { electionTicks: E, suspectTicks: E }))
    assert.throws(() => new TestNet(ids3, { electionTicks: E, heartbeatTicks: 2, suspectTicks: 2 }))
  })
})
