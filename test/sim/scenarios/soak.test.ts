// The `soak` scenario, short: four nodes with data dirs under the steady mixed load for 12 s;
// the JSON carries the heap and RSS figures a user reads (never their values: growth is
// measured, not asserted) and every kind of operation ran.

import assert from 'node:assert/strict'
import { run } from '../../../sim/scenarios/soak.ts'
import { parseSimArgs } from '../../../sim/cli.ts'
import { leastSquaresFit, leastSquaresSlope } from '../../../sim/stats.ts'
import { simOptions } from '../helpers.ts'

describe('sim scenario soak (short, real in-process nodes with data dirs)', function () {
  this.timeout(120_000)

  it('runs events, raft writes and DHT puts, then reports heap and RSS slopes after warm-up', async () => {
    const summary = await run(simOptions({ extra: { minutes: '0.2' } }))
    const m = summary.metrics
    // `ok` also needs every operation to succeed, which a shared, overloaded machine can deny a
    // 12 s run; a run that is not ok must say why, in its error counts
    assert.ok(summary.ok || (m.errors as number) > 0, JSON.stringify(m))
    for (const key of ['ops_done', 'ops_events', 'ops_raft', 'ops_dht']) assert.ok((m[key] as number) > 0, `${key} ran: ${JSON.stringify(m)}`)
    assert.ok((m.events_delivered_min as number) > 0, 'every node read the published events')
    assert.ok((m.samples as number) >= 2, 'enough samples for a slope')
    for (const key of ['heap_start_mb', 'heap_end_mb', 'heap_slope_mb_per_min', 'heap_growth_pct_per_h', 'rss_start_mb', 'rss_end_mb', 'rss_slope_mb_per_min', 'rss_growth_pct_per_h', 'warmup_minutes', 'errors', 'errors_timeout', 'external_start_mb', 'array_buffers_end_mb']) {
      assert.equal(typeof m[key], 'number', key)
    }
  })

  it('needs --minutes, and takes fractions of one on the command line', async () => {
    await assert.rejects(run(simOptions()), /--minutes is required/)
    await assert.rejects(run(simOptions({ extra: { minutes: '0' } })), /--minutes must be a positive number/)
    await assert.rejects(run(simOptions({ extra: { minutes: '1', 'warmup-minutes': '2' } })), /--warmup-minutes must be shorter/)
    assert.equal(parseSimArgs(['soak', '--minutes', '0.2', '--rate', '29']).options.extra.minutes, '0.2')
    assert.throws(() => parseSimArgs(['soak', '--minute', '1']), /--minute: not a flag of soak \(did you mean --minutes\?\)/)
  })

  it('fits the least-squares slope', () => {
    assert.equal(leastSquaresSlope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]), 2)
    assert.equal(leastSquaresSlope([{ x: 0, y: 1 }]), null)
    assert.equal(leastSquaresSlope([{ x: 1, y: 1 }, { x: 1, y: 2 }]), null)
    assert.deepEqual(leastSquaresFit([{ x: 1, y: 4 }, { x: 2, y: 6 }, { x: 3, y: 8 }]), { slope: 2, intercept: 2 })
  })
})
