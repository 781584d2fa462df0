// `npm run sim -- raft-write --nodes 3 [--messages M] [--size B] [--concurrency C] --json`: one OS
// process per node over loopback TCP on LevelDB; committed-write latency with one client, then
// throughput with C concurrent proposers (clients run inside the leader's process). `fsync` reports
// what the drivers did: true only if every node fsynced its log writes during the measured writes.

import { ProcessCluster } from '../raft/process-cluster.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { positiveIntegerFlag } from '../flags.ts'
import { latencySummary } from '../stats.ts'

/** Sequential writes for the latency part. */
export const SEQUENTIAL_WRITES_DEFAULT = 500
/** Writes for the throughput part. */
export const CONCURRENT_WRITES_DEFAULT = 10_000
/** Concurrent proposers for the throughput part (the goal is stated at 64). */
export const CONCURRENCY_DEFAULT = 64


/** Measure committed-write latency (1 client) and throughput (C clients) on a real cluster. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const nodes = options.nodes ?? 3
  const sequential = options.messages ?? SEQUENTIAL_WRITES_DEFAULT
  const concurrent = positiveIntegerFlag(options, 'writes', CONCURRENT_WRITES_DEFAULT)
  const concurrency = positiveIntegerFlag(options, 'concurrency', CONCURRENCY_DEFAULT)
  const valueBytes = options.size ?? 64
  const cluster = await ProcessCluster.start({ nodes, group: 'write', heartbeatMs: options.heartbeatMs ?? 100, electionMs: options.electionMs ?? 1000 })
  try {
    const leader = await cluster.waitForLeader()
    const g = cluster.group
    await cluster.call(leader, { op: 'bench', group: g, writes: 50, concurrency: 1, valueBytes }) // warm-up
    const before = await cluster.statuses()
    const one = await cluster.call(leader, { op: 'bench', group: g, writes: sequential, concurrency: 1, valueBytes }) as { latenciesMs: number[], elapsedMs: number }
    options.log(`1 client: ${sequential} writes in ${one.elapsedMs.toFixed(0)} ms`)
    const many = await cluster.call(leader, { op: 'bench', group: g, writes: concurrent, concurrency, valueBytes }) as { latenciesMs: number[], elapsedMs: number }
    const writesPerSecond = Math.round(concurrent / (many.elapsedMs / 1000))
    options.log(`${concurrency} clients: ${concurrent} writes in ${many.elapsedMs.toFixed(0)} ms = ${writesPerSecond}/s`)
    const s1 = latencySummary(one.latenciesMs)
    const sN = latencySummary(many.latenciesMs)
    const after = await cluster.statuses()
    const stillLeader = after[leader]?.isLeader === true
    // fsyncs each node's driver issued during the measured writes (SPEC raft E1: every Ready with
    // entries is fsynced before its replies leave)
    const syncedWrites = after.map((a, i) => a === null || before[i] === null ? 0 : a.storage.syncedWrites - before[i]!.storage.syncedWrites)
    const leaderSynced = syncedWrites[leader] ?? 0
    return {
      scenario: 'raft-write',
      nodes,
      seed: options.seed,
      ok: one.latenciesMs.length === sequential && many.latenciesMs.length === concurrent,
      metrics: {
        fsync: syncedWrites.every((n) => n > 0),
        fsyncs_leader: leaderSynced,
        fsyncs_per_write_leader: Math.round(1000 * leaderSynced / (sequential + concurrent)) / 1000,
        ...s1,
        writes_1_client: sequential,
        concurrency,
        writes_concurrent: concurrent,
        writes_per_s: writesPerSecond,
        concurrent_p50_ms: sN.p50_ms,
        concurrent_p99_ms: sN.p99_ms,
        value_bytes: valueBytes,
        leader_unchanged: stillLeader
      },
      latenciesMs: one.latenciesMs
    }
  } finally {
    await cluster.stop()
  }
}
