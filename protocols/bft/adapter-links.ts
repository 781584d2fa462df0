// Outbound transport of the bft adapter: one long-lived `/agentmesh/bft/1.0.0` stream per peer,
// a bounded frame queue in front of it, back-pressure from the stream, redial with backoff.
// Frames that cannot be sent are dropped: the core retransmits what matters (SPEC bft T11).

import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger, Stream } from '@libp2p/interface'
import type { ProtocolDialer } from '../kit/components.ts'
import { describeError } from '../kit/errors.ts'
import { BFT_FRAME_BYTES_MAX, BFT_PROTOCOL } from './messages.ts'

/** Frames queued per peer; beyond it new frames are dropped (a slow or dead peer cannot grow our memory). */
export const PEER_QUEUE_FRAMES_MAX = 4096
/** Deadline of one dial (5 s). */
export const DIAL_TIMEOUT_MS = 5_000
/** Deadline of one batched write to a peer (10 s): a peer that stops reading gets its stream reset. */
export const WRITE_TIMEOUT_MS = 10_000
/** First redial delay after a failed dial; doubles up to REDIAL_MAX_MS. */
export const REDIAL_MIN_MS = 100
/** Longest wait between redials of an unreachable peer (2 s). */
export const REDIAL_MAX_MS = 2_000
/** Frames written to a stream in one vectored write. */
const WRITE_BATCH_FRAMES_MAX = 256

/** Counters of the outbound side, for tests and benchmarks. */
export interface LinkStats { framesSent: number, framesDropped: number, dialFailures: number }

/** One peer's outbound stream and queue. */
class PeerLink {
  readonly #peer: string
  readonly #libp2p: ProtocolDialer
  readonly #log: Logger
  readonly #stats: LinkStats
  #queue: Uint8Array[] = []
  #stream: Stream | undefined
  #lp: ReturnType<typeof lpStream> | undefined
  #running = false
  #closed = false
  #retryAt = 0
  #backoffMs = REDIAL_MIN_MS
  #wake: (() => void) | undefined

  constructor (peer: string, libp2p: ProtocolDialer, log: Logger, stats: LinkStats) {
    this.#peer = peer
    this.#libp2p = libp2p
    this.#log = log
    this.#stats = stats
  }

  enqueue (frame: Uint8Array): void {
    if (this.#closed) return
    if (this.#queue.length >= PEER_QUEUE_FRAMES_MAX || Date.now() < this.#retryAt) { this.#stats.framesDropped++; return }
    this.#queue.push(frame)
    if (!this.#running) { this.#running = true; void this.#pump() }
  }

  async #pump (): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const lp = await this.#open()
        if (lp === undefined) { this.#stats.framesDropped += this.#queue.length; this.#queue = []; break }
        const frames = this.#queue.splice(0, WRITE_BATCH_FRAMES_MAX)
        try {
          await lp.writeV(frames, { signal: AbortSignal.timeout(WRITE_TIMEOUT_MS) })
          this.#stats.framesSent += frames.length
        } catch (err) {
          this.#stats.framesDropped += frames.length
          this.#log('write to %s failed: %s', this.#peer, describeError(err))
          this.#reset(err)
        }
      }
    } finally {
      this.#running = false
    }
  }

  async #open (): Promise<ReturnType<typeof lpStream> | undefined> {
    if (this.#stream !== undefined && this.#stream.status === 'open' && this.#stream.writeStatus === 'writable') return this.#lp
    this.#reset()
    try {
      const stream = await this.#libp2p.dialProtocol(peerIdFromString(this.#peer), BFT_PROTOCOL, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      if (this.#closed) { stream.abort(new Error('bft link closed')); return undefined }
      this.#stream = stream
      this.#lp = lpStream(stream, { maxDataLength: BFT_FRAME_BYTES_MAX })
      this.#backoffMs = REDIAL_MIN_MS
      this.#retryAt = 0
      return this.#lp
    } catch (err) {
      this.#stats.dialFailures++
      this.#retryAt = Date.now() + this.#backoffMs
      this.#backoffMs = Math.min(REDIAL_MAX_MS, this.#backoffMs * 2)
      this.#log('dial %s failed: %s', this.#peer, describeError(err))
      return undefined
    }
  }

  #reset (err?: unknown): void {
    const stream = this.#stream
    this.#stream = undefined
    this.#lp = undefined
    if (stream !== undefined && stream.status === 'open') stream.abort(err instanceof Error ? err : new Error('bft link reset'))
  }

  close (): void {
    this.#closed = true
    this.#queue = []
    const stream = this.#stream
    this.#stream = undefined
    if (stream !== undefined) {
      stream.close({ signal: AbortSignal.timeout(1_000) }).catch((err: unknown) => { stream.abort(err as Error) })
    }
  }
}

/** All outbound links of one node's bft service (shared by its groups; frames name their group). */
export class PeerLinks {
  readonly stats: LinkStats = { framesSent: 0, framesDropped: 0, dialFailures: 0 }
  readonly #links = new Map<string, PeerLink>()
  readonly #libp2p: ProtocolDialer
  readonly #log: Logger

  constructor (libp2p: ProtocolDialer, log: Logger) {
    this.#libp2p = libp2p
    this.#log = log
  }

  /** Queue one encoded frame for `peer`. */
  send (peer: string, frame: Uint8Array): void {
    let link = this.#links.get(peer)
    if (link === undefined) {
      link = new PeerLink(peer, this.#libp2p, this.#log, this.stats)
      this.#links.set(peer, link)
    }
    link.enqueue(frame)
  }

  /** Close every stream (on service stop). */
  close (): void {
    for (const link of this.#links.values()) link.close()
    this.#links.clear()
  }
}
