// The `bft` benchmark scenario, tiny: 4 processes over loopback TCP with one Byzantine member.
// Asserts it runs, agrees and reports its metrics (never speed: that is for the benchmark).

import assert from 'node:assert/strict'
import { run } from '../../../sim/scenarios/bft.ts'
import { simOptions } from '../helpers.ts'

describe('sim scenario bft (tiny, real processes over TCP)', function () {
  this.timeout(120_000)

  it('reports latency and throughput, with and without a Byzantine member, and honest logs agree', async () => {
    const summary = await run(simOptions({ nodes: 4, seed: 5, messages: 6, extra: { faulty: 'byzantine', 'load-ms': '600', concurrency: '8' } }))
    assert.equal(summary.ok, true, summary.failures?.join('\n'))
    const m = summary.metrics
    assert.equal(m.transport, 'tcp')
    assert.equal(m.samples, 6)
    for (const key of ['p50_ms', 'p99_ms', 'max_ms', 'decisions_per_s', 'faulty_decisions_per_s', 'faulty_throughput_ratio']) assert.equal(typeof m[key], 'number', key)
    assert.ok((m.decisions_per_s as number) > 0)
    assert.ok((m.clean_heights as number) >= 6, 'every sample committed at its own height')
    assert.ok((m.evidence_kept as number) > 0, 'the Byzantine member was caught')
  })
})
