// createAgentNode(): composes storage, identity, libp2p and the protocol services into
// one embeddable node. Each protocol is a service with start/stop; the node owns none
// of their logic.

import { TypedEventEmitter } from 'main-event'
import { logger } from '@libp2p/logger'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey, ConnectionGater, Logger } from '@libp2p/interface'
import { openStorage } from './storage.ts'
import type { Storage } from './storage.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createMeshLibp2p, defaultListen } from './libp2p.ts'
import type { MeshLibp2p, TransportKind } from './libp2p.ts'
import { Bootstrapper, parseAddresses } from './bootstrap.ts'
import type { UnreachablePeer } from './bootstrap.ts'
import { createDirectService } from '../protocols/direct/adapter.ts'
import type { DirectService } from '../protocols/direct/adapter.ts'
import { createDocsService } from '../protocols/docs/adapter.ts'
import type { DocsService } from '../protocols/docs/adapter.ts'
import { createBftService } from '../protocols/bft/adapter.ts'
import type { BftService } from '../protocols/bft/adapter.ts'
import { createStateService } from '../protocols/state/adapter.ts'
import { RecordStoreBound } from '../protocols/state/store-bound.ts'
import type { StateService } from '../protocols/state/adapter.ts'
import { createStateRules } from '../protocols/state/rules.ts'
import { createEventsService } from '../protocols/events/adapter.ts'
import type { EventsService, RetentionLimits } from '../protocols/events/adapter.ts'
import type { GossipsubOpts } from '@libp2p/gossipsub'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { createGroupsService } from './raft/service.ts'
import type { GroupsService } from './raft/service.ts'
import type { BftHandler } from './raft/group.ts'
import { createHealthService } from '../protocols/health/adapter.ts'
import type { HealthService } from '../protocols/health/adapter.ts'
import type { PeerInfo } from '../protocols/health/adapter.ts'
import { packageVersion } from './version.ts'
import { describeError } from '../protocols/kit/errors.ts'
// tasks (node.tasks)
import { createNodeTasks } from './tasks/service.ts'
import type { Registry } from 'prom-client'
import type { NodeTasksService } from './exec/work.ts'
import { AllowList, combineGaters, parseAllowList, parseSwarmKey } from './access.ts'

/** Expired DHT records are deleted this often (10 min): records live up to 48 h, so an expired one lingers at most a few minutes. */
export const DHT_SWEEP_INTERVAL_MS = 10 * 60_000

/** Options of `createAgentNode` (DESIGN "Public API"). */
export interface AgentNodeOptions {
  /** Directory for identity and state; without it everything lives in memory. */
  dataDir?: string
  /** Multiaddrs to listen on; defaults to an OS-assigned TCP port, or a memory address. */
  listen?: string[]
  /** Multiaddrs (with /p2p/<id>) of peers to join through; redialled with backoff. */
  peers?: string[]
  /** A human label announced to other agents. */
  name?: string
  /** `tcp` (default) or `memory` for in-process simulations. */
  transport?: TransportKind
  /** What this agent can do, announced to others (e.g. `['summarise', 'translate']`). */
  capabilities?: string[]
  /** Largest direct-message frame this node sends or accepts (default 1 MiB). */
  directFrameBytesMax?: number
  /** Advanced: libp2p connection gater, e.g. to cut links in partition tests and simulations. */
  connectionGater?: ConnectionGater
  /** Advanced: one-way latency added to every memory-transport link (simulations). */
  memoryLatencyMs?: number
  /** Optional BFT service that `group.propose(value, {bft: true})` delegates to (see also `node.groups.useBft`). */
  groupsBft?: BftHandler
  /** How often this node announces itself (default 1000 ms; SPEC health "Thresholds"). */
  healthIntervalMs?: number
  /** Silence after which a peer is `suspect` (default 3 × healthIntervalMs). */
  healthSuspectAfterMs?: number
  /** Silence after which a peer is `dead` and `peer:leave` fires (default 10 × healthIntervalMs). */
  healthDeadAfterMs?: number
  /** A peer whose connection closed and that stays silent this long is `suspect` early (default 1.5 × healthIntervalMs). */
  healthDisconnectGraceMs?: number
  /**
   * Announcements the whole mesh aims to publish per health interval (default 32): past this
   * many nodes each node stretches its interval (SPEC health H9). Every node receives and
   * verifies every announcement, so N nodes sharing ONE process (simulations) pay N times this
   * per interval; lower it there (e.g. 8) to trade detection time for CPU.
   */
  healthAnnouncesPerIntervalMax?: number
  /**
   * Cap on open connections (default 300, libp2p's). At the cap libp2p refuses inbound
   * connections (a newcomer must find a peer with room) and prunes the least valued ones past
   * it. DHT lookups leave a connection open to every peer they ask, so many nodes in ONE
   * process (simulations) pass a small cap to bound memory.
   */
  connectionsMax?: number
  /** Connections mesh discovery tops up to by dialling announced peers (default 8). */
  discoveryConnectionsTarget?: number
  /** Per-topic event retention (count, bytes, age); see protocols/events/SPEC.md. */
  eventsRetention?: Partial<RetentionLimits>
  /** Anti-entropy period of the events protocol (default 3 s). */
  eventsSyncIntervalMs?: number
  /** Advanced: GossipSub option overrides (benchmarks, tuning). */
  gossipsub?: Partial<GossipsubOpts>
  /** A prom-client registry for libp2p's own metrics (the API's `/metrics` adds the `agentmesh_*` series to it). */
  prometheusRegistry?: Registry
  /** Budgets of other peers' DHT records stored here (defaults: STORED_RECORD_BYTES_MAX, STORED_RECORDS_PER_AUTHOR_MAX). */
  dhtStore?: { bytesMax?: number, perAuthorMax?: number }
  // --- private meshes (src/access.ts; README "Security") ---
  /** A swarm key (the text of a go-ipfs swarm.key file, or its bytes): only nodes holding the same key connect (libp2p pnet). */
  swarmKey?: string | Uint8Array
  /** Peer ids allowed to connect, inbound and outbound; unset: anyone (with the swarm key, if set). */
  allow?: string[]
}

/** Events a node emits. */
export interface AgentNodeEvents {
  'peer:join': CustomEvent<{ peerId: string }>
  'peer:leave': CustomEvent<{ peerId: string }>
  /** No bootstrap peer (`peers`) reached within BOOTSTRAP_UNREACHABLE_WARN_MS; the node keeps dialling them. */
  'peer:unreachable': CustomEvent<{ peers: UnreachablePeer[] }>
  /** A connection refused because the peer is not on the allowlist. */
  'peer:refused': CustomEvent<{ peerId: string, direction: 'inbound' | 'outbound' }>
  /** A connection closed because the other side holds another swarm key, or none (private meshes). */
  'swarm-key:mismatch': CustomEvent<{ remoteAddress: string, reason: string }>
}

/** One agent's node on the mesh. */
export class AgentNode extends TypedEventEmitter<AgentNodeEvents> {
  readonly peerId: string
  readonly name: string
  readonly direct: DirectService
  /** Yjs documents kept in sync with every peer that opened them (protocols/docs). */
  readonly docs: DocsService
  /** Byzantine-fault-tolerant groups with certificates and a hash-chained log (protocols/bft). */
  readonly bft: BftService
  /** Raft groups: leader election, replicated log, locks, leader-only jobs (protocols/raft). */
  readonly groups: GroupsService
  /** Membership, failure detection and mesh discovery (protocols/health). */
  readonly health: HealthService
  /** Signed DHT records and the agent directory (protocols/state). */
  readonly state: StateService
  /** Gossiped, signed, replayable event log (DESIGN `node.events`). */
  readonly events: EventsService
  /** The underlying libp2p host, for advanced use. */
  readonly libp2p: MeshLibp2p
  /** Task queues: submit, work, results (DESIGN "Tasks", protocols/tasks). */
  readonly tasks: NodeTasksService
  /** The allowlist in force, when the node was created with `allow`. */
  readonly allowList: AllowList | undefined
  readonly #storage: Storage
  readonly #bootstrapper: Bootstrapper
  #stopping: Promise<void> | undefined
  /** Deletes expired DHT records every DHT_SWEEP_INTERVAL_MS. */
  readonly #sweeper: ReturnType<typeof setInterval>

  /** Use `createAgentNode()`. */
  constructor (parts: { libp2p: MeshLibp2p, storage: Storage, name: string, direct: DirectService, docs: DocsService, health: HealthService, state: StateService, events: EventsService, bft: BftService, groups: GroupsService, bootstrapper: Bootstrapper, tasks: NodeTasksService, allowList?: AllowList }) {
    super()
    this.libp2p = parts.libp2p
    this.peerId = parts.libp2p.peerId.toString()
    this.name = parts.name
    this.direct = parts.direct
    this.docs = parts.docs
    this.bft = parts.bft
    this.groups = parts.groups
    this.tasks = parts.tasks
    this.health = parts.health
    this.health.addEventListener('peer:join', (e) => { this.safeDispatchEvent('peer:join', { detail: { peerId: e.detail.peerId } }) })
    this.health.addEventListener('peer:leave', (e) => { this.safeDispatchEvent('peer:leave', { detail: { peerId: e.detail.peerId } }) })
    this.state = parts.state
    this.events = parts.events
    this.#storage = parts.storage
    this.#bootstrapper = parts.bootstrapper
    const log = logger(`agentmesh:${parts.name}:dht-store`)
    this.#sweeper = setInterval(() => {
      parts.storage.datastore.sweep(Date.now()).then((n) => { if (n > 0) log('swept %d expired DHT records', n) }, (err: unknown) => { log.error('sweeping expired DHT records failed: %s', describeError(err)) })
    }, DHT_SWEEP_INTERVAL_MS)
    this.#sweeper.unref()
    this.#bootstrapper.onUnreachable = (peers) => { this.safeDispatchEvent('peer:unreachable', { detail: { peers } }) }
    this.allowList = parts.allowList
  }

  /**
   * Replace the allowlist (e.g. after its file changed) and hang up on peers no longer on it.
   * Only on a node created with `allow`: a node open to anyone has no list to replace.
   */
  async setAllowList (peerIds: readonly string[]): Promise<void> {
    if (this.allowList === undefined) throw new TypeError('setAllowList: this node was created without `allow`, so it admits any peer; restart it with an allowlist')
    const removed = this.allowList.replace(parseAllowList(peerIds))
    for (const peerId of removed) await this.libp2p.hangUp(peerIdFromString(peerId))
  }

  /** The addresses other nodes can dial, each ending in /p2p/<peerId>. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map((a: Multiaddr) => {
      const text = a.toString()
      return text.includes('/p2p/') ? text : `${text}/p2p/${this.peerId}`
    })
  }

  /**
   * Every peer this node has heard from (dead ones stay listed for a while), sorted by peer id:
   * `{peerId, name, status, lastSeenMs, capabilities, version, connected}`. `lastSeenMs` is the
   * Unix epoch time in ms at which the peer was last heard (compare with `Date.now()`).
   */
  peers (): PeerInfo[] { return this.health.peers() }

  /** True until `stop()` is called. */
  get running (): boolean { return this.#stopping === undefined }

  /** Stop every service, libp2p and the database. Safe to call more than once. */
  async stop (): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#bootstrapper.stop()
    await this.tasks.stop()
    await this.groups.stop()
    await this.bft.stop()
    await this.health.stop({ goodbye: true })
    await this.docs.stop()
    await this.events.stop()
    await this.direct.stop()
    await this.state.stop()
    await this.libp2p.stop()
    await this.#storage.close()
  }
}

/** Create and start an agent node (DESIGN "Public API"). */
export async function createAgentNode (options: AgentNodeOptions = {}): Promise<AgentNode> {
  const transport = options.transport ?? 'tcp'
  if (transport !== 'tcp' && transport !== 'memory') throw new TypeError(`Invalid transport "${String(transport)}": expected "tcp" or "memory"`)
  const bootstrapAddresses = parseAddresses(options.peers ?? [])
  const storage = await openStorage({ dataDir: options.dataDir })
  // What has started so far, stopped in reverse if a later step fails (no half-started node keeps a port).
  const started: Array<{ stop: () => void | Promise<void> }> = []
  try {
    const privateKey = await loadOrCreateIdentity(storage)
    const peerId: PeerId = peerIdFromPrivateKey(privateKey)
    const name = options.name ?? `agent-${peerId.toString().slice(-6)}`
    // Checked before anything listens: a bad key or list is a usage error, not a half-open node.
    const swarmKey = options.swarmKey === undefined ? undefined : parseSwarmKey(typeof options.swarmKey === 'string' ? options.swarmKey : new TextDecoder().decode(options.swarmKey))
    const pnetLog = logger(`agentmesh:${name}:pnet`)
    let mismatched: (mismatch: { remoteAddress: string, reason: string }) => void = (m) => { pnetLog('closed connection with %s: %s', m.remoteAddress, m.reason) }
    let refused: (refusal: { peerId: string, direction: 'inbound' | 'outbound' }) => void = () => {}
    const allowList = options.allow === undefined
      ? undefined
      : new AllowList({ self: peerId.toString(), allowed: parseAllowList(options.allow), log: logger(`agentmesh:${name}:allow`), onRefused: (r) => { refused(r) } })
    const stateRules = createStateRules({ datastore: storage.datastore, nowMs: () => Date.now() })
    // Other peers' DHT records are held to a budget before anything can send one (SPEC state "Storage bound").
    const storeBound = new RecordStoreBound({ self: peerId.toString(), ...options.dhtStore })
    await storage.datastore.attachBound(storeBound, Date.now())
    const libp2p = await createMeshLibp2p({
      privateKey,
      datastore: storage.datastore,
      transport,
      listen: options.listen ?? defaultListen(transport, peerId.toString()),
      dhtValidators: { ...stateRules.validators },
      dhtSelectors: { ...stateRules.selectors },
      connectionGater: allowList === undefined ? options.connectionGater : combineGaters([allowList.gater(), options.connectionGater]),
      swarmKey,
      onSwarmKeyMismatch: (mismatch) => { mismatched(mismatch) },
      connectionsMax: options.connectionsMax,
      memoryLatencyMs: options.memoryLatencyMs,
      gossipsub: options.gossipsub,
      prometheusRegistry: options.prometheusRegistry
    })
    const log = logger(`agentmesh:${name}`)
    const capabilities = options.capabilities ?? []
    // Every service is built the same way: createX(components, init). Components are the parts
    // of this node it uses (host, key, its database namespace, a logger); init is its tunables.
    const base = (scope: string): { libp2p: MeshLibp2p, privateKey: PrivateKey, log: Logger } => ({ libp2p, privateKey, log: log.newScope(scope) })
    const direct = createDirectService(base('direct'), { frameBytesMax: options.directFrameBytesMax })
    const health = createHealthService({ ...base('health'), store: storage.sublevel('health') }, {
      name,
      capabilities,
      version: packageVersion(),
      intervalMs: options.healthIntervalMs,
      config: definedOnly({
        suspectAfterMs: options.healthSuspectAfterMs,
        deadAfterMs: options.healthDeadAfterMs,
        disconnectGraceMs: options.healthDisconnectGraceMs,
        connectionsTarget: options.discoveryConnectionsTarget,
        announcesPerIntervalMax: options.healthAnnouncesPerIntervalMax
      })
    })
    const members = (): string[] => health.peers().filter(p => p.status !== 'dead').map(p => p.peerId)
    const state = createStateService({ ...base('state'), rules: stateRules, storeBound }, { name, capabilities, members })
    const events = createEventsService({ ...base('events'), store: storage.sublevel('events') }, { retention: options.eventsRetention, syncIntervalMs: options.eventsSyncIntervalMs })
    const docs = createDocsService({ ...base('docs'), store: storage.sublevel('docs') })
    const bft = createBftService({ ...base('bft'), storage })
    const groups = createGroupsService({ ...base('groups'), storage, bft }, { bft: options.groupsBft })
    const tasks = createNodeTasks({ libp2p, log: log.newScope('tasks'), groups, state, events, health })
    const bootstrapper = new Bootstrapper(libp2p, bootstrapAddresses, log.newScope('bootstrap'))
    await libp2p.start()
    started.push(libp2p)
    for (const service of [direct, health, state, events, docs, bft, groups, tasks]) {
      await service.start()
      started.push(service)
    }
    bootstrapper.start()
    const node = new AgentNode({ libp2p, storage, name, direct, docs, health, state, events, bft, groups, bootstrapper, tasks, allowList })
    refused = (r) => { node.safeDispatchEvent('peer:refused', { detail: r }) }
    mismatched = (m) => {
      pnetLog('closed connection with %s: %s', m.remoteAddress, m.reason)
      node.safeDispatchEvent('swarm-key:mismatch', { detail: m })
    }
    return node
  } catch (err) {
    for (const part of started.reverse()) {
      await Promise.resolve().then(async () => { await part.stop() }).catch((stopErr: unknown) => { logger('agentmesh:start').error('cleanup after failed start: %s', describeError(stopErr)) })
    }
    await storage.close()
    throw err
  }
}

/** Drop undefined fields, so unset options fall back to defaults instead of overriding them. */
function definedOnly<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
