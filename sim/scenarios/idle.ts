// `npm run sim -- idle [--nodes N] [--settle-ms S] [--measure-ms M] [--transport memory|tcp] --json`:
// what an idle node costs. N full agent nodes (every service: health announces, GossipSub
// heartbeats, DHT refresh, anti-entropy) join one mesh in this process (over memory or, with
// `--transport tcp`, loopback TCP; still one process, since its CPU is what is read), settle, then sit idle
// while the process's CPU time and RSS are measured. CPU is per node (process CPU / N); memory is
// RSS above a baseline taken before any node started (sim/harness/rss.ts), per node.

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { positiveIntegerFlag } from '../flags.ts'
import { rssBaseline, rssPerNodeMetrics } from '../harness/rss.ts'

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
