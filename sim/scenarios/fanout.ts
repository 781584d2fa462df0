// Fan-out benchmark: N real nodes in one process on the memory transport (Noise + Yamux as in
// production); one publishes M events of B bytes at R/s, every node subscribes. `--raw` runs
// the same harness on bare @libp2p/gossipsub with default options, for comparison;
// `--baseline raw` runs both back to back on the same connection graph and prints the ratios.

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import type { MeshLibp2p } from '../../src/libp2p.ts'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub, StrictNoSign, StrictSign } from '@libp2p/gossipsub'
import type { GossipsubOpts } from '@libp2p/gossipsub'
import { createRng } from '../../protocols/kit/rng.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import { latencySummary } from '../stats.ts'
import { inProcessNodeOptions } from '../harness/in-process.ts'
import { rssBaseline, rssPerNodeMetrics } from '../harness/rss.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { loadavg } from 'node:os'

/** Earlier nodes each new node dials: enough for a mesh of degree D to form. */
const DIALS_PER_NODE = 4
/** Each dial's deadline (setup of hundreds of nodes loads the process). */
const DIAL_TIMEOUT_MS = 30_000
/** How long to wait for the gossip mesh before publishing anyway. */
const MESH_WAIT_MS = 30_000
/** How long after the last publish to wait for stragglers. */
const DRAIN_WAIT_MS = 15_000
/** How long the warmed-up, idle mesh is measured before publishing (its CPU per second). */
const IDLE_MEASURE_MS = 3_000
/** GossipSub's default D_lo: the mesh size a heartbeat grafts up to, and what warm-up waits for. */
const MESH_DLO = 4
const TOPIC = 'fanout'

interface Member {
  libp2p: MeshLibp2p
  stop: () => Promise<void>
}

/** Gossip options from flags: `--sign strict|none`, `--d D`, `--gossip-heartbeat-ms H`. */
function gossipOverrides (options: SimOptions): Partial<GossipsubOpts> {
  const out: Partial<GossipsubOpts> = {}
  const sign = options.extra.sign
  if (sign === 'none') out.globalSignaturePolicy = StrictNoSign
  else if (sign === 'strict') out.globalSignaturePolicy = StrictSign
  const d = Number(options.extra.d)
  if (Number.isFinite(d) && d > 0) Object.assign(out, { D: d, Dlo: Math.max(1, d - 2), Dhi: d * 2, Dout: Math.min(2, Math.floor(d / 2)) })
  const heartbeat = Number(options.extra['gossip-heartbeat-ms'])
  if (Number.isFinite(heartbeat) && heartbeat > 0) out.heartbeatInterval = heartbeat
  return out
}

/** A bare libp2p host with default GossipSub: the `--raw` baseline (no DHT, no agentmesh services). */
async function startRaw (gossipsubOverrides: Partial<GossipsubOpts>): Promise<Member> {
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createLibp2p({
    privateKey,
    addresses: { listen: [`/memory/raw-${peerIdFromPrivateKey(privateKey).toString()}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub(gossipsubOverrides) }
  })
  return { libp2p: libp2p as unknown as MeshLibp2p, stop: async () => { await libp2p.stop() } }
}

/**
 * Dial `from` to DIALS_PER_NODE of the earlier members, picked by the seeded rng. A member at its
 * connection cap refuses inbound connections (in-process runs cap connections, see
 * harness/in-process.ts), so a refused pick is replaced by another until every earlier member was tried.
 */
async function dialEarlier (from: Member, earlier: Member[], rng: Rng, log: (line: string) => void): Promise<void> {
  const candidates = [...earlier]
  let connected = 0
  while (connected < DIALS_PER_NODE && candidates.length > 0) {
    const to = candidates.splice(rng.int(0, candidates.length - 1), 1)[0]!
    try {
      await from.libp2p.dial(to.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      connected++
    } catch (err) {
      log(`dial from ${from.libp2p.peerId.toString().slice(-6)} to ${to.libp2p.peerId.toString().slice(-6)} (${to.libp2p.getConnections().length} connections) failed: ${(err as Error).message}`)
    }
  }
  if (connected === 0 && earlier.length > 0) log(`node ${from.libp2p.peerId.toString().slice(-6)} reached none of the ${earlier.length} earlier nodes`)
}

/** Distinct peers a node is connected to. */
function peersOf (m: Member): number {
  return new Set(m.libp2p.getConnections().map(c => c.remotePeer.toString())).size
}

/** Peers a node knows to be subscribed to a topic. */
function subscribers (m: Member, topic: string): number {
  return m.libp2p.services.pubsub.getSubscribers(topic).length
}

/** Peers in a node's gossip mesh for a topic (a GossipSub method its interface type omits). */
function meshPeers (m: Member, topic: string): string[] {
  return (m.libp2p.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(topic)
}

/** Each node that missed events, with what it was connected to at the end: what a reader needs to see why. */
function shortfalls (members: Member[], received: Array<Map<number, number>>, messages: number, topicId: string): string[] {
  const out: string[] = []
  for (let i = 1; i < members.length; i++) {
    const got = received[i]!.size
    if (got >= messages) continue
    const m = members[i]!
    out.push(`n${i}: ${got}/${messages} events, ${m.libp2p.getConnections().length} connections, ${meshPeers(m, topicId).length} mesh peers`)
  }
  return out
}

/** Connections as (dialer, target) member indexes, the dialer the later node: a graph another run can rebuild. */
type Edges = Array<[number, number]>

/** Every connection between members, once, as (later, earlier) index pairs. */
function edgesOf (members: Member[]): Edges {
  const index = new Map(members.map((m, i) => [m.libp2p.peerId.toString(), i]))
  const seen = new Set<string>()
  const out: Edges = []
  members.forEach((m, i) => {
    for (const c of m.libp2p.getConnections()) {
      const j = index.get(c.remotePeer.toString())
      if (j === undefined || j === i) continue
      const pair: [number, number] = i > j ? [i, j] : [j, i]
      const key = `${pair[0]}/${pair[1]}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push(pair)
    }
  })
  return out
}

/** Dial exactly the earlier members that `edges` connects to member `i`. */
async function dialEdges (i: number, members: Member[], edges: Edges, log: (line: string) => void): Promise<void> {
  for (const [from, to] of edges) {
    if (from !== i) continue
    try {
      await members[i]!.libp2p.dial(members[to]!.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
    } catch (err) {
      log(`dial n${i} → n${to} failed: ${(err as Error).message}`)
    }
  }
}

/** Profile this process's CPU from start() until stop() (node:inspector), written as a .cpuprofile for Chrome DevTools or a summing script. */
async function startProfile (path: string | undefined): Promise<{ stop: () => Promise<void> }> {
  if (path === undefined) return { stop: async () => {} }
  const { Session } = await import('node:inspector/promises')
  const { writeFile } = await import('node:fs/promises')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop')
      session.disconnect()
      await writeFile(path, JSON.stringify(profile))
    }
  }
}

interface ModeResult {
  metrics: Record<string, number | string | null>
  latencies: number[]
  ratios: number[]
  failures: string[]
  ok: boolean
  /** The connection graph when publishing started. */
  edges: Edges
}

/**
 * One run of the harness in one mode. With `edges`, members connect exactly as that graph says
 * (a raw baseline rebuilt on the graph an agentmesh run ended up with: the agent nodes' DHT adds
 * connections the dial plan does not); without, each new member dials DIALS_PER_NODE earlier ones.
 */
async function runMode (options: SimOptions, raw: boolean, edges: Edges | undefined, profilePath: string | undefined): Promise<ModeResult> {
  const n = options.nodes ?? 50
  const messages = options.messages ?? 200
  const rate = options.rate ?? 100
  const size = options.size ?? 256
  const overrides = gossipOverrides(options)
  const baseline = rssBaseline() // before any node exists: what the process costs with none
  const rng = createRng(options.seed)
  const members: Member[] = []
  const agents: AgentNode[] = []
  const received: Array<Map<number, number>> = []
  let duplicates = 0
  const sentAt = new Map<number, number>()
  const latencies: number[] = []
  let lastDelivery = 0
  const record = (node: number, index: number): void => {
    const now = performance.now()
    const seen = received[node]!
    if (seen.has(index)) { duplicates++; return }
    seen.set(index, now)
    const sent = sentAt.get(index)
    if (sent !== undefined) latencies.push(now - sent)
    lastDelivery = now
  }
  const controller = new AbortController()
  try {
    options.log(`starting ${n} ${raw ? 'raw gossipsub' : 'agentmesh'} nodes${edges !== undefined ? ` on a given graph of ${edges.length} connections` : ''}`)
    for (let i = 0; i < n; i++) {
      if (raw) {
        members.push(await startRaw(overrides))
      } else {
        const node = await createAgentNode({ transport: 'memory', name: `n${i}`, gossipsub: overrides, ...inProcessNodeOptions(n) })
        agents.push(node)
        members.push({ libp2p: node.libp2p, stop: async () => { await node.stop() } })
      }
      received.push(new Map())
      if (edges !== undefined) await dialEdges(i, members, edges, options.log)
      else await dialEarlier(members[i]!, members.slice(0, i), rng, options.log)
      options.progress(i + 1, n)
    }
    // Every node subscribes (node 0 publishes and counts nothing for itself).
    for (let i = 1; i < n; i++) {
      if (raw) {
        const pubsub = members[i]!.libp2p.services.pubsub
        pubsub.subscribe(TOPIC)
        pubsub.addEventListener('message', (evt) => {
          if (evt.detail.topic !== TOPIC) return
          record(i, new DataView(evt.detail.data.buffer, evt.detail.data.byteOffset).getUint32(0))
        })
      } else {
        const iterable = agents[i]!.events.subscribe(TOPIC, { from: 'now', signal: controller.signal })
        void (async () => {
          for await (const e of iterable) record(i, (e.data as { i: number }).i)
        })().catch((err: unknown) => { options.log(`subscriber ${i} ended: ${String(err)}`) })
      }
    }
    if (raw) members[0]!.libp2p.services.pubsub.subscribe(TOPIC)
    else await agents[0]!.events.join(TOPIC)
    const topicId = raw ? TOPIC : `agentmesh/events/1/${TOPIC}`
    // Warm-up, the same for both modes: every node has seen the subscription of every peer it is
    // connected to (all subscribe), and its mesh holds D_lo peers, or all of them when fewer. Publishing into a half-built mesh (one mesh peer each) left
    // nodes to be reached by IHAVE/IWANT gossip on the next heartbeat instead of by forwarding.
    const meshStart = performance.now()
    while (performance.now() - meshStart < MESH_WAIT_MS) {
      if (members.every(m => {
        const known = subscribers(m, topicId)
        return known >= peersOf(m) && meshPeers(m, topicId).length >= Math.min(overrides.Dlo ?? MESH_DLO, known)
      })) break
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const meshMs = performance.now() - meshStart
    options.log(`mesh formed in ${meshMs.toFixed(0)} ms`)
    const graph = edgesOf(members)

    // What the idle mesh costs (health, DHT, anti-entropy timers of every node), which
    // cpu_ms_per_event includes. Measured right after warm-up, when the mesh is still settling,
    // so it is an upper bound and is not subtracted from anything.
    const idleStart = performance.now()
    const idleCpuBefore = process.cpuUsage()
    await new Promise(resolve => setTimeout(resolve, IDLE_MEASURE_MS))
    const idleCpu = process.cpuUsage(idleCpuBefore)
    const idleCpuMsPerS = (idleCpu.user + idleCpu.system) / 1000 / ((performance.now() - idleStart) / 1000)

    const profile = await startProfile(profilePath)
    const cpuBefore = process.cpuUsage()
    const pad = new Uint8Array(size)
    const intervalMs = 1000 / rate
    const start = performance.now()
    // Open loop: each event is published at its due time whether or not the previous publish
    // has returned, and its latency counts from that due time. Awaiting each publish let a
    // saturated process offer fewer events than --rate and left the wait out of the latencies.
    const publishes: Array<Promise<unknown>> = []
    let publishFailures = 0
    for (let index = 0; index < messages; index++) {
      const due = start + index * intervalMs
      const wait = due - performance.now()
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
      sentAt.set(index, due)
      let publish: Promise<unknown>
      if (raw) {
        const data = new Uint8Array(size)
        new DataView(data.buffer).setUint32(0, index)
        publish = members[0]!.libp2p.services.pubsub.publish(TOPIC, data)
      } else {
        publish = agents[0]!.events.publish(TOPIC, { type: 'bench', data: { i: index, pad } })
      }
      publishes.push(publish.catch((err: unknown) => { publishFailures++; options.log(`publish ${index} failed: ${String(err)}`) }))
    }
    const publishedAt = performance.now()
    await Promise.all(publishes)
    const expected = messages * (n - 1)
    const drainStart = performance.now()
    while (performance.now() - drainStart < DRAIN_WAIT_MS) {
      if (received.reduce((sum, m) => sum + m.size, 0) >= expected) break
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const delivered = received.reduce((sum, m) => sum + m.size, 0)
    const cpu = process.cpuUsage(cpuBefore)
    await profile.stop()
    const windowS = Math.max(1e-3, (lastDelivery - start) / 1000)
    const delivery = expected === 0 ? 1 : delivered / expected
    return {
      metrics: {
        mode: raw ? 'raw-gossipsub' : 'agentmesh-events',
        // Due time of the publish (sign + fsync + gossip for agentmesh) to delivery at each subscriber.
        ...latencySummary(latencies),
        delivery: Math.round(delivery * 10_000) / 10_000,
        duplicates,
        // Deliveries (event × receiving node) per second, from the first publish to the last delivery.
        events_per_s: Math.round(delivered / windowS),
        // RSS above the process before any node started, per node (not the whole RSS / N)
        ...rssPerNodeMetrics(baseline, n),
        // What dominates memory per node: its open connections (Noise + Yamux + stream state each).
        connections_per_node: Math.round(graph.length * 2 / n * 10) / 10,
        mesh_ms: Math.round(meshMs),
        // CPU of the whole process from first publish to the end: comparable on a loaded machine.
        cpu_ms_per_event: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, messages)) * 100) / 100,
        idle_cpu_ms_per_s: Math.round(idleCpuMsPerS),
        // Events the publisher issued per second (open loop: below --rate only when the timer itself is late).
        offered_rate: Math.round(messages / Math.max(1e-3, (publishedAt - start) / 1000)),
        publish_failures: publishFailures,
        // The machine's 1-minute load average at the end: figures from a loaded machine say so.
        load1: Math.round(loadavg()[0]! * 10) / 10,
        messages,
        rate,
        size
      },
      latencies,
      ratios: received.map((m, i) => i === 0 ? 1 : m.size / messages),
      ok: delivery === 1 && duplicates === 0 && publishFailures === 0,
      failures: delivery === 1 ? [] : [`${raw ? 'raw: ' : ''}delivery ${delivered}/${expected}`, ...shortfalls(members, received, messages, topicId)],
      edges: graph
    }
  } finally {
    controller.abort()
    await Promise.all(members.map(async m => { await m.stop() }))
  }
}

/** `a / b` rounded to 2 decimals; null when either side is missing. */
function ratio (a: number | string | null | undefined, b: number | string | null | undefined): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return null
  return Math.round((a / b) * 100) / 100
}

/** Run the benchmark (see file header). */
export async function run (options: SimOptions): Promise<SimSummary> {
  const n = options.nodes ?? 50
  const profilePath = typeof options.extra.profile === 'string' ? options.extra.profile : undefined
  const caption = 'One row, the publisher n0: the fraction of its events each node received by the end of the run.'
  if (options.extra.baseline === 'raw') {
    // Agentmesh first: its graph (dial plan + what the DHT added) is then rebuilt for the raw run.
    const am = await runMode(options, false, undefined, profilePath)
    const raw = await runMode(options, true, am.edges, profilePath?.replace(/(\.cpuprofile)?$/, '.raw.cpuprofile'))
    const rawMetrics = Object.fromEntries(Object.entries(raw.metrics)
      .filter(([k]) => !['messages', 'rate', 'size', 'mode'].includes(k))
      .map(([k, v]) => [`raw_${k}`, v]))
    return {
      scenario: 'fanout',
      nodes: n,
      seed: options.seed,
      // The baseline must deliver everything for its figures to mean anything; duplicate
      // deliveries are GossipSub's own (reported as raw_duplicates), not agentmesh's.
      ok: am.ok && raw.metrics.delivery === 1,
      metrics: {
        ...am.metrics,
        mode: 'agentmesh-events vs raw-gossipsub',
        ...rawMetrics,
        // agentmesh / raw in this one invocation, both on the same connection graph.
        p50_ratio: ratio(am.metrics.p50_ms, raw.metrics.p50_ms),
        p99_ratio: ratio(am.metrics.p99_ms, raw.metrics.p99_ms),
        cpu_ratio: ratio(am.metrics.cpu_ms_per_event, raw.metrics.cpu_ms_per_event)
      },
      latenciesMs: am.latencies,
      deliveryMatrix: { labels: am.ratios.map((_, i) => `n${i}`), ratios: [am.ratios, raw.ratios], caption: 'Two rows, the publisher n0 in agentmesh then in raw gossipsub: the fraction of its events each node received by the end of the run.' },
      failures: [...am.failures, ...raw.failures]
    }
  }
  const raw = options.extra.raw === true
  const result = await runMode(options, raw, undefined, profilePath)
  return {
    scenario: 'fanout',
    nodes: n,
    seed: options.seed,
    ok: result.ok,
    metrics: result.metrics,
    latenciesMs: result.latencies,
    deliveryMatrix: { labels: result.ratios.map((_, i) => `n${i}`), ratios: [result.ratios], caption },
    failures: result.failures
  }
}
