// The `tasks` benchmark scenario, tiny: a 3-member queue on real in-process nodes, 2 worker nodes,
// half the workers and then the queue's leader killed mid-run, and the BullMQ baseline when
// redis-server is installed. Asserts what a user reads in the JSON (never speed).

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { run } from '../../../sim/scenarios/tasks.ts'
import { simOptions } from '../helpers.ts'

const redisInstalled = spawnSync('redis-server', ['--version']).status === 0

describe('sim scenario tasks (tiny, real in-process nodes)', function () {
  this.timeout(240_000)

  it('with --faults every task completes exactly once; both queues report the same metrics', async function () {
    const summary = await run(simOptions({ extra: { tasks: '60', workers: '2', concurrency: '4', faults: true, baseline: 'bullmq' } }))
    const m = summary.metrics
    assert.equal(m.lost, 0, 'no task lost with workers and the leader killed')
    assert.equal(m.completed_twice, 0)
    assert.equal(summary.ok, true)
    for (const key of ['tasks_per_s', 'submit_to_start_p50_ms', 'submit_to_done_p50_ms', 'submit_to_done_p99_ms']) assert.equal(typeof m[key], 'number', key)
    if (redisInstalled) {
      for (const key of ['tasks_per_s', 'submit_to_start_p50_ms', 'submit_to_done_p50_ms', 'submit_to_done_p99_ms', 'lost', 'completed_twice']) assert.equal(typeof m[`bullmq_${key}`], 'number', `bullmq_${key}`)
      assert.equal(m.bullmq_lost, 0)
      assert.equal(m.bullmq_appendfsync_always, 1, 'Redis fsyncs its AOF on every write')
    } else {
      assert.match(String(m.bullmq_skipped), /redis-server not found/)
    }
  })

  it('refuses an unknown baseline', async () => {
    await assert.rejects(run(simOptions({ extra: { baseline: 'sqs' } })), /--baseline must be bullmq/)
  })
})
