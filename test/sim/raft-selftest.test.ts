// The simulator's checkers can fail: deliberately broken behaviour is caught.
import assert from 'node:assert/strict'
import { runRaftSeed } from '../../sim/raft/run-seed.ts'

describe('sim raft checkers catch injected bugs', function () {
  this.timeout(120_000)
  it('a node that votes twice in a term breaks election safety (I1) and is caught', () => {
    const caught: string[] = []
    for (let seed = 1; seed <= 300 && caught.length === 0; seed++) {
      const r = runRaftSeed(seed, { unsafeVoteTwice: true, nodes: 3 })
      caught.push(...r.failures.filter((f) => f.startsWith('I1 ') || f.startsWith('I2 ') || f.startsWith('I3 ') || f.startsWith('I4 ')))
    }
    assert.ok(caught.length > 0, 'some seed exposes the double vote')
  })

  it('a leader that serves reads without confirming leadership (and no check-quorum) is caught by the linearizability check', () => {
    const caught: string[] = []
    for (let seed = 1; seed <= 100 && caught.length === 0; seed++) {
      caught.push(...runRaftSeed(seed, { unsafeReads: true }).failures.filter((f) => f.startsWith('linearizability: KV history')))
    }
    assert.ok(caught.length > 0, 'some seed exposes a stale read')
  })

  it('a driver that does not persist its vote lets a node vote twice across a restart, and is caught', () => {
    // a node votes, crashes, restarts with no vote and votes again in the same term
    let caughtAt = 0
    for (let seed = 1; seed <= 400 && caughtAt === 0; seed++) {
      if (runRaftSeed(seed, { unsafeForgetVote: true }).failures.some((f) => f.startsWith('I1 election safety'))) caughtAt = seed
    }
    assert.ok(caughtAt > 0, 'some seed exposes the forgotten vote')
    assert.deepEqual(runRaftSeed(caughtAt).failures, [], 'the same seed passes with a correct driver')
  })

  it('a leader that commits earlier-term entries by counting (no Figure 8 rule) is caught within the first 300 seeds', () => {
    // the Figure 8 fault script (sim/raft/figure8.ts) and one-entry appends make this reachable
    let caughtAt = 0
    for (let seed = 1; seed <= 300 && caughtAt === 0; seed++) {
      const r = runRaftSeed(seed, { unsafeCommitOldTerm: true })
      if (r.failures.some((f) => /^I[1-5] /.test(f))) caughtAt = seed
    }
    assert.ok(caughtAt > 0, 'some seed exposes the lost committed entry')
    assert.deepEqual(runRaftSeed(caughtAt).failures, [], 'the same seed passes with the rule in place')
  })

  it('state machines that ignore request ids apply a retried write twice, and the linearizability check catches it', () => {
    let caughtAt = 0
    for (let seed = 1; seed <= 150 && caughtAt === 0; seed++) {
      if (runRaftSeed(seed, { unsafeNoDedup: true }).failures.some((f) => f.startsWith('linearizability:'))) caughtAt = seed
    }
    assert.ok(caughtAt > 0, 'some seed exposes the double apply')
    assert.deepEqual(runRaftSeed(caughtAt).failures, [], 'the same seed passes with de-duplication')
  })

  it('a state machine that sees a mutated entry breaks state-machine safety (I4) and is caught', () => {
    const r = runRaftSeed(1, { corruptApply: true, nodes: 3 })
    assert.equal(r.ok, false)
    assert.ok(r.failures.some((f) => f.startsWith('I4 state-machine safety')), r.failures.join('; '))
  })

  it('members that hear a non-member are taken over by it, and I6 membership catches it', () => {
    // a non-member injects higher-term heartbeats, campaigns, forged appends and snapshots
    let caughtAt = 0
    for (let seed = 1; seed <= 50 && caughtAt === 0; seed++) {
      if (runRaftSeed(seed, { unsafeAcceptNonMembers: true, outsider: true }).failures.some((f) => f.startsWith('I6 membership'))) caughtAt = seed
    }
    assert.ok(caughtAt > 0, 'some seed exposes the takeover')
    assert.deepEqual(runRaftSeed(caughtAt, { outsider: true }).failures, [], 'the same seed passes with the membership check')
  })

  it('with the membership check, a non-member injecting into every seed breaks no invariant', () => {
    for (let seed = 1; seed <= 100; seed++) assert.deepEqual(runRaftSeed(seed, { outsider: true }).failures, [], `seed ${seed}`)
  })
})

