// The simulator's checkers can fail: deliberately broken behaviour is caught.
import assert from 'node:assert/strict'
import { runCatchUpScenario } from '../../sim/raft/catch-up.ts'
import { runRaftSeed } from '../../sim/raft/run-seed.ts'
import type { SeedOptions } from '../../sim/raft/run-seed.ts'

/** The first seed in [1, last] whose failures include one matching `caught`, or 0. */
async function firstCaught (options: SeedOptions, last: number, caught: (failure: string) => boolean): Promise<number> {
  for (let seed = 1; seed <= last; seed++) {
    if ((await runRaftSeed(seed, options)).failures.some(caught)) return seed
  }
  return 0
}

describe('sim raft checkers catch injected bugs', function () {
  this.timeout(300_000)
  it('a node that votes twice in a term breaks election safety (I1) and is caught', async () => {
    const seed = await firstCaught({ unsafeVoteTwice: true, nodes: 3 }, 300, (f) => /^I[1-4] /.test(f))
    assert.ok(seed > 0, 'some seed exposes the double vote')
  })

  it('a leader that serves reads without confirming leadership (and no check-quorum) is caught by the linearizability check', async () => {
    const seed = await firstCaught({ unsafeReads: true }, 300, (f) => f.startsWith('linearizability: KV history')) // first caught: seed 184
    assert.ok(seed > 0, 'some seed exposes a stale read')
  })

  it('a storage that does not persist the vote lets a node vote twice across a restart, and is caught', async () => {
    const seed = await firstCaught({ unsafeForgetVote: true }, 400, (f) => f.startsWith('I1 election safety'))
    assert.ok(seed > 0, 'some seed exposes the forgotten vote')
    assert.deepEqual((await runRaftSeed(seed)).failures, [], 'the same seed passes with a correct storage')
  })

  it('a driver that replies to votes and appends before its fsync is caught: a crash in between loses what a quorum counted on', async () => {
    // the driver's own bug (SPEC raft E1), not the core's: the seeded disk delays each fsync and a
    // crash loses whatever was not yet durable, so a vote or an acknowledged entry disappears
    const seed = await firstCaught({ unsafeReplyBeforeFsync: true }, 400, (f) => /^I[1-5] /.test(f) || f.startsWith('linearizability:'))
    assert.ok(seed > 0, 'some seed exposes the reply sent before the fsync')
    assert.deepEqual((await runRaftSeed(seed)).failures, [], 'the same seed passes when replies wait for the fsync')
  })

  it('a leader that commits earlier-term entries by counting (no Figure 8 rule) is caught within the first 300 seeds', async () => {
    // the Figure 8 fault script (sim/raft/figure8.ts) and one-entry appends make this reachable
    const seed = await firstCaught({ unsafeCommitOldTerm: true }, 300, (f) => /^I[1-5] /.test(f))
    assert.ok(seed > 0, 'some seed exposes the lost committed entry')
    assert.deepEqual((await runRaftSeed(seed)).failures, [], 'the same seed passes with the rule in place')
  })

  it('state machines that ignore request ids apply a retried write twice, and the linearizability check catches it', async () => {
    const seed = await firstCaught({ unsafeNoDedup: true }, 150, (f) => f.startsWith('linearizability:'))
    assert.ok(seed > 0, 'some seed exposes the double apply')
    assert.deepEqual((await runRaftSeed(seed)).failures, [], 'the same seed passes with de-duplication')
  })

  it('the catch-up check (L2) reports a member that never applies the leader\'s commit', async () => {
    const r = await runCatchUpScenario(1, { restart: false })
    assert.ok(r.failures.some((f) => f.startsWith('liveness: catch-up:')), r.failures.join('; '))
  })

  it('a state machine that sees a mutated entry breaks state-machine safety (I4) and is caught', async () => {
    const r = await runRaftSeed(1, { corruptApply: true, nodes: 3 })
    assert.equal(r.ok, false)
    assert.ok(r.failures.some((f) => f.startsWith('I4 state-machine safety')), r.failures.join('; '))
  })

  it('members that hear a non-member are taken over by it, and I6 membership catches it', async () => {
    // a non-member injects higher-term heartbeats, campaigns, forged appends and snapshots
    let caughtAt = 0
    for (let seed = 1; seed <= 50 && caughtAt === 0; seed++) {
      if ((await runRaftSeed(seed, { unsafeAcceptNonMembers: true, outsider: true })).failures.some((f) => f.startsWith('I6 membership'))) caughtAt = seed
    }
    assert.ok(caughtAt > 0, 'some seed exposes the takeover')
    assert.deepEqual((await runRaftSeed(caughtAt, { outsider: true })).failures, [], 'the same seed passes with the membership check')
  })

  it('with the membership check, a non-member injecting into every seed breaks no invariant', async () => {
    for (let seed = 1; seed <= 100; seed++) assert.deepEqual((await runRaftSeed(seed, { outsider: true })).failures, [], `seed ${seed}`)
  })
})

