// `bft`: BFT agreement on real nodes (one process per node over loopback TCP by default, data
// dirs with fsync). Measures commit latency of sequential proposals and throughput under a
// closed-loop load; `--faulty silent|byzantine` adds one faulty member and compares throughput.

import type { SimOptions, SimSummary } from '../scenario.ts'
import { nonNegativeFlag } from '../flags.ts'
import { Cluster } from '../harness/cluster.ts'
import { latencySummary } from '../stats.ts'

const NODES_DEFAULT = 4
/** Sequential proposals timed for the latency percentiles. */
const LATENCY_SAMPLES_DEFAULT = 200
/** Length of each closed-loop throughput phase. */
const LOAD_MS_DEFAULT = 5_000
/** Proposals in flight per honest member during the load phase. */
const CONCURRENCY_DEFAULT = 64
/** Idle window over which background CPU is sampled. */
const IDLE_SAMPLE_MS = 1_000
/** Aardvark's criterion: with one faulty member, at least this share of fault-free throughput. */
const FAULTY_THROUGHPUT_RATIO_GOAL = 0.3

interface LoadResult { committed: number, failed: number, latencies: number[] }
interface LogReport { hashes: string[], laterRounds: number, items: number, chainOk: boolean, evidence: number, status: { committedHeight: number } }

/** Run the bft scenario. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const nodes = options.nodes ?? NODES_DEFAULT
  if (nodes < 4) throw new RangeError(`bft needs at least 4 nodes (n ≥ 3f+1), got ${nodes}`)
  const faulty = options.extra.faulty === undefined ? undefined : String(options.extra.faulty)
  if (faulty !== undefined && faulty !== 'silent' && faulty !== 'byzantine') throw new RangeError(`--faulty must be "silent" or "byzantine", got "${faulty}"`)
  const samples = options.messages ?? LATENCY_SAMPLES_DEFAULT
  const loadMs = nonNegativeFlag(options, 'load-ms', LOAD_MS_DEFAULT)
  const concurrency = Number(options.extra.concurrency ?? CONCURRENCY_DEFAULT)
  // The issue asks for loopback TCP, so that is the default here; `--in-process` uses memory transport.
  const transport = options.extra['in-process'] === true ? 'memory' : 'tcp'
  // Core timeouts in ticks (SPEC bft T10), e.g. --retransmit-ticks 25; unset ones keep the core's defaults.
  const timeouts: Record<string, number> = {}
  for (const [flag, key] of [['propose-ticks', 'proposeTicks'], ['retransmit-ticks', 'retransmitTicks']] as const) {
    if (options.extra[flag] !== undefined) timeouts[key] = Number(options.extra[flag])
  }
  const failures: string[] = []
  const metrics: SimSummary['metrics'] = { transport, faulty: faulty ?? 'none' }

  const cluster = await Cluster.start({
    nodes, transport, seed: options.seed, persist: true,
    plugins: [new URL('../bft/bench-ops.ts', import.meta.url).href],
    onStarted: (done) => { options.progress(done, nodes + 3) }
  })
  try {
    await cluster.introduce()
    const addresses = cluster.nodes.flatMap(n => n.addresses())
    await Promise.all(cluster.nodes.map(async n => { await n.invoke('bft.connect', { addresses }) }))
    const members = cluster.nodes.map(n => n.peerId)
    const faultyIndex = faulty === undefined ? -1 : cluster.rng.int(0, nodes - 1)
    const honest = cluster.nodes.filter((_, i) => i !== faultyIndex)
    if (faultyIndex >= 0) cluster.timeline.record('fault', `${cluster.nodes[faultyIndex]!.name} is ${faulty}`)

    const cpu = async (): Promise<number> => (await Promise.all(cluster.nodes.map(async n => await n.invoke('bft.cpu', {}) as number))).reduce((a, b) => a + b, 0)
    /** Background CPU per node per second over an idle window: the floor under every number below. */
    const idleCpu = async (): Promise<number> => {
      const idleStart = await cpu()
      await new Promise(resolve => setTimeout(resolve, IDLE_SAMPLE_MS))
      return Math.round((await cpu() - idleStart) / (IDLE_SAMPLE_MS / 1000) / nodes * 10) / 10
    }
    if (transport === 'tcp') metrics.idle_cpu_ms_per_s_per_node_no_group = await idleCpu()
    // Group "clean": every member honest. Latency of sequential proposals, then throughput.
    await Promise.all(cluster.nodes.map(async n => { await n.invoke('bft.join', { name: 'clean', members, timeouts }) }))
    if (transport === 'tcp') metrics.idle_cpu_ms_per_s_per_node = await idleCpu()
    const cpuBefore = transport === 'tcp' ? await cpu() : 0
    const latencies: number[] = []
    for (let i = 0; i < samples; i++) {
      latencies.push(await honest[i % honest.length]!.invoke('bft.propose', { name: 'clean', value: { sample: i } }) as number)
    }
    options.progress(nodes + 1, nodes + 3)
    Object.assign(metrics, latencySummary(latencies), { samples })
    // One process per node: CPU per sequential decision, summed over members (signing, verifying, noise, yamux, fsync calls).
    if (transport === 'tcp') metrics.cpu_ms_per_decision = Math.round((await cpu() - cpuBefore) / samples * 100) / 100
    const clean = await load(cluster, honest, 'clean', loadMs, concurrency)
    metrics.decisions_per_s = clean.perS
    metrics.heights_per_s = clean.heightsPerS
    Object.assign(metrics, prefixed('load_', latencySummary(clean.latencies)))
    failures.push(...await checkLogs(honest, 'clean', metrics))
    options.progress(nodes + 2, nodes + 3)

    if (faulty !== undefined) {
      const mode = faulty === 'silent' ? 'silent' : 'both'
      await Promise.all(cluster.nodes.map(async (n, i) => { await n.invoke('bft.join', { name: 'faulty', members, timeouts, mode: i === faultyIndex ? mode : undefined }) }))
      const withFault = await load(cluster, honest, 'faulty', loadMs, concurrency)
      metrics.faulty_decisions_per_s = withFault.perS
      metrics.faulty_heights_per_s = withFault.heightsPerS
      Object.assign(metrics, prefixed('faulty_load_', latencySummary(withFault.latencies)))
      const ratio = clean.perS > 0 ? withFault.perS / clean.perS : 0
      metrics.faulty_throughput_ratio = Math.round(ratio * 1000) / 1000
      metrics.faulty_goal_met = ratio >= FAULTY_THROUGHPUT_RATIO_GOAL
      failures.push(...await checkLogs(honest, 'faulty', metrics))
      if (faulty === 'byzantine') {
        const evidence = await Promise.all(honest.map(async n => (await n.invoke('bft.log', { name: 'faulty' }) as LogReport).evidence))
        metrics.evidence_kept = evidence.reduce((a, b) => a + b, 0)
      }
    }
    options.progress(nodes + 3, nodes + 3)
    options.log(`bft n=${nodes}${faulty === undefined ? '' : ` faulty=${faulty}`}: p50 ${String(metrics.p50_ms)} ms, p99 ${String(metrics.p99_ms)} ms, ${String(metrics.decisions_per_s)} decisions/s`)
    return { scenario: 'bft', nodes, seed: options.seed, ok: failures.length === 0, metrics, failures, latenciesMs: latencies, timeline: cluster.timeline.entries() }
  } finally {
    await cluster.stop()
  }
}

function prefixed (prefix: string, values: Record<string, number | null>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${prefix}${k}`, v]))
}

/** Closed-loop load on every honest member at once; committed values per second across the group. */
async function load (cluster: Cluster, honest: Cluster['nodes'], name: string, loadMs: number, concurrency: number): Promise<{ perS: number, heightsPerS: number, latencies: number[] }> {
  const before = (await honest[0]!.invoke('bft.log', { name }) as LogReport).status.committedHeight
  const results = await Promise.all(honest.map(async n => await n.invoke('bft.load', { name, durationMs: loadMs, concurrency }) as LoadResult))
  const after = (await honest[0]!.invoke('bft.log', { name }) as LogReport).status.committedHeight
  const committed = results.reduce((sum, r) => sum + r.committed, 0)
  cluster.timeline.record('load', `${name}: ${committed} values in ${after - before} heights over ${loadMs} ms`)
  const round = (x: number): number => Math.round(x * 10) / 10
  return { perS: round(committed / (loadMs / 1000)), heightsPerS: round((after - before) / (loadMs / 1000)), latencies: results.flatMap(r => r.latencies) }
}

/** Honest members' logs must be prefixes of one another and verify from genesis. */
async function checkLogs (honest: Cluster['nodes'], name: string, metrics: SimSummary['metrics']): Promise<string[]> {
  const reports = await Promise.all(honest.map(async n => await n.invoke('bft.log', { name }) as LogReport))
  const failures: string[] = []
  metrics[`${name}_heights`] = reports[0]!.hashes.length
  metrics[`${name}_heights_after_round_0`] = reports[0]!.laterRounds
  const longest = reports.reduce((a, b) => (b.hashes.length > a.hashes.length ? b : a))
  reports.forEach((r, i) => {
    if (!r.chainOk) failures.push(`${name}: log of ${honest[i]!.name} does not verify from genesis`)
    if (r.hashes.some((h, k) => h !== longest.hashes[k])) failures.push(`${name}: log of ${honest[i]!.name} diverges from the longest honest log`)
  })
  return failures
}
