// CI: 2,000 seeded raft simulations through the same entry point as `npm run sim -- check raft`.
import assert from 'node:assert/strict'
import { run } from '../../sim/check/raft.ts'

describe('sim check raft', function () {
  this.timeout(15 * 60_000)
  it('2,000 seeds: no safety, liveness or linearizability failure', async () => {
    const lines: string[] = []
    const summary = await run({ seed: 1, seeds: 2000, json: true, transport: 'memory', extra: {}, progress: () => {}, log: (l) => lines.push(l) })
    assert.deepEqual(summary.failures, [], (summary.failures ?? []).join('\n'))
    assert.equal(summary.ok, true)
    assert.equal(summary.metrics.seeds, 2000)
    assert.ok((summary.metrics.commits as number) > 2000 * 10, 'the workload commits entries in every seed')
    assert.ok((summary.metrics.elections as number) >= 2000, 'every seed elects at least one leader')
  })
})
