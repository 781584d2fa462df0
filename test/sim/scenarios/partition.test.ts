// The `partition` scenario with its events and raft workloads, small: 5 in-process nodes split
// 2 | 3 once. Events published on both sides converge with none lost; raft commits only on
// the majority side and loses no acknowledged write.

import assert from 'node:assert/strict'
import { run, workloads } from '../../../sim/scenarios/partition.ts'
import { simOptions } from '../helpers.ts'

describe('sim scenario partition (events + raft workloads, real nodes)', function () {
  this.timeout(90_000)

  it('events from both sides converge in one order, majority writes commit, minority writes do not, nothing acked is lost', async () => {
    const summary = await run(simOptions({ nodes: 5, seed: 3, rounds: 1, messages: 30 }))
    assert.equal(summary.ok, true, summary.failures?.join('\n'))
    const m = summary.metrics
    assert.equal(m.workloads, 'direct,events,raft')
    assert.equal(m.side_a, 2, 'a strict minority')
    assert.equal(m.side_b, 3, 'and a strict majority')

    assert.equal(m.events_published, 5 * 3 * 3, 'every node published 3 events in each of the 3 phases')
    assert.equal(m.events_published_partitioned, 15, 'both sides kept publishing while split')
    assert.equal(m.events_lost, 0)
    assert.equal(m.events_order_disagreements, 0)
    assert.equal(m.events_subscription_missing, 0)
    assert.equal(m.events_subscription_duplicates, 0)
    assert.equal(m.events_caught_up, true)
    assert.equal(typeof m.events_converge_ms, 'number')

    assert.equal(m.raft_partitions_with_majority, 1)
    assert.equal(m.raft_majority_acked_partitioned, 3 * 2, 'every majority-side write committed while split')
    assert.equal(m.raft_minority_attempted, 2 * 2)
    assert.equal(m.raft_minority_commits, 0)
    assert.equal(m.raft_minority_refused_typed, 4, 'each refused with ERR_TIMEOUT / ERR_NO_LEADER')
    assert.equal(m.raft_acked_writes, 5 * 2 * 2 + 6, 'before + healed phases on every node, plus the majority side')
    assert.equal(m.raft_lost_acked, 0)
    assert.equal(m.raft_key_disagreements, 0)
    assert.equal(typeof m.raft_converge_ms, 'number')
    assert.equal(m.direct_lost, 0)
  })

  it('--workloads picks a subset and rejects unknown names', () => {
    assert.deepEqual(workloads(simOptions({ nodes: 5, extra: { workloads: 'events,raft' } })).map(w => w.name), ['events', 'raft'])
    assert.deepEqual(workloads(simOptions({ nodes: 5 })).map(w => w.name), ['direct', 'events', 'raft'])
    assert.throws(() => workloads(simOptions({ nodes: 5, extra: { workloads: 'docs' } })), /Unknown partition workload "docs"/)
  })
})
