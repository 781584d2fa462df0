// A simulated node in this process on the memory transport.

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode, Payload } from '../../src/index.ts'
import { NotRunningError } from '../../protocols/kit/errors.ts'
import { NodeProbe, createGater, loadPlugins } from './ops.ts'
import { inProcessNodeOptions } from './in-process.ts'
import type { NodeSnapshot, ReceivedMessage } from './ops.ts'
import type { SimHandler, SimNode, SimNodeSpec } from './sim-node.ts'

/** An AgentNode with `transport: 'memory'`, restartable from its data dir. */
export class MemorySimNode implements SimNode {
  readonly index: number
  readonly name: string
  readonly #spec: SimNodeSpec
  readonly #denied = new Set<string>()
  readonly #handlers = new Map<string, SimHandler>()
  readonly #topics = new Set<string>()
  #probe: NodeProbe | undefined
  #peerId = ''

  constructor (spec: SimNodeSpec) {
    this.#spec = spec
    this.index = spec.index
    this.name = spec.name
  }

  get peerId (): string { return this.#peerId }
  get running (): boolean { return this.#probe?.node.running === true }
  get local (): AgentNode | undefined { return this.#probe?.node }

  addresses (): string[] { return this.#probe?.node.addresses() ?? [] }

  async start (): Promise<void> {
    if (this.running) return
    const denied = this.#denied
    const node = await createAgentNode({
      transport: 'memory',
      name: this.name,
      dataDir: this.#spec.dataDir,
      peers: this.#spec.peers,
      memoryLatencyMs: this.#spec.latencyMs,
      ...inProcessNodeOptions(this.#spec.clusterSize),
      connectionGater: createGater(id => denied.has(id))
    })
    this.#probe = new NodeProbe(node, { denied, plugins: await loadPlugins(this.#spec.plugins) })
    this.#peerId = node.peerId
    for (const [method, handler] of this.#handlers) this.#register(method, handler)
    for (const topic of this.#topics) this.#probe.subscribe(topic)
  }

  async stop (): Promise<void> {
    const probe = this.#probe
    if (probe === undefined) return
    await probe.node.stop()
  }

  async kill (): Promise<void> {
    const probe = this.#probe
    if (probe === undefined || !probe.node.running) return
    for (const connection of probe.node.libp2p.getConnections()) connection.abort(new Error(`${this.name} crashed (simulated)`))
    await probe.node.stop()
  }

  handle (method: string, handler: SimHandler): void {
    this.#handlers.set(method, handler)
    if (this.running) this.#register(method, handler)
  }

  #register (method: string, handler: SimHandler): void {
    this.#live().node.direct.handle(method, async (payload, context) => await handler(payload, context.from))
  }

  async request (peer: string, method: string, payload: Payload, options: { timeoutMs?: number } = {}): Promise<Payload> {
    return await this.#live().node.direct.request(peer, method, payload, options)
  }

  async snapshot (): Promise<NodeSnapshot> { return this.#live().snapshot() }

  async subscribe (topic: string): Promise<void> {
    this.#topics.add(topic)
    if (this.running) this.#live().subscribe(topic)
  }

  async publish (topic: string, data: Uint8Array): Promise<number> { return await this.#live().publish(topic, data) }

  async drainReceived (): Promise<{ messages: ReceivedMessage[], dropped: number }> {
    return this.#probe?.drainReceived() ?? { messages: [], dropped: 0 }
  }

  async setDenied (peerIds: readonly string[]): Promise<void> {
    if (this.running) await this.#live().setDenied(peerIds)
    else { this.#denied.clear(); for (const id of peerIds) this.#denied.add(id) }
  }

  async learn (peers: ReadonlyArray<{ peerId: string, addresses: string[] }>): Promise<void> { await this.#live().learn(peers) }

  async invoke (op: string, args: unknown): Promise<unknown> { return await this.#live().invoke(op, args) }

  #live (): NodeProbe {
    const probe = this.#probe
    if (probe === undefined || !probe.node.running) throw new NotRunningError(`Simulated node ${this.name} is not running (killed or stopped)`)
    return probe
  }
}
