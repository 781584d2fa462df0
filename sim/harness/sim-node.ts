// One simulated node as a scenario sees it, the same whether the real AgentNode runs in this
// process (memory transport) or in a worker process (loopback TCP).

import type { AgentNode, Payload } from '../../src/index.ts'
import type { NodeSnapshot, ReceivedMessage } from './ops.ts'

/** A direct-message handler; in TCP mode it runs in the controller, relayed from the worker. */
export type SimHandler = (payload: Payload, from: string) => Payload | undefined | Promise<Payload | undefined>

/** How to start one node. */
export interface SimNodeSpec {
  index: number
  name: string
  /** Identity and state persist here across kill/restart; without it a restart is a new node. */
  dataDir?: string
  /** Bootstrap multiaddrs. */
  peers: string[]
  /** Memory transport only: one-way latency added to each link this node listens for. */
  latencyMs?: number
  /** Plug-in modules (file URLs) whose ops `invoke()` can run. */
  plugins: string[]
  /** Nodes in the whole cluster: in-process nodes scale their health and connection budgets by it (in-process.ts). */
  clusterSize: number
}

/** The controls every scenario uses on a node. */
export interface SimNode {
  readonly index: number
  readonly name: string
  /** Set once the node has started; unchanged by restarts that keep the data dir. */
  readonly peerId: string
  readonly running: boolean
  /** The in-process AgentNode (memory transport only) for scenarios that need the full API. */
  readonly local: AgentNode | undefined
  addresses (): string[]
  /** Start, or restart after stop/kill (handlers, subscriptions and the deny list are re-applied). */
  start (): Promise<void>
  /** Clean stop. */
  stop (): Promise<void>
  /** Crash: in-process, every link is aborted before the node stops; TCP, the process gets SIGKILL. */
  kill (): Promise<void>
  handle (method: string, handler: SimHandler): void
  request (peer: string, method: string, payload: Payload, options?: { timeoutMs?: number }): Promise<Payload>
  snapshot (): Promise<NodeSnapshot>
  subscribe (topic: string): Promise<void>
  publish (topic: string, data: Uint8Array): Promise<number>
  drainReceived (): Promise<{ messages: ReceivedMessage[], dropped: number }>
  /** Gate: refuse links to these peers and close the open ones. */
  setDenied (peerIds: readonly string[]): Promise<void>
  invoke (op: string, args: unknown): Promise<unknown>
  /** Add peers to the node's address book (so it can dial them without discovery). */
  learn (peers: ReadonlyArray<{ peerId: string, addresses: string[] }>): Promise<void>
}
