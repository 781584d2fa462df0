// `npm run sim -- dht --nodes N [--messages K] [--size B] [--seed S] [--json]`: N real nodes in
// one process (memory transport) form a Kad-DHT mesh; K records are put from random nodes and
// read back from other random nodes. Reports put/get latency quantiles and the success rate.

import type { SingleKadDHT } from '@libp2p/kad-dht'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { describeError } from '../../protocols/kit/errors.ts'
import { latencySummary } from '../stats.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { waitUntil } from '../harness/delivery.ts'
import { inProcessNodeOptions } from '../harness/in-process.ts'
import { CONNECTIONS_MAX } from '../../src/libp2p.ts'

/** Peers each new node joins through (random earlier nodes): enough for Kademlia to find the rest. */
const JOIN_PEERS = 3
/** Unmeasured put/get pairs first: the first queries pay for dials and routing-table fill-in. */
const WARMUP_OPERATIONS = 10
/** The mesh counts as settled once the event loop answers within this many ms... */
const QUIET_LAG_MS = 50
/** ...this many times in a row, one check every QUIET_CHECK_MS. */
const QUIET_CHECKS = 10
const QUIET_CHECK_MS = 200
/**
 * Longest wait for a quiet mesh: 10 s plus 2 s per node (then measure anyway, and say so).
 * 100 uncapped nodes took ~190 s on 2 cores: every node ends up connected to nearly every other.
 */
const QUIET_WAIT_BASE_MS = 10_000
const QUIET_WAIT_PER_NODE_MS = 2_000
/**
 * Connection cap of every node: libp2p's production default, not the in-process cap. Kademlia
 * stores a record on the k closest peers the writer reaches; a node at its cap refuses the
 * writer's dial, so with the in-process cap (32) records landed on whichever peers had room,
 * and reads from the closest peers missed (one-hop reads hit 20% of the time, like random
 * peers). At 300 no node of a 100-node mesh refuses, as in a deployment of one node per process.
 */
const DHT_CONNECTIONS_MAX = CONNECTIONS_MAX
/** How long the mesh may take to form before the scenario gives up (ms). */
const SETUP_TIMEOUT_MS = 180_000

/** Run the DHT benchmark. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const count = options.nodes ?? 20
  const operations = options.messages ?? 100
  const valueBytes = options.size ?? 100
  if (options.transport !== 'memory') options.log('dht: only the memory transport runs in one process; using memory')
  const rng = createRng(options.seed)
  const nodes: AgentNode[] = []
  const setupStart = performance.now()
  try {
    for (let i = 0; i < count; i++) {
      const peers = new Set<string>()
      while (peers.size < Math.min(i, JOIN_PEERS)) peers.add(nodes[rng.int(0, i - 1)]!.addresses()[0]!)
      nodes.push(await createAgentNode({ transport: 'memory', name: `dht-${i}`, peers: [...peers], ...inProcessNodeOptions(count), connectionsMax: DHT_CONNECTIONS_MAX }))
      options.progress(i + 1, count + operations * 2)
    }
    // Each node is in business once its routing table has a peer; queries find the rest.
    await waitUntil(() => nodes.every(n => (n.libp2p.services.dht as SingleKadDHT).routingTable.size >= Math.min(count - 1, 1)), { timeoutMs: SETUP_TIMEOUT_MS, pollMs: 50, what: 'dht: every routing table to have a peer' })
    await waitForQuiet(QUIET_WAIT_BASE_MS + QUIET_WAIT_PER_NODE_MS * count, options.log)
    const setupMs = performance.now() - setupStart
    options.log(`dht: ${count} nodes up in ${Math.round(setupMs)} ms; mean routing table ${mean(nodes.map(n => (n.libp2p.services.dht as SingleKadDHT).routingTable.size)).toFixed(1)} peers`)

    for (let i = 0; i < WARMUP_OPERATIONS; i++) {
      const key = `warmup/${options.seed}/${i}`
      await nodes[rng.int(0, count - 1)]!.state.put(key, i).catch((err: unknown) => { options.log(`dht: warm-up put ${key}: ${describeError(err)}`) })
      await nodes[rng.int(0, count - 1)]!.state.get(key).catch((err: unknown) => { options.log(`dht: warm-up get ${key}: ${describeError(err)}`) })
    }
    const warm = nodes.map(n => n.state.stats())
    const putMs: number[] = []
    const getMs: number[] = []
    const replicas: number[] = []
    const failures: string[] = []
    let successes = 0
    const written: Array<{ key: string, value: string, writer: number }> = []
    for (let i = 0; i < operations; i++) {
      const writer = rng.int(0, count - 1)
      const key = `bench/${options.seed}/${i}`
      const value = randomText(rng, valueBytes)
      const start = performance.now()
      try {
        const receipt = await nodes[writer]!.state.put(key, value, { timeoutMs: 30_000 })
        putMs.push(performance.now() - start)
        replicas.push(receipt.replicas)
        successes++
        written.push({ key, value, writer })
      } catch (err) {
        failures.push(`put ${key} from dht-${writer}: ${(err as Error).message}`)
      }
      options.progress(count + i + 1, count + operations * 2)
    }
    for (const [i, { key, value, writer }] of written.entries()) {
      let reader = rng.int(0, count - 1)
      if (count > 1 && reader === writer) reader = (reader + 1) % count
      const start = performance.now()
      try {
        const entry = await nodes[reader]!.state.get(key, { timeoutMs: 30_000 })
        getMs.push(performance.now() - start)
        if (entry?.value === value) successes++
        else failures.push(`get ${key} on dht-${reader}: ${entry === undefined ? 'not found' : 'wrong value'}`)
      } catch (err) {
        failures.push(`get ${key} on dht-${reader}: ${(err as Error).message}`)
      }
      options.progress(count + operations + i + 1, count + operations * 2)
    }
    // Counters of the measured operations only (the warm-up and agent-card traffic before them excluded).
    const stats = nodes.map(n => n.state.stats())
    const sum = (pick: (s: typeof stats[number]) => number): number => stats.reduce((total, s, i) => total + pick(s) - pick(warm[i]!), 0)
    const put = latencySummary(putMs)
    const get = latencySummary(getMs)
    const successRate = successes / (operations * 2)
    return {
      scenario: 'dht',
      nodes: count,
      seed: options.seed,
      ok: successRate === 1,
      metrics: {
        operations,
        value_bytes: valueBytes,
        put_p50_ms: put.p50_ms,
        put_p99_ms: put.p99_ms,
        put_max_ms: put.max_ms,
        get_p50_ms: get.p50_ms,
        get_p99_ms: get.p99_ms,
        get_max_ms: get.max_ms,
        p50_ms: get.p50_ms,
        p99_ms: get.p99_ms,
        max_ms: get.max_ms,
        success_rate: successRate,
        gets_one_hop: sum(s => s.getsOneHop),
        gets_walked: sum(s => s.getsWalked),
        read_asks: sum(s => s.reads.asked),
        read_hits: sum(s => s.reads.hits),
        connections_per_node: Math.round(mean(nodes.map(n => n.libp2p.getConnections().length)) * 10) / 10,
        replicas_mean: Math.round(mean(replicas) * 10) / 10,
        setup_ms: Math.round(setupMs),
        rss_mb: Math.round(process.memoryUsage().rss / 1024 / 1024)
      },
      failures: failures.slice(0, 20),
      latenciesMs: getMs
    }
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}

function mean (xs: number[]): number { return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length }

function randomText (rng: ReturnType<typeof createRng>, bytes: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  let out = ''
  for (let i = 0; i < bytes; i++) out += alphabet[rng.int(0, alphabet.length - 1)]
  return out
}

/**
 * A fresh mesh spends its first seconds on self-lookups, routing-table refreshes and dials,
 * all in this one process. Measure after that: wait until a 0 ms timer fires within
 * QUIET_LAG_MS, QUIET_CHECKS times in a row (or give up waiting after `timeoutMs`).
 */
async function waitForQuiet (timeoutMs: number, log: (line: string) => void): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let quiet = 0
  while (quiet < QUIET_CHECKS) {
    if (performance.now() > deadline) { log(`dht: mesh still busy after ${timeoutMs} ms; measuring anyway`); return }
    const start = performance.now()
    await new Promise(resolve => setTimeout(resolve, 0))
    quiet = performance.now() - start <= QUIET_LAG_MS ? quiet + 1 : 0
    await new Promise(resolve => setTimeout(resolve, QUIET_CHECK_MS))
  }
}

