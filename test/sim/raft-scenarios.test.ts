// The raft benchmarks run tiny in CI: they must finish and report ok (speed is never asserted here).

import assert from 'node:assert/strict'
import type { SimOptions } from '../../sim/scenario.ts'
import { run as runFailover } from '../../sim/scenarios/failover.ts'
import { run as runRaftWrite } from '../../sim/scenarios/raft-write.ts'
import { etcdMissing } from '../../sim/raft/etcd-cluster.ts'

function options (extra: Partial<SimOptions>): SimOptions {
  return { seed: 1, json: true, transport: 'tcp', extra: {}, progress: () => {}, log: () => {}, ...extra }
}

describe('sim raft scenarios (tiny)', function () {
  this.timeout(120_000)

  it('failover: kills the leader process twice and measures each recovery', async () => {
    const s = await runFailover(options({ nodes: 3, rounds: 2, heartbeatMs: 50, electionMs: 300 }))
    assert.equal(s.ok, true, (s.failures ?? []).join('; '))
    assert.equal(s.metrics.rounds, 2)
    assert.equal(typeof s.metrics.p50_ms, 'number')
  })

  it('failover --fault stop --baseline etcd: both sides report the same rounds and their ratio (or why etcd was skipped)', async () => {
    const s = await runFailover(options({ nodes: 3, rounds: 2, heartbeatMs: 50, electionMs: 500, extra: { fault: 'stop', baseline: 'etcd' } }))
    assert.equal(s.ok, true, (s.failures ?? []).join('; '))
    assert.equal(s.metrics.fault, 'stop')
    assert.equal(s.metrics.baseline, 'etcd')
    if (s.metrics.baseline_skipped !== undefined) {
      assert.match(String(s.metrics.baseline_skipped), /etcd/)
    } else {
      assert.equal(typeof s.metrics.etcd_p50_ms, 'number')
      assert.equal(typeof s.metrics.ratio_p50, 'number')
      assert.equal(s.metrics.etcd_failed_rounds, 0)
    }
  })

  it('raft-write: one client, then concurrent proposers, with fsync', async () => {
    const s = await runRaftWrite(options({ nodes: 3, messages: 20, extra: { writes: '200', concurrency: '8' } }))
    assert.equal(s.ok, true)
    assert.equal(s.metrics.fsync, true, 'every node fsynced its log writes')
    assert.ok((s.metrics.fsyncs_leader as number) > 0, 'the leader fsynced')
    assert.ok((s.metrics.writes_per_s as number) > 0)
    // the client in its own process, through a follower's HTTP API
    assert.match(String(s.metrics.follower_client), /via follower/)
    assert.equal(typeof s.metrics.follower_p50_ms, 'number')
    assert.ok((s.metrics.fsyncs_per_write_follower_run as number) > 0, 'the follower fsynced during its run')
    assert.ok((s.metrics.cpu_ms_per_write_follower_run as number) > 0)
  })

  it('raft-write --baseline etcd: the same puts through an etcd follower member, with its WAL fsyncs', async function () {
    if (etcdMissing() !== null) this.skip()
    const s = await runRaftWrite(options({ nodes: 3, messages: 20, extra: { writes: '50', concurrency: '4', baseline: 'etcd' } }))
    assert.equal(s.ok, true)
    assert.equal(typeof s.metrics.etcd_p50_ms, 'number')
    assert.equal(s.metrics.etcd_fsync, true, 'etcd fsynced its WAL during the puts')
    assert.equal(typeof s.metrics.ratio_p50, 'number')
  })
})
