// `partition`: split the mesh in two, keep working on both sides where the protocol allows,
// heal, and verify convergence and that nothing was lost. Workloads plug in (direct, events,
// raft; `--workloads direct,events,raft` picks some) and each checks its own guarantees.

import type { SimOptions, SimSummary } from '../scenario.ts'
import { Cluster } from '../harness/cluster.ts'
import { DeliveryMatrix, shuffle } from '../harness/delivery.ts'
import { clusterSummary } from '../harness/summary.ts'
import { allConnectedToBootstrap } from '../harness/connectivity.ts'
import { latencySummary } from '../stats.ts'
import { faultOptions } from '../harness/fault-options.ts'
import { directWorkload } from '../workloads/direct.ts'
import { eventsWorkload } from '../workloads/events.ts'
import { raftWorkload } from '../workloads/raft.ts'
import type { PartitionPhase, Workload, WorkloadContext } from '../workloads/workload.ts'

/** Default mesh size: big enough for two sides of two or more. */
const NODES_DEFAULT = 6
/** How long every node may take to reach the bootstrap node, at start and after heal. */
const CONNECT_TIMEOUT_MS = 30_000

/** Every workload name, in run order (`--workloads` picks a subset; default all). */
export const WORKLOAD_NAMES = ['direct', 'events', 'raft'] as const
/** Plug-in module with the events / raft ops, so the same workloads run over both transports. */
const OPS_PLUGIN = new URL('../workloads/partition-ops.ts', import.meta.url).href

/** The workloads this scenario runs; add yours here. */
export function workloads (options: SimOptions): Workload[] {
  const nodes = options.nodes ?? NODES_DEFAULT
  const picked = typeof options.extra.workloads === 'string' ? options.extra.workloads.split(',').map(w => w.trim()).filter(w => w !== '') : [...WORKLOAD_NAMES]
  for (const name of picked) {
    if (!(WORKLOAD_NAMES as readonly string[]).includes(name)) throw new RangeError(`Unknown partition workload "${name}": expected some of ${WORKLOAD_NAMES.join(',')}`)
  }
  const chosen: Workload[] = []
  // --messages M: messages in one before/partitioned/healed cycle (M/3 per phase); default 10 per node per phase
  if (picked.includes('direct')) chosen.push(directWorkload({ perNodePerPhase: Math.max(1, Math.round((options.messages ?? 30 * nodes) / 3 / nodes)) }))
  // events and raft writes per node per phase (--events-per-phase, --raft-writes-per-phase)
  if (picked.includes('events')) chosen.push(eventsWorkload({ perNodePerPhase: positive(options.extra['events-per-phase'], 3) }))
  if (picked.includes('raft')) chosen.push(raftWorkload({ perNodePerPhase: positive(options.extra['raft-writes-per-phase'], 2) }))
  return chosen
}

function positive (value: string | boolean | undefined, fallback: number): number {
  if (typeof value !== 'string') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Expected a positive integer, got "${value}"`)
  return n
}

/** Run the partition scenario. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const nodes = options.nodes ?? NODES_DEFAULT
  if (nodes < 4) throw new RangeError(`partition needs at least 4 nodes, got ${nodes}`)
  const faults = faultOptions(options)
  const chosen = workloads(options)
  const cluster = await Cluster.start({ nodes, transport: options.transport, seed: options.seed, latencyMs: faults.latencyMs, plugins: [OPS_PLUGIN], onStarted: (done) => { options.progress(done, nodes + 2 + 3 * Math.max(1, Math.floor(options.rounds ?? 1))) } })
  const failures: string[] = []
  const metrics: SimSummary['metrics'] = {}
  const latenciesMs: number[] = []
  const matrix = new DeliveryMatrix(nodes)
  try {
    const startMs = await cluster.waitUntil(async () => await allConnectedToBootstrap(cluster), { timeoutMs: CONNECT_TIMEOUT_MS })
    if (startMs === null) failures.push(`not every node reached the bootstrap node within ${CONNECT_TIMEOUT_MS} ms`)
    cluster.timeline.record('phase', 'all nodes connected to bootstrap')
    await cluster.introduce()

    const rounds = Math.max(1, Math.floor(options.rounds ?? 1))
    const total = nodes + 2 + 3 * rounds
    const sides: number[][] = [[], []]
    const sideOf = (index: number): number => sides[0]!.includes(index) ? 0 : 1
    const contexts = new Map<Workload, WorkloadContext>(chosen.map(w => [w, { cluster, sides, sideOf, round: 0, options, rng: cluster.rng.fork(), latenciesMs, matrix }]))
    const everyWorkload = async (phase: PartitionPhase, round: number): Promise<void> => {
      cluster.timeline.record('phase', `workloads: ${phase}${rounds > 1 ? ` (round ${round + 1})` : ''}`)
      await Promise.all(chosen.map(async (w) => {
        const context = contexts.get(w)!
        context.round = round
        await w.runPhase(context, phase)
      }))
    }
    for (const w of chosen) await w.setup(contexts.get(w)!)
    let step = nodes
    await everyWorkload('before', 0); options.progress(++step, total)

    const reconnects: number[] = []
    for (let round = 0; round < rounds; round++) {
      // a fresh seeded split every round; the context's `sides` array is updated in place
      const order = shuffle(cluster.nodes.map(n => n.index), (a, b) => cluster.rng.int(a, b))
      // a strict minority and a strict majority, so a quorum protocol can keep committing on one side
      const half = Math.floor((nodes - 1) / 2)
      sides[0] = order.slice(0, half).sort((a, b) => a - b)
      sides[1] = order.slice(half).sort((a, b) => a - b)
      await cluster.partition(sides)
      await everyWorkload('partitioned', round); options.progress(++step, total)

      await cluster.heal()
      const healedAtMs = performance.now()
      for (const context of contexts.values()) context.healedAtMs = healedAtMs
      // Convergence of the mesh itself: nodes cut from the bootstrap node redial it (with backoff).
      const reconnectMs = await cluster.waitUntil(async () => await allConnectedToBootstrap(cluster), { timeoutMs: CONNECT_TIMEOUT_MS, pollMs: 25 })
      if (reconnectMs === null) failures.push(`after heal ${round + 1}, not every node reconnected to the bootstrap node within ${CONNECT_TIMEOUT_MS} ms`)
      else { cluster.timeline.record('phase', 'all nodes reconnected to bootstrap'); reconnects.push(reconnectMs) }
      options.progress(++step, total)

      await everyWorkload('healed', round); options.progress(++step, total)
    }
    for (const w of chosen) {
      const result = await w.verify(contexts.get(w)!)
      Object.assign(metrics, result.metrics)
      failures.push(...result.failures)
    }
    options.progress(++step, total)
    metrics.rounds = rounds
    metrics.heal_reconnect_max_ms = reconnects.length === 0 ? null : Math.round(Math.max(...reconnects))
    metrics.side_a = sides[0]!.length
    metrics.side_b = sides[1]!.length
    metrics.workloads = chosen.map(w => w.name).join(',')
    metrics.first_try_delivery = Math.round(matrix.ratio() * 10_000) / 10_000
    Object.assign(metrics, latencySummary(latenciesMs))
    metrics.transport = options.transport
  } finally {
    await cluster.stop()
  }
  return clusterSummary(cluster, { scenario: 'partition', seed: options.seed, metrics, failures, latenciesMs, matrix })
}
