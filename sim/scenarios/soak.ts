// `npm run sim -- soak --minutes M [--nodes 4] [--rate 29] [--warmup-minutes W] [--snapshot-dir D] --json`:
// steady state. N full agent nodes, each with its own LevelDB data dir, share this process over
// the memory transport under a light steady load: about `rate` operations per second, a seeded
// mix of events published (every node subscribes and reads them), writes to a Raft group of all
// the nodes (through any member) and DHT puts, all on bounded key sets so the stored state stops
// growing, except the event log, which lives on disk. After the warm-up the heap (right after a
// forced full GC) and the RSS are sampled every ~10 s, and their least-squares slopes are
// reported in MB/min and as % per hour of the fitted line's value at the first sample: a node
// that retains nothing per operation shows a flat line. With `--snapshot-dir`, V8 heap snapshots are written at the end of
// the warm-up and at the end of the run, to diff with `node sim/heap-diff.ts a b`.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeHeapSnapshot } from 'node:v8'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { SimUsageError } from '../flags.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { describeError } from '../../protocols/kit/errors.ts'
import { forceGc } from '../harness/gc.ts'
import { leastSquaresFit } from '../stats.ts'

/** Nodes when `--nodes` is absent: the measurement (a small team, a Raft group of 4). */
export const SOAK_NODES_DEFAULT = 4
/** Operations per second when `--rate` is absent: the "light steady load". */
export const SOAK_RATE_DEFAULT = 29
/** Warm-up cap (2 min): start-up allocations, JIT and caches filling are over by then. */
export const SOAK_WARMUP_MS_MAX = 2 * 60_000
/** Warm-up share of a short run (20%), when that is less than the cap. */
export const SOAK_WARMUP_SHARE = 0.2
/** Sampling period (10 s): 6 points a minute, several GossipSub heartbeats and health announces apart. */
export const SOAK_SAMPLE_MS = 10_000
/** Samples a short run aims for at least (its period shrinks below SOAK_SAMPLE_MS to get them). */
export const SOAK_SAMPLES_MIN = 10
/** Operations in flight at once: past this the mesh is not keeping up, and an op is skipped (counted) rather than queued without bound. */
export const SOAK_IN_FLIGHT_MAX = 64
/** Distinct Raft keys written: the state machine stays this size, so what grows is not data. */
export const SOAK_RAFT_KEYS = 256
/** Distinct DHT keys per node: as above, for the records each node owns and republishes. */
export const SOAK_DHT_KEYS_PER_NODE = 64
/** Filler in every payload (64 B): small, like an agent's status update. */
const PAYLOAD_PAD = 'x'.repeat(64)
/** Deadline of one operation (10 s): far above a healthy mesh's latency; a miss is an error. */
const OP_TIMEOUT_MS = 10_000
/** Share of each operation kind in the mix (events, raft, dht). */
const MIX = { events: 0.4, raft: 0.3, dht: 0.3 } as const
/** The load loop issues what is due this often (100 ms): smooth enough at tens of ops/s. */
const TICK_MS = 100
/**
 * Missed deadlines tolerated, as a share of operations, before the run is not `ok` (10%): on a
 * shared, overloaded machine a few operations miss OP_TIMEOUT_MS; far more means the mesh is stuck.
 */
const TIMEOUT_SHARE_MAX = 0.1

const MB = 1024 * 1024
const TOPIC = 'soak'
const GROUP = 'soak'

type OpKind = keyof typeof MIX

interface Sample { atMs: number, heapMb: number, rssMb: number, externalMb: number, arrayBuffersMb: number }

/** A positive number of minutes (fractions allowed: 0.2 is 12 s). */
function minutesFlag (options: SimOptions, flag: string, fallback: number | undefined): number | undefined {
  const raw = options.extra[flag]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (raw === true || !Number.isFinite(n) || n <= 0) throw new SimUsageError(`--${flag} must be a positive number of minutes, got "${String(raw)}"`)
  return n
}

const round2 = (x: number): number => Math.round(x * 100) / 100

/** A deadline missed (TimeoutError, or an abort caused by a timeout), anywhere in the cause chain. */
function isDeadline (err: unknown): boolean {
  for (let e = err as { name?: string, message?: string, cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.name === 'TimeoutError' || /timed? ?out|timeout|not committed within|no leader within/i.test(e.message ?? '')) return true
  }
  return false
}

/** Heap and RSS after a full collection, in MB. */
function sample (atMs: number): Sample {
  forceGc()
  const usage = process.memoryUsage()
  return { atMs, heapMb: usage.heapUsed / MB, rssMb: usage.rss / MB, externalMb: usage.external / MB, arrayBuffersMb: usage.arrayBuffers / MB }
}

/**
 * Slope (MB/min) and growth per hour of one series, as a % of the fitted line's value at the
 * first sample: one sample can be MBs off (operations in flight hold memory), the line is not.
 */
function trend (samples: Sample[], pick: (s: Sample) => number): { start: number | null, end: number | null, slope: number | null, pctPerHour: number | null } {
  if (samples.length === 0) return { start: null, end: null, slope: null, pctPerHour: null }
  const fit = leastSquaresFit(samples.map((s) => ({ x: s.atMs / 60_000, y: pick(s) })))
  const base = fit === null ? null : fit.intercept + fit.slope * samples[0]!.atMs / 60_000
  return {
    start: round2(pick(samples[0]!)),
    end: round2(pick(samples.at(-1)!)),
    slope: fit === null ? null : Math.round(fit.slope * 1000) / 1000,
    pctPerHour: fit === null || base === null || base <= 0 ? null : round2(100 * fit.slope * 60 / base)
  }
}

/** Run the steady load and measure memory after warm-up. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const count = options.nodes ?? SOAK_NODES_DEFAULT
  const minutes = minutesFlag(options, 'minutes', undefined)
  if (minutes === undefined) throw new SimUsageError('--minutes is required: how long the load runs, e.g. --minutes 20')
  const durationMs = minutes * 60_000
  const warmupMs = (minutesFlag(options, 'warmup-minutes', undefined) ?? Math.min(SOAK_WARMUP_MS_MAX, SOAK_WARMUP_SHARE * durationMs) / 60_000) * 60_000
  if (warmupMs >= durationMs) throw new SimUsageError(`--warmup-minutes must be shorter than --minutes (${minutes})`)
  const rate = options.rate ?? SOAK_RATE_DEFAULT
  if (rate <= 0) throw new SimUsageError(`--rate must be positive, got ${rate}`)
  const snapshotDir = typeof options.extra['snapshot-dir'] === 'string' ? options.extra['snapshot-dir'] : undefined
  const sampleMs = Math.min(SOAK_SAMPLE_MS, (durationMs - warmupMs) / SOAK_SAMPLES_MIN)
  const rng = createRng(options.seed)

  const dirs: string[] = []
  const nodes: AgentNode[] = []
  const done: Record<OpKind, number> = { events: 0, raft: 0, dht: 0 }
  const failed: Record<OpKind, number> = { events: 0, raft: 0, dht: 0 }
  /** Failures that were deadlines (an operation not done within OP_TIMEOUT_MS): a loaded machine, not a wrong answer. */
  let timeouts = 0
  let firstError: string | null = null
  let skipped = 0
  let inFlight = 0
  const delivered = new Array<number>(count).fill(0)
  const consumers: Array<Promise<void>> = []
  const stopConsumers = new AbortController()
  try {
    for (let i = 0; i < count; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), `agentmesh-soak-${i}-`))
      dirs.push(dataDir)
      nodes.push(await createAgentNode({ transport: 'memory', dataDir, name: `n${i}`, peers: i === 0 ? [] : [nodes[0]!.addresses()[0]!] }))
      options.progress(i + 1, count)
    }
    // Every node reads the topic, as agents following a shared feed would.
    for (let i = 0; i < count; i++) {
      const node = nodes[i]!
      consumers.push((async () => {
        for await (const _event of node.events.subscribe(TOPIC, { signal: stopConsumers.signal })) delivered[i]!++
      })().catch((err: unknown) => {
        if (!stopConsumers.signal.aborted) firstError ??= `subscription on n${i}: ${describeError(err)}`
      }))
    }
    const members = nodes.map((n) => n.peerId)
    await Promise.all(nodes.map(async (n) => { await n.groups.join(GROUP, { members }) }))
    await nodes[0]!.groups.get(GROUP).waitForLeader({ timeoutMs: 30_000 })
    options.log(`${count} nodes with data dirs up, raft group elected; ${rate} ops/s for ${minutes} min (warm-up ${round2(warmupMs / 60_000)} min, a sample every ${round2(sampleMs / 1000)} s)`)

    let seq = 0
    const operate = async (kind: OpKind): Promise<void> => {
      const i = seq++
      const node = nodes[rng.int(0, count - 1)]!
      if (kind === 'events') await node.events.publish(TOPIC, { type: 'status', data: { seq: i, pad: PAYLOAD_PAD } })
      else if (kind === 'raft') await node.groups.get(GROUP).kv.put(`k${rng.int(0, SOAK_RAFT_KEYS - 1)}`, `${i}:${PAYLOAD_PAD}`, { timeoutMs: OP_TIMEOUT_MS })
      else await node.state.put(`soak/${node.name}/${rng.int(0, SOAK_DHT_KEYS_PER_NODE - 1)}`, { seq: i, pad: PAYLOAD_PAD }, { timeoutMs: OP_TIMEOUT_MS })
    }
    const pick = (): OpKind => {
      const x = rng.float()
      return x < MIX.events ? 'events' : x < MIX.events + MIX.raft ? 'raft' : 'dht'
    }

    const samples: Sample[] = []
    const started = performance.now()
    let issued = 0
    let nextSampleMs = warmupMs
    let snapshots = 0
    while (true) {
      const elapsed = performance.now() - started
      if (elapsed >= durationMs) break
      const due = Math.floor((elapsed / 1000) * rate) - issued
      for (let k = 0; k < due; k++) {
        issued++
        if (inFlight >= SOAK_IN_FLIGHT_MAX) { skipped++; continue }
        const kind = pick()
        inFlight++
        operate(kind).then(() => { done[kind]++ }, (err: unknown) => {
          failed[kind]++
          if (isDeadline(err)) timeouts++
          else firstError ??= `${kind}: ${describeError(err)}`
        }).finally(() => { inFlight-- })
      }
      if (elapsed >= nextSampleMs) {
        if (samples.length === 0 && snapshotDir !== undefined) { writeHeapSnapshot(join(snapshotDir, 'soak-start.heapsnapshot')); snapshots++ }
        const s = sample(elapsed - warmupMs)
        samples.push(s)
        nextSampleMs += sampleMs
        options.log(`t=${round2(elapsed / 60_000)} min heap ${round2(s.heapMb)} MB rss ${round2(s.rssMb)} MB external ${round2(s.externalMb)} MB ops ${done.events + done.raft + done.dht} errors ${failed.events + failed.raft + failed.dht} in flight ${inFlight}`)
      }
      options.progress(Math.min(elapsed, durationMs), durationMs)
      await new Promise((resolve) => setTimeout(resolve, TICK_MS))
    }
    // Let the operations in flight finish, so their results count and the last sample holds none.
    const drainUntil = performance.now() + OP_TIMEOUT_MS + 1_000
    while (inFlight > 0 && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, TICK_MS))
    samples.push(sample(performance.now() - started - warmupMs))
    if (snapshotDir !== undefined) { writeHeapSnapshot(join(snapshotDir, 'soak-end.heapsnapshot')); snapshots++ }

    const heap = trend(samples, (s) => s.heapMb)
    const rss = trend(samples, (s) => s.rssMb)
    const external = trend(samples, (s) => s.externalMb)
    const arrayBuffers = trend(samples, (s) => s.arrayBuffersMb)
    const opsDone = done.events + done.raft + done.dht
    const errors = failed.events + failed.raft + failed.dht
    const metrics = {
      minutes,
      warmup_minutes: round2(warmupMs / 60_000),
      rate,
      ops_done: opsDone,
      ops_events: done.events,
      ops_raft: done.raft,
      ops_dht: done.dht,
      ops_skipped: skipped,
      errors,
      errors_timeout: timeouts,
      first_error: firstError,
      events_delivered_min: Math.min(...delivered),
      samples: samples.length,
      heap_start_mb: heap.start,
      heap_end_mb: heap.end,
      heap_slope_mb_per_min: heap.slope,
      heap_growth_pct_per_h: heap.pctPerHour,
      rss_start_mb: rss.start,
      rss_end_mb: rss.end,
      rss_slope_mb_per_min: rss.slope,
      rss_growth_pct_per_h: rss.pctPerHour,
      external_start_mb: external.start,
      external_end_mb: external.end,
      array_buffers_start_mb: arrayBuffers.start,
      array_buffers_end_mb: arrayBuffers.end,
      ...(snapshotDir !== undefined ? { heap_snapshots: snapshots } : {})
    }
    options.log(`soak: heap ${heap.start} → ${heap.end} MB (${heap.slope} MB/min, ${heap.pctPerHour} %/h), RSS ${rss.start} → ${rss.end} MB (${rss.slope} MB/min, ${rss.pctPerHour} %/h), ${opsDone} ops, ${errors} errors (${timeouts} deadlines missed)`)
    // Deadlines missed on a loaded machine are counted, not failed on; any other error is a failure.
    const ok = opsDone > 0 && errors - timeouts === 0 && timeouts <= TIMEOUT_SHARE_MAX * (opsDone + errors) && Math.min(...delivered) > 0
    return { scenario: 'soak', nodes: count, seed: options.seed, ok, metrics }
  } finally {
    stopConsumers.abort()
    await Promise.all(nodes.map(async (n) => { await n.stop() }))
    await Promise.allSettled(consumers)
    await Promise.all(dirs.map(async (d) => { await rm(d, { recursive: true, force: true }) }))
  }
}
