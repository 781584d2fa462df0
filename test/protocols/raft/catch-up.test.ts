// Regression: a follower that was down while the leader kept pipelining to it is caught up once it
// returns (SPEC raft R4): the leader must not stay paused on a full inflight window forever.
import assert from 'node:assert/strict'
import { INFLIGHT_MAX } from '../../../protocols/raft/progress.ts'
import { cmd, TestNet } from './net.ts'

describe('raft core: catch-up after a follower was down', () => {
  for (const restart of [false, true]) {
    it(`a follower that missed more than INFLIGHT_MAX appends reaches the leader's commit (${restart ? 'restarted' : 'reconnected'})`, () => {
      const net = new TestNet(['n1', 'n2', 'n3'])
      net.elect('n1')
      const leader = net.core('n1')
      net.isolate('n3')
      for (let i = 0; i < INFLIGHT_MAX + 20; i++) { leader.propose(cmd(`c${i}`)); net.settle() }
      assert.equal(leader.log.committed, INFLIGHT_MAX + 21, 'n1 and n2 commit without n3')
      net.heal()
      if (restart) net.restart('n3')
      // bounded: one election timeout to notice n3 was away, then a few heartbeats of probing
      net.tick(3 * leader.electionTicks)
      assert.equal(net.core('n3').log.committed, leader.log.committed, `n3 caught up (leader ${leader.progressOf('n3')!.describe()})`)
      assert.deepEqual(net.appliedData('n3'), net.appliedData('n1'))
    })
  }

  it('a heartbeat response frees one inflight slot, so a full window resumes sending (etcd FreeFirstOne)', () => {
    const net = new TestNet(['n1', 'n2', 'n3'])
    net.elect('n1')
    const leader = net.core('n1')
    // drop n3's append responses only: its heartbeat responses still arrive
    net.filter = (m) => m.from === 'n3' && m.type === 'appResp'
    for (let i = 0; i < INFLIGHT_MAX; i++) { leader.propose(cmd(`c${i}`)); net.settle() }
    assert.equal(leader.progressOf('n3')!.isPaused(), true)
    net.filter = () => false
    net.tick(1)
    assert.equal(net.core('n3').log.committed, leader.log.committed)
  })
})
