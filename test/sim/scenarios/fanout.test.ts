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

  it('--baseline raw measures raw gossipsub on the same connection graph and prints the ratios', async () => {
    const summary = await run({ nodes: 6, messages: 20, rate: 50, size: 64, seed: 3, json: true, transport: 'memory', extra: { baseline: 'raw' }, progress: () => {}, log: () => {} })
    const m = summary.metrics
    assert.equal(summary.ok, true, JSON.stringify(m))
    assert.equal(m.delivery, 1)
    assert.equal(m.raw_delivery, 1)
    assert.equal(m.raw_connections_per_node, m.connections_per_node) // one topology for both sides
    assert.equal(m.p99_ratio, Math.round((m.p99_ms as number) / (m.raw_p99_ms as number) * 100) / 100)
    assert.equal(typeof m.offered_rate, 'number')
  })
})
