// The peer-link port: framed, bounded, fire-and-forget delivery between members of a consensus
// group. Raft and BFT drivers send through it and receive from it; the node supplies one libp2p
// implementation, the simulator a seeded network. Frames that cannot be delivered are dropped
// (both protocols retransmit what matters), and the receiver learns the authenticated sender.

/** A frame received from a peer; `from` is the peer id authenticated by the connection. */
export type FrameHandler = (from: string, frame: Uint8Array) => void

/** Counters of one link set. */
export interface PeerLinkStats {
  framesSent: number
  framesDropped: number
  framesReceived: number
  framesRejected: number
  dialFailures: number
}

/** Outbound and inbound frames of one protocol. */
export interface PeerLinks {
  /** Queue `frame` for `peer`; never throws, never waits (drops and counts when full or unreachable). */
  send (peer: string, frame: Uint8Array): void
  /** Receive every inbound frame (one handler per link set). */
  onFrame (handler: FrameHandler): void
  /** Keep connections to these peers open (group members): tagged keep-alive, redialed when lost. */
  keepAlive (peers: readonly string[]): void
  stats (): PeerLinkStats
  start (): Promise<void>
  stop (): Promise<void>
}
