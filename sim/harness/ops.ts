// What the harness does to one real AgentNode, identically in-process and inside a worker
// process: snapshots, GossipSub probes, gating, and scenario plug-in operations.

import type { AgentNode } from '../../src/index.ts'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { AgentMeshError, describeError } from '../../protocols/kit/errors.ts'

/** Most received probe messages buffered between two drains (bounds memory if nobody drains). */
export const RECEIVED_BUFFER_MAX = 200_000

/** Wall-clock milliseconds with sub-ms precision, comparable across processes on one machine. */
export function wallClockMs (): number {
  return performance.timeOrigin + performance.now()
}

/** One GossipSub message a node received. */
export interface ReceivedMessage { topic: string, from: string, data: Uint8Array, receivedAtMs: number }

/** What a node looks like from outside at one moment. */
export interface NodeSnapshot {
  peerId: string
  /** Peer ids with an open connection. */
  connections: string[]
  /** GossipSub mesh peers per subscribed topic. */
  meshPeers: Record<string, string[]>
  /** `node.peers()` when the node has it (health/discovery), else null. */
  peers: Array<{ peerId: string, status: string }> | null
}

/** A scenario-provided operation run against the real node (in-process or in a worker). */
export type PluginOp = (node: AgentNode, args: unknown) => unknown
/** A plug-in module exports `ops`; the worker loads it by path so TCP runs can use it too. */
export interface PluginModule { ops: Record<string, PluginOp> }

/** Error thrown when an operation failed on the other side of a process boundary; keeps name and code. */
export class RemoteOpError extends AgentMeshError {
  constructor (options: { name: string, code: string, message: string }) {
    super(options.code, options.message)
    this.name = options.name
  }
}

/** Serialisable form of an error, for IPC. */
export interface ErrorShape { name: string, code: string, message: string }

/** Turn any thrown value into an ErrorShape. */
export function errorShape (err: unknown): ErrorShape {
  const e = err as { name?: string, code?: string, message?: string }
  return { name: e?.name ?? 'Error', code: typeof e?.code === 'string' ? e.code : 'ERR_UNKNOWN', message: e?.message ?? describeError(err) }
}

/** A connection gater that refuses every dial and connection to a peer `isDenied` names. */
export function createGater (isDenied: (peerId: string) => boolean): ConnectionGater {
  const deny = (peerId: PeerId): boolean => isDenied(peerId.toString())
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny
  }
}

/** Attaches to one node: keeps its deny list and its received probe messages. */
export class NodeProbe {
  readonly node: AgentNode
  readonly #denied: Set<string>
  readonly #received: ReceivedMessage[] = []
  readonly #plugins: Record<string, PluginOp>
  #overflow = 0

  /** `denied` is shared with the node's gater (see createGater), so updating it gates new links. */
  constructor (node: AgentNode, options: { denied: Set<string>, plugins?: Record<string, PluginOp> }) {
    this.node = node
    this.#denied = options.denied
    this.#plugins = options.plugins ?? {}
    node.libp2p.services.pubsub.addEventListener('message', (event) => {
      const message = event.detail
      if (this.#received.length >= RECEIVED_BUFFER_MAX) { this.#overflow++; return }
      const from = message.type === 'signed' ? message.from.toString() : ''
      this.#received.push({ topic: message.topic, from, data: message.data, receivedAtMs: wallClockMs() })
    })
  }

  /** Connections, GossipSub meshes and (when available) the health view. */
  snapshot (): NodeSnapshot {
    const libp2p = this.node.libp2p
    const connections = [...new Set(libp2p.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))]
    const meshPeers: Record<string, string[]> = {}
    // getMeshPeers exists on the GossipSub implementation but not on its exported interface
    const pubsub = libp2p.services.pubsub as unknown as { getTopics: () => string[], getMeshPeers: (topic: string) => string[] }
    for (const topic of pubsub.getTopics()) meshPeers[topic] = [...pubsub.getMeshPeers(topic)]
    const withPeers = this.node as unknown as { peers?: () => Array<{ peerId: string, status: string }> }
    const peers = typeof withPeers.peers === 'function' ? withPeers.peers().map(p => ({ peerId: p.peerId, status: p.status })) : null
    return { peerId: this.node.peerId, connections, meshPeers, peers }
  }

  subscribe (topic: string): void { this.node.libp2p.services.pubsub.subscribe(topic) }

  /** Publish on GossipSub; returns how many peers it was sent to. */
  async publish (topic: string, data: Uint8Array): Promise<number> {
    const result = await this.node.libp2p.services.pubsub.publish(topic, data)
    return result.recipients.length
  }

  /** Received probe messages since the last drain (and how many were dropped over the bound). */
  drainReceived (): { messages: ReceivedMessage[], dropped: number } {
    const messages = this.#received.splice(0)
    const dropped = this.#overflow
    this.#overflow = 0
    return { messages, dropped }
  }

  /** Replace the deny list and close every open connection to a denied peer. */
  async setDenied (peerIds: readonly string[]): Promise<void> {
    this.#denied.clear()
    for (const id of peerIds) this.#denied.add(id)
    const doomed = this.node.libp2p.getConnections().filter(c => this.#denied.has(c.remotePeer.toString()))
    await Promise.all(doomed.map(async (c) => {
      // abort, not close: a cut link does not say goodbye, and close would wait on the far side
      c.abort(new Error('link cut by simulation'))
    }))
  }

  /** Add peers' addresses to the address book (a static peer list, as an operator would configure). */
  async learn (peers: ReadonlyArray<{ peerId: string, addresses: string[] }>): Promise<void> {
    for (const peer of peers) {
      if (peer.peerId === this.node.peerId || peer.addresses.length === 0) continue
      await this.node.libp2p.peerStore.merge(peerIdFromString(peer.peerId), { multiaddrs: peer.addresses.map(a => multiaddr(a)) })
    }
  }

  /** Run a plug-in operation by name. */
  async invoke (op: string, args: unknown): Promise<unknown> {
    const fn = this.#plugins[op]
    if (fn === undefined) throw new RemoteOpError({ name: 'UnknownOpError', code: 'ERR_UNKNOWN_OP', message: `No simulation op "${op}": load a plug-in that exports it (ops: ${Object.keys(this.#plugins).join(', ') || 'none'})` })
    return await fn(this.node, args)
  }
}

/** Load plug-in modules and merge their ops (later modules override earlier names). */
export async function loadPlugins (paths: readonly string[]): Promise<Record<string, PluginOp>> {
  const ops: Record<string, PluginOp> = {}
  for (const path of paths) {
    const module = await import(path) as Partial<PluginModule>
    if (module.ops === undefined) throw new TypeError(`Simulation plug-in ${path} exports no "ops"`)
    Object.assign(ops, module.ops)
  }
  return ops
}
