// The `idle` benchmark scenario, tiny: two nodes mesh, sit idle, and the JSON carries the CPU and
// memory figures a user reads (never their values: speed is measured, not asserted).

import assert from 'node:assert/strict'
import { run } from '../../../sim/scenarios/idle.ts'
import { simOptions } from '../helpers.ts'

describe('sim scenario idle (tiny, real in-process nodes)', function () {
  this.timeout(60_000)

  it('meshes the nodes, then reports idle CPU per node and RSS above the baseline', async () => {
    const summary = await run(simOptions({ nodes: 2, extra: { 'settle-ms': '3000', 'measure-ms': '1000' } }))
    assert.equal(summary.ok, true, 'every node saw the other alive')
    for (const key of ['cpu_ms_per_s_process', 'cpu_ms_per_s_per_node', 'rss_baseline_mb', 'rss_mb_per_node_above_baseline']) assert.equal(typeof summary.metrics[key], 'number', key)
    assert.ok((summary.metrics.cpu_ms_per_s_per_node as number) > 0, 'an idle node still does some work (announces, heartbeats)')
  })

  it('--daemons: two `npm run node` processes mesh, each measured from /proc', async function () {
    this.timeout(120_000)
    const summary = await run(simOptions({ nodes: 2, extra: { daemons: true, 'settle-ms': '3000', 'measure-ms': '1000' } }))
    assert.equal(summary.ok, true, 'each daemon reports the other alive through its HTTP API')
    assert.equal(summary.metrics.daemons, true)
    for (const key of ['cpu_ms_per_s_per_node', 'cpu_ms_per_s_max', 'rss_baseline_mb', 'rss_mb_per_node_above_baseline', 'rss_mb_max']) assert.equal(typeof summary.metrics[key], 'number', key)
    assert.ok((summary.metrics.rss_mb_max as number) > (summary.metrics.rss_baseline_mb as number), 'a daemon holds more than an empty Node.js process')
  })

  it('refuses a settle time that is not a positive integer', async () => {
    await assert.rejects(run(simOptions({ extra: { 'settle-ms': '-1' } })), /--settle-ms must be a positive integer/)
  })
})
