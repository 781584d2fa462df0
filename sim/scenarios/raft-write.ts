// `npm run sim -- raft-write --nodes 3 [--messages M] [--size B] [--concurrency C] [--baseline etcd] --json`:
// one OS process per node over loopback TCP on LevelDB. Committed-write latency with one client
// inside the leader's process (leader-local), then with one client in its own OS process writing
// through a follower's HTTP API (`putGroupKv`, as a user's program would), then throughput with C
// concurrent proposers in the leader's process. `fsync` reports what the drivers did: true only if
// every node fsynced its log writes during the measured writes. `--baseline etcd` runs the same
// 1-client sequential puts against an etcd 3.4 cluster at the same timings, the client in its own
// process writing through a follower member, and reports both sides and their ratio.

import { ProcessCluster } from '../raft/process-cluster.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { positiveIntegerFlag } from '../flags.ts'
import { SimUsageError } from '../flags.ts'
import { latencySummary } from '../stats.ts'
import { EtcdCluster, etcdMissing, etcdVersion } from '../raft/etcd-cluster.ts'
import { writeThroughClientProcess } from '../raft/write-client-process.ts'

/** Sequential writes for the latency part. */
export const SEQUENTIAL_WRITES_DEFAULT = 500
/** Writes for the throughput part. */
export const CONCURRENT_WRITES_DEFAULT = 10_000
/** Concurrent proposers for the throughput part (the goal is stated at 64). */
export const CONCURRENCY_DEFAULT = 64
/** Untimed writes before each 1-client run: connections, JIT and LevelDB/WAL files warm up first. */
export const WARMUP_WRITES = 50
/** How the follower-side client writes (named in the JSON). */
const FOLLOWER_CLIENT = 'http putGroupKv via follower, client in its own process'
/** How the etcd client writes (named in the JSON). */
const ETCD_CLIENT = 'grpc put via follower member, client in its own process'

const round2 = (x: number): number => Math.round(x * 100) / 100


/** Measure committed-write latency (1 client) and throughput (C clients) on a real cluster. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const nodes = options.nodes ?? 3
  const sequential = options.messages ?? SEQUENTIAL_WRITES_DEFAULT
  const concurrent = positiveIntegerFlag(options, 'writes', CONCURRENT_WRITES_DEFAULT)
  const concurrency = positiveIntegerFlag(options, 'concurrency', CONCURRENCY_DEFAULT)
  const valueBytes = options.size ?? 64
  const baseline = options.extra.baseline
  if (baseline !== undefined && baseline !== 'etcd') throw new SimUsageError(`--baseline must be "etcd", got "${String(baseline)}"`)
  if (baseline === 'etcd') {
    const missing = etcdMissing()
    if (missing !== null) throw new SimUsageError(missing)
  }
  const heartbeatMs = options.heartbeatMs ?? 100
  const electionMs = options.electionMs ?? 1000
  const cluster = await ProcessCluster.start({ nodes, group: 'write', heartbeatMs, electionMs })
  let summary: SimSummary
  try {
    const leader = await cluster.waitForLeader()
    const g = cluster.group
    await cluster.call(leader, { op: 'bench', group: g, writes: WARMUP_WRITES, concurrency: 1, valueBytes }) // warm-up
    const before = await cluster.statuses()
    const one = await cluster.call(leader, { op: 'bench', group: g, writes: sequential, concurrency: 1, valueBytes }) as { latenciesMs: number[], elapsedMs: number }
    options.log(`1 client in the leader's process: ${sequential} writes in ${one.elapsedMs.toFixed(0)} ms`)
    // 1 client in its own process through a follower's HTTP API
    const follower = (leader + 1) % nodes
    const beforeFollower = await cluster.statuses()
    const { url, tokenFile } = await cluster.call(follower, { op: 'api' }) as { url: string, tokenFile: string | null }
    if (tokenFile === null) throw new Error('the follower has no data dir, so no api-token file for the client to read')
    const viaFollower = await writeThroughClientProcess({ kind: 'http', url, tokenFile, group: g, writes: sequential, warmup: WARMUP_WRITES, valueBytes })
    const afterFollower = await cluster.statuses()
    const followerSynced = afterFollower.map((a, i) => a === null || beforeFollower[i] === null ? 0 : a.storage.syncedWrites - beforeFollower[i]!.storage.syncedWrites)
    // CPU every node spent per write of the follower run (with its warm-up): on a shared, loaded
    // machine a steadier measure of the work per write than latency
    const leaderLocalCpuMs = beforeFollower.reduce((sum, a, i) => sum + (a === null || before[i] === null ? 0 : a.cpuMs - before[i]!.cpuMs), 0)
    const followerRunCpuMs = afterFollower.reduce((sum, a, i) => sum + (a === null || beforeFollower[i] === null ? 0 : a.cpuMs - beforeFollower[i]!.cpuMs), 0)
    const sF = latencySummary(viaFollower.latenciesMs)
    options.log(`1 client through follower ${follower}'s HTTP API: ${sequential} writes in ${viaFollower.elapsedMs.toFixed(0)} ms, p50 ${sF.p50_ms} ms`)
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
    summary = {
      scenario: 'raft-write',
      nodes,
      seed: options.seed,
      ok: one.latenciesMs.length === sequential && many.latenciesMs.length === concurrent && viaFollower.latenciesMs.length === sequential && afterFollower[leader]?.isLeader === true,
      metrics: {
        fsync: syncedWrites.every((n) => n > 0) && followerSynced.every((n) => n > 0),
        fsyncs_leader: leaderSynced,
        // every write of the window: leader-local, the follower run (with its warm-up), concurrent
        fsyncs_per_write_leader: Math.round(1000 * leaderSynced / (sequential + WARMUP_WRITES + sequential + concurrent)) / 1000,
        client: "leader's process",
        ...s1,
        cpu_ms_per_write: round2(leaderLocalCpuMs / sequential),
        follower_client: FOLLOWER_CLIENT,
        follower_p50_ms: sF.p50_ms,
        follower_p99_ms: sF.p99_ms,
        follower_max_ms: sF.max_ms,
        cpu_ms_per_write_follower_run: round2(followerRunCpuMs / (sequential + WARMUP_WRITES)),
        fsyncs_per_write_follower_run: Math.round(1000 * (followerSynced[follower] ?? 0) / (sequential + WARMUP_WRITES)) / 1000,
        writes_1_client: sequential,
        concurrency,
        writes_concurrent: concurrent,
        writes_per_s: writesPerSecond,
        concurrent_p50_ms: sN.p50_ms,
        concurrent_p99_ms: sN.p99_ms,
        value_bytes: valueBytes,
        leader_unchanged: stillLeader
      },
      latenciesMs: viaFollower.latenciesMs
    }
  } finally {
    await cluster.stop()
  }
  if (baseline === 'etcd') {
    const etcd = await etcdBaseline({ nodes, heartbeatMs, electionMs, writes: sequential, valueBytes, log: options.log })
    const ours = summary.metrics.follower_p50_ms as number
    const ours99 = summary.metrics.follower_p99_ms as number
    Object.assign(summary.metrics, {
      etcd_version: etcd.version,
      etcd_client: ETCD_CLIENT,
      etcd_p50_ms: etcd.p50_ms,
      etcd_p99_ms: etcd.p99_ms,
      etcd_max_ms: etcd.max_ms,
      etcd_fsync: etcd.fsyncsPerWrite > 0,
      etcd_wal_fsyncs_per_write_follower: etcd.fsyncsPerWrite,
      // CPU all members spent per put (with the warm-up), as cpu_ms_per_write_follower_run for ours
      etcd_cpu_ms_per_write: etcd.cpuMsPerWrite,
      ratio_p50: etcd.p50_ms === null || etcd.p50_ms === 0 ? null : round2(ours / etcd.p50_ms),
      ratio_p99: etcd.p99_ms === null || etcd.p99_ms === 0 ? null : round2(ours99 / etcd.p99_ms)
    })
    summary.ok = summary.ok && etcd.ok
  }
  return summary
}

/** The same 1-client sequential puts against etcd: a client process writing through a follower member. */
async function etcdBaseline (o: { nodes: number, heartbeatMs: number, electionMs: number, writes: number, valueBytes: number, log: (line: string) => void }): Promise<{ version: string, ok: boolean, fsyncsPerWrite: number, cpuMsPerWrite: number | null, p50_ms: number | null, p99_ms: number | null, max_ms: number | null }> {
  const etcd = await EtcdCluster.start({ nodes: o.nodes, heartbeatMs: o.heartbeatMs, electionMs: o.electionMs })
  try {
    const leader = await etcd.waitForLeader()
    const follower = (leader + 1) % o.nodes
    const before = await etcd.walFsyncs(follower)
    const cpuBefore = etcd.cpuMs()
    const run = await writeThroughClientProcess({ kind: 'etcd', url: etcd.clientUrl(follower), writes: o.writes, warmup: WARMUP_WRITES, valueBytes: o.valueBytes })
    const after = await etcd.walFsyncs(follower)
    const cpuAfter = etcd.cpuMs()
    const s = latencySummary(run.latenciesMs)
    o.log(`etcd ${etcdVersion()}, 1 client through follower member ${follower}: ${o.writes} puts in ${run.elapsedMs.toFixed(0)} ms, p50 ${s.p50_ms} ms`)
    return { version: etcdVersion(), ok: run.latenciesMs.length === o.writes && (await etcd.leader()) === leader, fsyncsPerWrite: Math.round(1000 * (after - before) / (o.writes + WARMUP_WRITES)) / 1000, cpuMsPerWrite: cpuBefore === null || cpuAfter === null ? null : round2((cpuAfter - cpuBefore) / (o.writes + WARMUP_WRITES)), ...s }
  } finally {
    await etcd.stop()
  }
}
