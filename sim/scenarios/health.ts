// `npm run sim -- health`: N in-process nodes (memory transport) each bootstrap from one
// random earlier node; measures discovery convergence, then crashes nodes abruptly and
// measures how long survivors take to mark them suspect and dead (SPEC health H3, H4, H8).

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { latencySummary, quantile } from '../stats.ts'
import { HEALTH_ANNOUNCES_PER_INTERVAL_MAX } from '../../protocols/health/core.ts'
import type { SimOptions, SimSummary, TimelineEntry } from '../scenario.ts'
import { positiveIntegerFlag } from '../flags.ts'

/** Give up on convergence or detection after this long: something is broken, not slow. */
const SCENARIO_WAIT_MAX_MS = 120_000
/** How often the scenario samples every node's peers(). */
const SAMPLE_MS = 50

/**
 * Announcements received per base interval by the whole PROCESS that the default
 * `--announces-max` aims at: every node receives and verifies every announcement, so N nodes in
 * one process pay N × announcesPerIntervalMax. With the node default (32), 50 nodes meant 1,600
 * signature checks plus GossipSub forwarding per second on one event loop, and the mesh never
 * converged on the shared 2-core machine.
 */
const PROCESS_ANNOUNCES_PER_INTERVAL = 400
/** Lowest default `--announces-max`: below this, intervals hit HEALTH_INTERVAL_SCALE_MAX anyway. */
const ANNOUNCES_MAX_FLOOR = 4

/**
 * Run the scenario: `--nodes` (default 20), `--rounds` crashes (default 1), `--interval-ms` announce
 * interval, `--announces-max` mesh-wide announcements per interval (default: the node default 32
 * up to 12 nodes, then PROCESS_ANNOUNCES_PER_INTERVAL / N, at least 4; SPEC health H9).
 */
export async function run (options: SimOptions): Promise<SimSummary> {
  const count = options.nodes ?? 20
  const crashes = Math.min(options.rounds ?? 1, count - 2)
  const intervalMs = positiveIntegerFlag(options, 'interval-ms', 1000)
  const announcesMax = Number(options.extra['announces-max'] ?? Math.min(HEALTH_ANNOUNCES_PER_INTERVAL_MAX, Math.max(ANNOUNCES_MAX_FLOOR, Math.floor(PROCESS_ANNOUNCES_PER_INTERVAL / count))))
  const rng = createRng(options.seed)
  const timeline: TimelineEntry[] = []
  const t0 = performance.now()
  const at = (): number => Math.round(performance.now() - t0)
  const nodes: AgentNode[] = []
  // On a shared machine the process can be starved; report how late timers ran, next to the times.
  const lag = { maxMs: 0, lastMs: performance.now() }
  const lagTimer = setInterval(() => {
    const t = performance.now()
    lag.maxMs = Math.max(lag.maxMs, t - lag.lastMs - SAMPLE_MS)
    lag.lastMs = t
  }, SAMPLE_MS)
  try {
    for (let i = 0; i < count; i++) {
      const boot = i === 0 ? [] : [nodes[rng.int(0, i - 1)]!.addresses()[0]!]
      nodes.push(await createAgentNode({ transport: 'memory', name: `n${i}`, peers: boot, healthIntervalMs: intervalMs, healthAnnouncesPerIntervalMax: announcesMax }))
      options.progress(i + 1, count)
    }
    const startedMs = performance.now()
    timeline.push({ atMs: at(), kind: 'started', detail: `${count} nodes` })
    const converged = await until(() => nodes.every(n => n.peers().filter(p => p.status === 'alive').length === count - 1))
    const convergeMs = performance.now() - startedMs
    timeline.push({ atMs: at(), kind: 'converged', detail: converged ? 'every node lists every other alive' : 'timed out' })
    const peersConnected = nodes.map(n => n.peers().filter(p => p.connected).length)
    options.log(`converged=${String(converged)} in ${Math.round(convergeMs)} ms; connected peers per node p50=${quantile(peersConnected, 0.5)} max=${Math.max(...peersConnected)}`)

    const victims: AgentNode[] = []
    while (victims.length < crashes) {
      const pick = nodes[rng.int(1, count - 1)]!
      if (!victims.includes(pick)) victims.push(pick)
    }
    const survivors = nodes.filter(n => !victims.includes(n))
    const suspectMs: number[] = []
    const deadMs: number[] = []
    const crashedAt = performance.now()
    for (const victim of victims) {
      await victim.health.stop({ goodbye: false }) // a crash says no goodbye
      void victim.libp2p.stop()
      timeline.push({ atMs: at(), kind: 'crash', detail: victim.name })
    }
    const pending = new Set(survivors.flatMap(s => victims.map(v => `${s.peerId}/${v.peerId}`)))
    const suspected = new Set<string>()
    // Timestamps come from the detector's own events, not from this loop's (possibly late) polls.
    for (const survivor of survivors) {
      survivor.health.addEventListener('peer:status', (e) => {
        const key = `${survivor.peerId}/${e.detail.peerId}`
        if (!pending.has(key)) return
        if (e.detail.status !== 'alive' && !suspected.has(key)) { suspected.add(key); suspectMs.push(performance.now() - crashedAt) }
        if (e.detail.status === 'dead') { pending.delete(key); deadMs.push(performance.now() - crashedAt) }
      })
    }
    const detected = await until(() => pending.size === 0)
    timeline.push({ atMs: at(), kind: 'detected', detail: detected ? 'every survivor marked every victim dead' : 'timed out' })
    const connectedAfter = survivors.map(n => n.peers().filter(p => p.connected).length)
    const falseDeaths = survivors.reduce((sum, s) => sum + s.peers().filter(p => p.status === 'dead' && !victims.some(v => v.peerId === p.peerId)).length, 0)
    const suspect = latencySummary(suspectMs)
    const dead = latencySummary(deadMs)
    const config = nodes[0]!.health.config
    return {
      scenario: 'health',
      nodes: count,
      seed: options.seed,
      ok: converged && detected && falseDeaths === 0,
      metrics: {
        interval_ms: intervalMs,
        announces_max: announcesMax,
        suspect_after_ms: config.suspectAfterMs,
        dead_after_ms: config.deadAfterMs,
        converge_ms: Math.round(convergeMs),
        connected_peers_p50: quantile(peersConnected, 0.5),
        connected_peers_max: Math.max(...peersConnected),
        connected_peers_end_p50: quantile(connectedAfter, 0.5),
        connected_peers_end_max: Math.max(...connectedAfter),
        discovery_dials: nodes.reduce((sum, n) => sum + n.health.stats().dials, 0),
        crashes,
        suspect_p50_ms: suspect.p50_ms,
        suspect_max_ms: suspect.max_ms,
        dead_p50_ms: dead.p50_ms,
        dead_p99_ms: dead.p99_ms,
        dead_max_ms: dead.max_ms,
        false_deaths: falseDeaths,
        event_loop_lag_max_ms: Math.round(lag.maxMs),
        rss_mb: Math.round(process.memoryUsage().rss / 1e6)
      },
      timeline
    }
  } finally {
    clearInterval(lagTimer)
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}

async function until (condition: () => boolean): Promise<boolean> {
  const deadline = performance.now() + SCENARIO_WAIT_MAX_MS
  while (performance.now() < deadline) {
    if (condition()) return true
    await new Promise(resolve => setTimeout(resolve, SAMPLE_MS))
  }
  return false
}
