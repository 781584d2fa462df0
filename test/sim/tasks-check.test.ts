// `npm run sim -- check tasks`: seeded task-queue workloads pass T1–T5, and every injected bug is
// caught (each invariant can fail), while the same seed passes on the correct machine.
import assert from 'node:assert/strict'
import { run, TASK_FAULTS } from '../../sim/check/tasks.ts'
import { runTasksSeed } from '../../sim/tasks/run-seed.ts'

describe('sim check tasks', function () {
  this.timeout(10 * 60_000)

  it('300 seeds: no invariant broken, every task ends, replicas agree', async () => {
    const summary = await run({ seed: 1, seeds: 300, json: true, transport: 'memory', extra: {}, progress: () => {}, log: () => {} })
    assert.deepEqual(summary.failures, [], (summary.failures ?? []).join('\n'))
    assert.equal(summary.ok, true)
    assert.ok((summary.metrics.completed as number) > 300 * 10, 'the workload completes tasks in every seed')
    assert.ok((summary.metrics.stale_results_refused as number) > 300, 'late and duplicate results happen and are refused')
    assert.ok((summary.metrics.restores as number) > 300, 'replicas restart from snapshots')
  })

  for (const fault of TASK_FAULTS) {
    it(`--inject ${fault} is caught within 20 seeds, and that seed passes without it`, () => {
      let caughtAt = 0
      for (let seed = 1; seed <= 20 && caughtAt === 0; seed++) if (!runTasksSeed(seed, { inject: fault }).ok) caughtAt = seed
      assert.ok(caughtAt > 0, `no seed exposed ${fault}`)
      assert.deepEqual(runTasksSeed(caughtAt).failures, [])
    })
  }

  it('a failing seed names its replay command', async () => {
    const summary = await run({ seed: 1, seeds: 3, json: true, transport: 'memory', extra: { inject: 'reuse-token' }, progress: () => {}, log: () => {} })
    assert.equal(summary.ok, false)
    assert.match(summary.failures![0]!, /replay: npm run sim -- check tasks --seed \d+ --seeds 1 --inject reuse-token --trace/)
  })
})
