import assert from 'node:assert/strict'
import { run } from '../../sim/scenarios/dht.ts'

describe('sim dht scenario', function () {
  this.timeout(150_000)

  it('puts and reads back every record across 10 in-process nodes', async () => {
    const lines: string[] = []
    const summary = await run({ nodes: 10, messages: 10, seed: 7, json: true, transport: 'memory', extra: {}, progress: () => {}, log: (line) => { lines.push(line) } })
    assert.equal(summary.scenario, 'dht')
    assert.equal(summary.metrics.success_rate, 1, (summary.failures ?? []).concat(lines).join('\n'))
    assert.equal(summary.ok, true)
    for (const metric of ['put_p50_ms', 'put_p99_ms', 'get_p50_ms', 'get_p99_ms', 'p50_ms', 'p99_ms', 'max_ms']) {
      assert.equal(typeof summary.metrics[metric], 'number', metric)
    }
    // k = 20 > 10 nodes: every node holds every record, so one-hop reads reach the quorum.
    assert.equal(summary.metrics.gets_one_hop, 10, JSON.stringify(summary.metrics))
    assert.equal(summary.metrics.gets_walked, 0)
  })
})
