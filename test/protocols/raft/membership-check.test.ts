// SPEC raft "Threat model": a core hears only members of its configuration (or a voter being
// added by a conf entry in its log); everything else is dropped and counted, never acted on.
import assert from 'node:assert/strict'
import { encodeConfChange, message } from '../../../protocols/raft/messages.ts'
import type { Message } from '../../../protocols/raft/messages.ts'
import { cmd, TestNet } from './net.ts'

const ids3 = ['n1', 'n2', 'n3']

function hostile (from: string, to: string, term: number): Message[] {
  const entry = { term, index: 2, kind: 'normal' as const, data: cmd('forged'), client: '', seq: 0 }
  return [
    message({ type: 'heartbeat', from, to, term, commit: 1 }),
    message({ type: 'preVote', from, to, term, index: 100, logTerm: term }),
    message({ type: 'vote', from, to, term, index: 100, logTerm: term, force: true }),
    message({ type: 'app', from, to, term, index: 1, logTerm: 1, entries: [entry], commit: 2 }),
    message({ type: 'snap', from, to, term, snapshot: { index: 50, term, voters: [from], data: new Uint8Array(0) } }),
    message({ type: 'timeoutNow', from, to, term: 1 }),
    message({ type: 'prop', from, to, term: 0, entries: [{ ...entry, term: 0, index: 0 }] }),
    message({ type: 'readIndexResp', from, to, term: 1, index: 1, context: 'x' })
  ]
}

describe('raft core: only members are heard', () => {
  it('a stranger with higher terms cannot replace state, voters or leader, nor win a vote', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    const before = ids3.map((id) => net.core(id).describe())
    for (const to of ids3) for (const m of hostile('x9', to, 7)) net.core(to).step(m)
    net.settle()
    assert.deepEqual(ids3.map((id) => net.core(id).describe()), before, 'no member changed term, vote, leader, log or voters')
    for (const to of ids3) assert.equal(net.core(to).rejected.notAMember, 8, `${to} counted every stranger message`)
    assert.equal(net.sent.filter((m) => m.to === 'x9').length, 0, 'nothing is answered to a stranger')
    net.core('n1').propose(cmd('ok'))
    net.settle()
    assert.deepEqual(net.appliedData('n3'), ['ok'])
  })

  it('drops a message not addressed to this node, or claiming to come from it', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    net.core('n2').step(message({ type: 'heartbeat', from: 'n1', to: 'n3', term: 9 }))
    net.core('n2').step(message({ type: 'heartbeat', from: 'n2', to: 'n2', term: 9 }))
    assert.equal(net.core('n2').term, 1)
    assert.equal(net.core('n2').rejected.misaddressed, 2)
  })

  it('a removed voter is no longer heard once its removal committed', () => {
    const net = new TestNet(['n1', 'n2', 'n3', 'n4'])
    net.elect('n1')
    net.core('n1').proposeConfChange({ op: 'remove', node: 'n4' })
    net.settle()
    assert.deepEqual(net.core('n2').voters, ['n1', 'n2', 'n3'])
    net.core('n2').step(message({ type: 'heartbeat', from: 'n4', to: 'n2', term: 5 }))
    assert.equal(net.core('n2').term, 1)
    assert.equal(net.core('n2').rejected.notAMember, 1)
  })

  it('a voter being added is heard while its conf entry is in the log but not yet committed here', () => {
    const net = new TestNet(ids3)
    net.elect('n1')
    const n2 = net.core('n2')
    const add = { term: 1, index: 2, kind: 'conf' as const, data: encodeConfChange({ op: 'add', node: 'n4' }), client: '', seq: 0 }
    n2.step(message({ type: 'heartbeat', from: 'n4', to: 'n2', term: 1 }))
    assert.equal(n2.rejected.notAMember, 1, 'before the entry: a stranger')
    n2.step(message({ type: 'app', from: 'n1', to: 'n2', term: 1, index: 1, logTerm: 1, entries: [add], commit: 1 }))
    net.settle()
    n2.step(message({ type: 'preVoteResp', from: 'n4', to: 'n2', term: 1 }))
    assert.equal(n2.rejected.notAMember, 1, 'with the entry in the log: heard')
  })

  it('with the check disabled (self-test injection) a stranger takes over a member', () => {
    const net = new TestNet(ids3, { unsafeAcceptNonMembers: true })
    net.elect('n1')
    net.core('n3').step(hostile('x9', 'n3', 7)[4]!)
    assert.deepEqual(net.core('n3').voters, ['x9'])
  })
})
