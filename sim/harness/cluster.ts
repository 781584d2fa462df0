// Starts N real nodes (in-process memory transport or one process each over loopback TCP)
// and injects faults: kill/restart, partition/heal, single-link cuts and link flapping.
// Every choice it makes comes from the seeded rng; every fault lands on the timeline.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRng } from '../../protocols/kit/rng.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import { LinkPolicy } from './links.ts'
import { Timeline } from './timeline.ts'
import { MemorySimNode } from './memory-node.ts'
import { ProcessSimNode } from './process-node.ts'
import type { SimNode, SimNodeSpec } from './sim-node.ts'
import { inProcessCapped } from './in-process.ts'

/** Most nodes one cluster starts (memory: RSS; tcp: one process each). */
export const CLUSTER_NODES_MAX = 2_000
/** Nodes started at once: in-process starts are CPU-bound, processes also pay module loading. */
const START_CONCURRENCY = { memory: 16, tcp: 4 } as const
/**
 * Peers each joining node dials by default: the bootstrap node only. More (the bootstrap node plus
 * `joinPeers - 1` seeded random nodes already up) gives large in-process meshes their first
 * GossipSub mesh peers sooner — with the hub alone, 50 nodes left 37 without a mesh peer 5 s after
 * joining — but which nodes are up when a node joins depends on start timing, so a seed no longer
 * reproduces the topology. Reproducible seeds are the default; scenarios opt in.
 */
export const JOIN_PEERS_DEFAULT = 1
/**
 * Past 32 in-process nodes (inProcessCapped), connections are capped (in-process.ts) and
 * a full bootstrap node refuses newcomers, so each joins through this many peers instead.
 */
export const JOIN_PEERS_LARGE_IN_PROCESS = 4

/** How to build a cluster. */
export interface ClusterOptions {
  nodes: number
  transport: 'memory' | 'tcp'
  seed: number
  /** Give every node a data dir so kill/restart keeps identity and state (LevelDB per node). */
  persist?: boolean
  /** Memory transport only: one-way latency per link, ms. */
  latencyMs?: number
  /** Plug-in module URLs whose ops nodes can `invoke()` (see ops.ts PluginModule). */
  plugins?: string[]
  /** Node labels; default `n<i>`. */
  name?: (index: number) => string
  /** Nodes each joining node dials: the bootstrap node plus seeded random started ones (default JOIN_PEERS_DEFAULT; 1 = bootstrap only). */
  joinPeers?: number
  /** Called after each node starts (e.g. to draw progress). */
  onStarted?: (started: number, total: number) => void
}

/** A set of running simulated nodes, node 0 being everyone's bootstrap peer. */
export class Cluster {
  readonly nodes: SimNode[]
  readonly timeline: Timeline
  /** The scenario's seeded rng; fork it for independent streams. */
  readonly rng: Rng
  readonly links = new LinkPolicy()
  readonly transport: 'memory' | 'tcp'
  readonly #dataRoot: string | undefined
  #flapping: NodeJS.Timeout | undefined
  readonly #flapTimers = new Set<NodeJS.Timeout>()
  /** Links currently down because of flapping, by `a-b` index pair. */
  readonly #flapped = new Map<string, [number, number]>()

  private constructor (parts: { nodes: SimNode[], timeline: Timeline, rng: Rng, transport: 'memory' | 'tcp', dataRoot: string | undefined }) {
    this.nodes = parts.nodes
    this.timeline = parts.timeline
    this.rng = parts.rng
    this.transport = parts.transport
    this.#dataRoot = parts.dataRoot
  }

  /** Start `options.nodes` nodes: node 0 first, then the rest bootstrapping from it. */
  static async start (options: ClusterOptions): Promise<Cluster> {
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > CLUSTER_NODES_MAX) {
      throw new RangeError(`Cannot start a cluster of ${options.nodes} nodes: expected an integer in 1..${CLUSTER_NODES_MAX} (CLUSTER_NODES_MAX)`)
    }
    if (options.latencyMs !== undefined && options.latencyMs > 0 && options.transport === 'tcp') {
      throw new RangeError('Added latency needs the memory transport (loopback TCP has no latency knob; use netem for that)')
    }
    const timeline = new Timeline()
    const dataRoot = options.persist === true ? await mkdtemp(join(tmpdir(), `agentmesh-sim-${options.seed}-`)) : undefined
    const name = options.name ?? ((i: number) => `n${i}`)
    const spec = (index: number, peers: string[]): SimNodeSpec => ({
      index,
      name: name(index),
      dataDir: dataRoot === undefined ? undefined : join(dataRoot, `node-${index}`),
      peers,
      latencyMs: options.latencyMs,
      plugins: options.plugins ?? [],
      clusterSize: options.nodes
    })
    const make = (s: SimNodeSpec): SimNode => options.transport === 'tcp' ? new ProcessSimNode(s) : new MemorySimNode(s)
    const first = make(spec(0, []))
    const nodes: SimNode[] = [first]
    const cluster = new Cluster({ nodes, timeline, rng: createRng(options.seed), transport: options.transport, dataRoot })
    try {
      await first.start()
      timeline.record('join', `${first.name} started (bootstrap)`)
      options.onStarted?.(1, options.nodes)
      const bootstrap = first.addresses()
      const joinPeers = Math.max(1, options.joinPeers ?? (inProcessCapped(options.transport, options.nodes) ? JOIN_PEERS_LARGE_IN_PROCESS : JOIN_PEERS_DEFAULT))
      const joinRng = cluster.rng.fork()
      const specs = new Map<SimNode, SimNodeSpec>()
      for (let i = 1; i < options.nodes; i++) {
        const s = spec(i, [...bootstrap])
        const node = make(s)
        specs.set(node, s)
        nodes.push(node)
      }
      let started = 1
      const up: SimNode[] = [first]
      const queue = nodes.slice(1)
      const worker = async (): Promise<void> => {
        for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
          // Seeds are nodes already up (so every dial has a listener to reach), picked by the
          // seeded rng from the up list in index order; which nodes are up depends on start timing.
          up.sort((a, b) => a.index - b.index)
          const seeds = new Set<SimNode>()
          while (seeds.size < Math.min(joinPeers - 1, up.length - 1)) seeds.add(up[joinRng.int(1, up.length - 1)]!)
          specs.get(node)!.peers.push(...[...seeds].flatMap(s => s.addresses()))
          await node.start()
          up.push(node)
          timeline.record('join', `${node.name} started`)
          options.onStarted?.(++started, options.nodes)
        }
      }
      await Promise.all(Array.from({ length: START_CONCURRENCY[options.transport] }, worker))
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  /** The node with this peer id. */
  byPeerId (peerId: string): SimNode | undefined { return this.nodes.find(n => n.peerId === peerId) }

  /** Crash node i (see SimNode.kill). */
  async kill (index: number): Promise<void> {
    const node = this.#node(index)
    this.timeline.record('kill', `${node.name} killed`)
    await node.kill()
  }

  /** Clean stop of node i. */
  async stopNode (index: number): Promise<void> {
    const node = this.#node(index)
    this.timeline.record('leave', `${node.name} stopped`)
    await node.stop()
  }

  /** Restart node i from its data dir (same peer id when the cluster persists). */
  async restart (index: number): Promise<void> {
    const node = this.#node(index)
    await node.start()
    this.timeline.record('restart', `${node.name} restarted`)
    await this.applyLinks()
  }

  /** Split into groups of node indexes; nodes in different groups lose their links. */
  async partition (groups: readonly (readonly number[])[]): Promise<void> {
    this.links.partition(groups.map(g => g.map(i => this.#node(i).peerId)))
    this.timeline.record('partition', groups.map(g => `{${g.map(i => this.#node(i).name).join(',')}}`).join(' | '))
    await this.applyLinks()
  }

  /** Remove the partition. */
  async heal (): Promise<void> {
    this.links.heal()
    this.timeline.record('heal', 'partition healed')
    await this.applyLinks()
  }

  /** Cut the link between nodes a and b. */
  async cutLink (a: number, b: number): Promise<void> {
    this.links.cut(this.#node(a).peerId, this.#node(b).peerId)
    this.timeline.record('link-down', `${this.#node(a).name}-${this.#node(b).name}`)
    await this.applyLinks()
  }

  /** Restore the link between nodes a and b. */
  async restoreLink (a: number, b: number): Promise<void> {
    this.links.restore(this.#node(a).peerId, this.#node(b).peerId)
    this.timeline.record('link-up', `${this.#node(a).name}-${this.#node(b).name}`)
    await this.applyLinks()
  }

  /**
   * Loss model: link flapping. A gater cannot drop single messages, so loss is emulated at
   * link granularity: every `periodMs` a seeded-random link goes down for `downMs` (its open
   * connection is aborted, in-flight messages on it are lost, redials are refused), then comes back.
   */
  startFlapping (options: { periodMs: number, downMs: number }): void {
    this.stopFlapping()
    const rng = this.rng.fork()
    this.#flapping = setInterval(() => {
      const live = this.nodes.filter(n => n.running)
      if (live.length < 2) return
      const a = live[rng.int(0, live.length - 1)]!
      let b = live[rng.int(0, live.length - 2)]!
      if (b === a) b = live[live.length - 1]!
      // a link already down stays down until its own restore (no overlapping flaps)
      if (this.links.isCut(a.peerId, b.peerId)) return
      const key = `${a.index}-${b.index}`
      this.#flapped.set(key, [a.index, b.index])
      void this.cutLink(a.index, b.index).then(() => {
        const timer = setTimeout(() => {
          this.#flapTimers.delete(timer)
          this.#flapped.delete(key)
          void this.restoreLink(a.index, b.index)
        }, options.downMs)
        this.#flapTimers.add(timer)
      })
    }, options.periodMs)
  }

  /** Stop flapping and restore every link that is still down because of it. */
  stopFlapping (): void {
    if (this.#flapping !== undefined) clearInterval(this.#flapping)
    this.#flapping = undefined
    for (const timer of this.#flapTimers) clearTimeout(timer)
    this.#flapTimers.clear()
    if (this.#flapped.size === 0) return
    for (const [a, b] of this.#flapped.values()) this.links.restore(this.nodes[a]!.peerId, this.nodes[b]!.peerId)
    this.timeline.record('link-up', `${this.#flapped.size} flapped link(s) restored`)
    this.#flapped.clear()
    void this.applyLinks()
  }

  /** Push the current link policy to every running node (gate new links, abort cut ones). */
  async applyLinks (): Promise<void> {
    const ids = this.nodes.map(n => n.peerId).filter(id => id !== '')
    await Promise.all(this.nodes.map(async (node) => {
      if (node.peerId === '') return
      await node.setDenied(this.links.deniedFor(node.peerId, ids))
    }))
  }

  /** Give every running node every other running node's addresses (a static peer list). */
  async introduce (): Promise<void> {
    const book = this.nodes.filter(n => n.running).map(n => ({ peerId: n.peerId, addresses: n.addresses() }))
    await Promise.all(this.nodes.filter(n => n.running).map(async n => { await n.learn(book) }))
  }

  /** Poll `condition` every `pollMs` until true; returns the elapsed ms, or null on timeout. */
  async waitUntil (condition: () => boolean | Promise<boolean>, options: { timeoutMs: number, pollMs?: number }): Promise<number | null> {
    const start = performance.now()
    while (performance.now() - start < options.timeoutMs) {
      if (await condition()) return performance.now() - start
      await new Promise(resolve => setTimeout(resolve, options.pollMs ?? 50))
    }
    return null
  }

  /** Stop every node and remove the data dirs. */
  async stop (): Promise<void> {
    this.stopFlapping()
    await Promise.all(this.nodes.map(async n => { await n.stop() }))
    if (this.#dataRoot !== undefined) await rm(this.#dataRoot, { recursive: true, force: true })
  }

  #node (index: number): SimNode {
    const node = this.nodes[index]
    if (node === undefined) throw new RangeError(`No simulated node ${index}: the cluster has ${this.nodes.length}`)
    return node
  }
}
