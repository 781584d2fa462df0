import assert from 'node:assert/strict'
import { run } from '../../../sim/check/events.ts'

describe('sim check events', function () {
  this.timeout(120_000)

  it('converges exactly once, in per-author order, under drops, duplicates, reordering, partitions and a lying peer (300 seeds)', async () => {
    const summary = await run({ seeds: 300, seed: 1, json: true, transport: 'memory', extra: {}, progress: () => {}, log: () => {} })
    assert.deepEqual(summary.failures, [])
    assert.equal(summary.ok, true)
  })
})
