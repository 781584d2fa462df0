// `mesh`: N nodes join through one bootstrap node. Measures when every node reached the
// bootstrap node, when GossipSub meshes formed, and when (if) connectivity became full,
// then checks the mesh works by publishing seeded probe messages and timing their delivery.

import { fromString, toString } from 'uint8arrays'
import { rssBaseline, rssPerNodeMetrics } from '../harness/rss.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { nonNegativeFlag, positiveIntegerFlag } from '../flags.ts'
import { Cluster } from '../harness/cluster.ts'
import { DeliveryMatrix, sleep } from '../harness/delivery.ts'
import { clusterSummary } from '../harness/summary.ts'
import { snapshots } from '../harness/connectivity.ts'
import type { NodeSnapshot } from '../harness/ops.ts'
import { wallClockMs } from '../harness/ops.ts'
import { latencySummary } from '../stats.ts'
import { faultOptions } from '../harness/fault-options.ts'
import { inProcessCapped } from '../harness/in-process.ts'

const NODES_DEFAULT = 10
const TOPIC = 'agentmesh/sim/mesh'
/** Full connectivity target: each node linked to min(N-1, this) peers (GossipSub's D_lo is 4). */
const TARGET_PEERS_DEFAULT = 4
/** How long to wait for the milestones before reporting the missing ones as not reached. */
const MILESTONE_TIMEOUT_MS = 30_000
/** After every node reached the bootstrap node, how long the other milestones may still take. */
const SETTLE_MS_DEFAULT = 5_000
/** How long probes may take to arrive after the last one was published. */
const DELIVERY_WAIT_MS = 5_000

/** Full connectivity: through node.peers() when nodes have it, else through open connections. */
function fullyConnected (all: NodeSnapshot[], target: number): boolean {
  const ids = all.map(s => s.peerId)
  return all.every((s) => {
    if (s.peers !== null) {
      const alive = new Set(s.peers.filter(p => p.status === 'alive').map(p => p.peerId))
      return ids.every(id => id === s.peerId || alive.has(id))
    }
    return s.connections.length >= target
  })
}

/** Run the mesh scenario. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const nodes = options.nodes ?? NODES_DEFAULT
  if (nodes < 2) throw new RangeError(`mesh needs at least 2 nodes, got ${nodes}`)
  const probes = options.messages ?? 2 * nodes
  const ratePerS = options.rate ?? 50
  const targetPeers = Math.min(nodes - 1, positiveIntegerFlag(options, 'target-peers', TARGET_PEERS_DEFAULT))
  const settleMs = nonNegativeFlag(options, 'settle-ms', SETTLE_MS_DEFAULT)
  const total = nodes + probes
  const faults = faultOptions(options)
  const failures: string[] = []
  const metrics: SimSummary['metrics'] = {}
  const latenciesMs: number[] = []
  const matrix = new DeliveryMatrix(nodes)

  const baseline = rssBaseline() // before any node exists: what the process costs with none
  const cluster = await Cluster.start({ nodes, transport: options.transport, seed: options.seed, latencyMs: faults.latencyMs, onStarted: (done) => { options.progress(done, total) } })
  try {
    await Promise.all(cluster.nodes.map(async n => { await n.subscribe(TOPIC) }))
    const bootstrapId = cluster.nodes[0]!.peerId
    // Past 32 in-process nodes, connections are capped and a full
    // bootstrap node refuses the rest (they join through other peers): then "joined" means
    // connected to the bootstrap node or, once it is full, to anyone.
    const capped = inProcessCapped(options.transport, nodes)
    const joined = (s: NodeSnapshot): boolean => s.peerId === bootstrapId || s.connections.includes(bootstrapId) || (capped && s.connections.length > 0)
    // One polling loop records the first time each milestone holds. It ends when all hold, at
    // MILESTONE_TIMEOUT_MS, or `settle-ms` after every node reached the bootstrap node.
    const milestones: Array<{ key: string, label: string, holds: (all: NodeSnapshot[]) => boolean }> = [
      { key: 'bootstrap_ms', label: capped ? 'every node joined (bootstrap node or, once it is full, any peer)' : 'every node connected to the bootstrap node', holds: all => all.every(joined) },
      { key: 'mesh_formed_ms', label: 'every node has a GossipSub mesh peer', holds: all => all.every(s => (s.meshPeers[TOPIC]?.length ?? 0) >= 1) },
      { key: 'full_connectivity_ms', label: `full connectivity: every node lists every other as alive (nodes without membership: ≥${targetPeers} connections each)`, holds: all => fullyConnected(all, targetPeers) },
      { key: 'complete_graph_ms', label: 'every node connected to every other', holds: all => all.every(s => s.connections.length >= nodes - 1) }
    ]
    for (const m of milestones) metrics[m.key] = null
    let last: NodeSnapshot[] = []
    await cluster.waitUntil(async () => {
      last = await snapshots(cluster)
      for (const m of milestones) {
        if (metrics[m.key] === null && m.holds(last)) {
          metrics[m.key] = Math.round(cluster.timeline.elapsedMs())
          cluster.timeline.record('phase', m.label)
        }
      }
      const bootstrapAt = metrics.bootstrap_ms as number | null
      return milestones.every(m => metrics[m.key] !== null) || (bootstrapAt !== null && cluster.timeline.elapsedMs() > bootstrapAt + settleMs)
    }, { timeoutMs: MILESTONE_TIMEOUT_MS, pollMs: 25 })
    if (metrics.bootstrap_ms === null) failures.push(`not every node ${capped ? 'joined' : 'connected to the bootstrap node'} within ${MILESTONE_TIMEOUT_MS} ms`)
    // Without discovery a leaf only knows the hub, and the hub keeps just D of them in its mesh
    // (GossipSub prunes above D_hi), so unmeshed leaves are a finding to report, not a failure.
    metrics.nodes_without_mesh_peer = last.filter(s => (s.meshPeers[TOPIC]?.length ?? 0) === 0).length

    // ---- probes: seeded senders publish; every other node should receive each probe once
    const rng = cluster.rng.fork()
    const interval = 1000 / Math.max(1, ratePerS)
    for (let k = 0; k < probes; k++) {
      const sender = rng.int(0, nodes - 1)
      for (let r = 0; r < nodes; r++) if (r !== sender) matrix.attempt(sender, r)
      const body = JSON.stringify({ k, sender, sentAtMs: wallClockMs() })
      await cluster.nodes[sender]!.publish(TOPIC, fromString(body))
      options.progress(nodes + k + 1, total)
      await sleep(interval)
    }
    const seen = new Set<string>()
    const expected = probes * (nodes - 1)
    await cluster.waitUntil(async () => {
      const drained = await Promise.all(cluster.nodes.map(async n => await n.drainReceived()))
      drained.forEach(({ messages }, receiver) => {
        for (const m of messages) {
          if (m.topic !== TOPIC) continue
          const probe = JSON.parse(toString(m.data)) as { k: number, sender: number, sentAtMs: number }
          const key = `${probe.k}/${receiver}`
          if (seen.has(key)) continue
          seen.add(key)
          matrix.deliver(probe.sender, receiver)
          latenciesMs.push(m.receivedAtMs - probe.sentAtMs)
        }
      })
      return seen.size >= expected
    }, { timeoutMs: DELIVERY_WAIT_MS, pollMs: 100 })
    const delivery = matrix.ratio()
    if (delivery < 0.999) failures.push(`probe delivery ${delivery.toFixed(4)} < 0.999 (${seen.size} of ${expected})`)

    cluster.stopFlapping()
    const final = await snapshots(cluster)
    const connections = final.map(s => s.connections.length)
    const degrees = final.map(s => s.meshPeers[TOPIC]?.length ?? 0)
    Object.assign(metrics, {
      target_peers: targetPeers,
      discovery: final.some(s => s.peers !== null) ? 'node.peers()' : 'connections only',
      connections_min: Math.min(...connections),
      connections_avg: Math.round(100 * connections.reduce((a, b) => a + b, 0) / nodes) / 100,
      connections_max: Math.max(...connections),
      mesh_degree_min: Math.min(...degrees),
      mesh_degree_avg: Math.round(100 * degrees.reduce((a, b) => a + b, 0) / nodes) / 100,
      probes,
      delivery: Math.round(delivery * 10_000) / 10_000,
      ...latencySummary(latenciesMs),
      transport: options.transport
    })
    // one process holds every node in memory mode, so RSS per node is meaningful there
    // (growth of this process's RSS above the baseline taken before the nodes started, divided by N)
    if (options.transport === 'memory') Object.assign(metrics, rssPerNodeMetrics(baseline, nodes))
  } finally {
    await cluster.stop()
  }
  return clusterSummary(cluster, { scenario: 'mesh', seed: options.seed, metrics, failures, latenciesMs, matrix })
}
