// `npm run sim -- idle [--nodes N] [--settle-ms S] [--measure-ms M] [--transport memory|tcp] --json`:
// what an idle node costs. N full agent nodes (every service: health announces, GossipSub
// heartbeats, DHT refresh, anti-entropy) join one mesh in this process (over memory or, with
// `--transport tcp`, loopback TCP; still one process, since its CPU is what is read), settle, then sit idle
// while the process's CPU time and RSS are measured. CPU is per node (process CPU / N); memory is
// RSS above a baseline taken before any node started (sim/harness/rss.ts), per node.
// `--daemons`: each node is instead an `npm run node` daemon in its own OS process (data dir,
// loopback TCP, HTTP API), as users run it; CPU and RSS are each process's own, read from /proc, and
// memory is RSS above an empty Node.js process of the same binary.

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { positiveIntegerFlag } from '../flags.ts'
import { rssBaseline, rssPerNodeMetrics } from '../harness/rss.ts'
import { DaemonMesh, emptyProcessRssBytes, procMissing, procSample, toMb } from '../harness/daemons.ts'
import { SimUsageError } from '../flags.ts'

/** Nodes when `--nodes` is absent: a small team of agents. */
export const IDLE_NODES_DEFAULT = 4
/** Wait after the last node joined before measuring (20 s): joins, identify and first announces are over. */
export const IDLE_SETTLE_MS_DEFAULT = 20_000
/** How long the idle mesh is measured (30 s): several announce intervals and GossipSub heartbeats. */
export const IDLE_MEASURE_MS_DEFAULT = 30_000

/** Start the mesh, let it settle, measure its idle CPU and memory. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const count = options.nodes ?? IDLE_NODES_DEFAULT
  const settleMs = positiveIntegerFlag(options, 'settle-ms', IDLE_SETTLE_MS_DEFAULT)
  const measureMs = positiveIntegerFlag(options, 'measure-ms', IDLE_MEASURE_MS_DEFAULT)
  const transport = options.transport
  if (options.extra.daemons === true) return await runDaemons(options, count, settleMs, measureMs)
  const baseline = rssBaseline()
  const nodes: AgentNode[] = []
  try {
    const listen = transport === 'tcp' ? ['/ip4/127.0.0.1/tcp/0'] : undefined
    for (let i = 0; i < count; i++) {
      nodes.push(await createAgentNode({ transport, name: `n${i}`, ...(listen !== undefined ? { listen } : {}), peers: i === 0 ? [] : [nodes[0]!.addresses()[0]!] }))
      options.progress(i + 1, count)
    }
    options.log(`${count} nodes started; settling ${settleMs} ms, then measuring ${measureMs} ms of idle`)
    await new Promise((resolve) => setTimeout(resolve, settleMs))
    const peersSeen = Math.min(...nodes.map((n) => n.peers().filter((p) => p.status === 'alive').length))
    const cpuBefore = process.cpuUsage()
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, measureMs))
    const cpu = process.cpuUsage(cpuBefore)
    const seconds = (performance.now() - started) / 1000
    const cpuMsPerS = (cpu.user + cpu.system) / 1000 / seconds
    const metrics = {
      transport,
      settle_ms: settleMs,
      measure_ms: measureMs,
      min_alive_peers: peersSeen,
      cpu_ms_per_s_process: Math.round(cpuMsPerS * 10) / 10,
      cpu_ms_per_s_per_node: Math.round(cpuMsPerS / count * 10) / 10,
      ...rssPerNodeMetrics(baseline, count)
    }
    options.log(`idle: ${metrics.cpu_ms_per_s_per_node} ms of CPU per second per node, ${metrics.rss_mb_per_node_above_baseline} MB RSS per node above the ${metrics.rss_baseline_mb} MB baseline`)
    return { scenario: 'idle', nodes: count, seed: options.seed, ok: peersSeen === count - 1, metrics }
  } finally {
    await Promise.all(nodes.map(async (n) => { await n.stop() }))
  }
}

/** `--daemons`: the same idle mesh as separate `npm run node` processes, each measured from /proc. */
async function runDaemons (options: SimOptions, count: number, settleMs: number, measureMs: number): Promise<SimSummary> {
  const missing = procMissing()
  if (missing !== null) throw new SimUsageError(`--daemons: ${missing}`)
  const emptyRss = await emptyProcessRssBytes()
  const mesh = new DaemonMesh()
  try {
    await mesh.start(count, (i) => { options.progress(i + 1, count) })
    options.log(`${count} daemons started; settling ${settleMs} ms, then measuring ${measureMs} ms of idle`)
    await new Promise((resolve) => setTimeout(resolve, settleMs))
    const before = mesh.daemons.map((d) => procSample(d.pid))
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, measureMs))
    const after = mesh.daemons.map((d) => procSample(d.pid))
    const seconds = (performance.now() - started) / 1000
    const alive = await mesh.alivePeers()
    const cpuPerS = after.map((a, i) => (a.cpuMs - before[i]!.cpuMs) / seconds)
    const rssAbove = after.map((a) => Math.max(0, a.rssBytes - emptyRss))
    const round1 = (x: number): number => Math.round(x * 10) / 10
    const metrics = {
      transport: 'tcp',
      daemons: true,
      settle_ms: settleMs,
      measure_ms: measureMs,
      min_alive_peers: Math.min(...alive),
      cpu_ms_per_s_per_node: round1(cpuPerS.reduce((a, b) => a + b, 0) / count),
      cpu_ms_per_s_max: round1(Math.max(...cpuPerS)),
      rss_baseline_mb: toMb(emptyRss),
      rss_mb_per_node_above_baseline: toMb(rssAbove.reduce((a, b) => a + b, 0) / count),
      rss_mb_max: toMb(Math.max(...after.map((a) => a.rssBytes)))
    }
    options.log(`idle daemons: ${metrics.cpu_ms_per_s_per_node} ms of CPU per second per process (max ${metrics.cpu_ms_per_s_max}), ${metrics.rss_mb_per_node_above_baseline} MB RSS per process above the ${metrics.rss_baseline_mb} MB empty process`)
    return { scenario: 'idle', nodes: count, seed: options.seed, ok: Math.min(...alive) === count - 1, metrics }
  } finally {
    await mesh.stop()
  }
}
