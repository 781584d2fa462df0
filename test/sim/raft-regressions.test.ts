// Every seed that ever failed `sim check raft` during development, with what it caught.
// Replay one with: npm run sim -- check raft --seed <s> --seeds 1 --trace
import assert from 'node:assert/strict'
import { runRaftSeed } from '../../sim/raft/run-seed.ts'

const REGRESSION_SEEDS: Array<{ seed: number, caught: string }> = [
  // The seed-derived knob picker returned negative floats (a signed xor), so the fault interval
  // could be ≤ 0 and the fault scheduling loop never ended (out of memory).
  { seed: 2, caught: 'picker produced a non-positive fault interval: unbounded loop' },
  // Clients gave up after 4 attempts, leaving many lock operations with unknown outcome; the
  // linearizability search then hit its state limit and reported the (valid) history as failed.
  // Fixed by retrying under the same request id until the run ends (R12), as real clients do.
  { seed: 7, caught: 'linearizability search blew up on many unknown-outcome operations' }
]

describe('sim check raft: regression seeds', function () {
  this.timeout(60_000)
  for (const { seed, caught } of REGRESSION_SEEDS) {
    it(`seed ${seed}: ${caught}`, () => {
      const r = runRaftSeed(seed)
      assert.deepEqual(r.failures, [])
      assert.ok(r.commits > 0)
    })
  }
})
