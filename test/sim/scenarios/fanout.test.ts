import assert from 'node:assert/strict'
import { run } from '../../../sim/scenarios/fanout.ts'

describe('sim fanout scenario', function () {
  this.timeout(120_000)

  it('delivers every event to every one of 8 real nodes exactly once', async () => {
    const summary = await run({ nodes: 8, messages: 30, rate: 50, size: 64, seed: 7, json: true, transport: 'memory', extra: {}, progress: () => {}, log: () => {} })
    assert.equal(summary.metrics.delivery, 1, JSON.stringify(summary.metrics))
    assert.equal(summary.metrics.duplicates, 0)
    assert.equal(summary.ok, true)
    assert.equal(summary.latenciesMs?.length, 30 * 7)
    assert.equal(typeof summary.metrics.p99_ms, 'number')
  })
})
