// The PeerLinks port over libp2p, shared by raft and bft: one long-lived outbound stream per peer
// on one protocol, a queue bounded in frames and bytes in front of it, a write deadline, redial
// with backoff, and inbound frames read chunk by chunk with a size cap and a deadline per frame.
// Group members are tagged keep-alive in the peer store: the connection manager prunes them last
// and libp2p redials them when their connection drops.

import { KEEP_ALIVE } from '@libp2p/interface'
import type { Connection, Stream } from '@libp2p/interface'
import { LengthPrefixedDecoder, lpStream } from '@libp2p/utils'
import { assert } from './assert.ts'
import { Backoff } from './backoff.ts'
import type { BackoffOptions } from './backoff.ts'
import { systemClock } from './clock.ts'
import type { Clock, TimerHandle } from './clock.ts'
import type { HostEvents, PeerStoreHost, ServiceBase, StreamHost } from './components.ts'
import { TimeoutError, describeError } from './errors.ts'
import { parsePeerId } from './peer-id.ts'
import type { FrameHandler, PeerLinkStats, PeerLinks } from './peer-link.ts'

/** Frames queued per peer: past this new frames are dropped (a slow or dead peer cannot grow our memory; both protocols resend). */
export const LINK_QUEUE_FRAMES_MAX = 4096
/** Deadline of one dial (ms): a slower peer counts as unreachable for this batch. */
export const LINK_DIAL_TIMEOUT_MS = 5_000
/** Deadline of one batched write (ms): a peer that stops reading gets its stream reset. */
export const LINK_WRITE_TIMEOUT_MS = 10_000
/**
 * Deadline of one inbound frame (ms), from its first byte (or the end of the previous frame) to
 * its last. An honest sender finishes a frame within its own write deadline (LINK_WRITE_TIMEOUT_MS)
 * or resets the stream; a sender that declares a large frame and stalls would otherwise pin up to
 * frameBytesMax of our memory per stream for as long as it likes.
 */
export const LINK_FRAME_READ_TIMEOUT_MS = LINK_WRITE_TIMEOUT_MS
/** Redial backoff after a failed dial: 100 ms doubling to 2 s (a restarting peer is back within seconds). */
export const LINK_REDIAL_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 100, maxMs: 2_000 })
/**
 * Inbound streams per connection and protocol: one per remote link is normal, one more while a
 * redial replaces it. With the frame deadline this bounds what one connection can make us hold
 * for an unfinished frame to 2 × frameBytesMax for LINK_FRAME_READ_TIMEOUT_MS.
 */
export const LINK_INBOUND_STREAMS_MAX = 2
/** Frames written to a stream in one vectored write. */
const WRITE_BATCH_FRAMES_MAX = 256
/** Peer-store tag value of kept-alive peers: the most a tag can carry, so the connection manager prunes them last. */
const KEEP_ALIVE_TAG_VALUE = 100

/** The host parts a link set uses: streams, host events and the peer store. */
export type LinkHost = StreamHost & HostEvents & PeerStoreHost

/** What a link set uses of its node. */
export interface Libp2pPeerLinkComponents extends ServiceBase {
  readonly libp2p: LinkHost
  /** Timers and time for deadlines and backoff (default: the process's). */
  readonly clock?: Clock
}

/** The protocol and the bounds of one link set. */
export interface Libp2pPeerLinkInit {
  /** The protocol id its streams speak. */
  protocol: string
  /** Largest frame sent or accepted; a larger inbound frame resets the stream. */
  frameBytesMax: number
  /** Bytes queued per peer (at least frameBytesMax). */
  queueBytesMax: number
  queueFramesMax?: number
  dialTimeoutMs?: number
  writeTimeoutMs?: number
  frameReadTimeoutMs?: number
  redialBackoff?: BackoffOptions
  inboundStreamsMax?: number
  /** Suffix of the keep-alive tag, so two link sets never remove each other's tags (e.g. `agentmesh-raft`). */
  keepAliveTag: string
}

/** One peer's outbound stream and queue. */
class OutboundLink {
  readonly peer: string
  queue: Uint8Array[] = []
  queueBytes = 0
  stream: Stream | undefined
  lp: ReturnType<typeof lpStream> | undefined
  pumping = false
  retryAtMs = 0
  readonly backoff: Backoff

  constructor (peer: string, backoff: BackoffOptions) {
    this.peer = peer
    this.backoff = new Backoff(backoff)
  }

  /** Take up to `max` frames off the queue. */
  take (max: number): Uint8Array[] {
    const frames = this.queue.splice(0, max)
    for (const f of frames) this.queueBytes -= f.byteLength
    return frames
  }

  /** Put frames back at the head of the queue (a retry on a fresh stream). */
  putBack (frames: Uint8Array[]): void {
    this.queue = [...frames, ...this.queue]
    for (const f of frames) this.queueBytes += f.byteLength
  }

  clear (): number {
    const dropped = this.queue.length
    this.queue = []
    this.queueBytes = 0
    return dropped
  }
}

/** Bytes of the unsigned varint that prefixes a frame of `length` bytes. */
function varintBytes (length: number): number {
  let bytes = 1
  for (let rest = length; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++
  return bytes
}

/** A signal aborted by `signal` or after `ms` on `clock`; call `done()` once the wait is over. */
function deadline (clock: Clock, ms: number, signal: AbortSignal, what: string): { signal: AbortSignal, done: () => void } {
  const controller = new AbortController()
  const onAbort = (): void => { controller.abort(signal.reason) }
  signal.addEventListener('abort', onAbort, { once: true })
  const timer = clock.setTimeout(() => { controller.abort(new TimeoutError(`${what} timed out after ${ms} ms`)) }, ms)
  return { signal: controller.signal, done: () => { timer.cancel(); signal.removeEventListener('abort', onAbort) } }
}

/** Build a PeerLinks over libp2p for one protocol. */
export function createLibp2pPeerLinks (components: Libp2pPeerLinkComponents, init: Libp2pPeerLinkInit): PeerLinks {
  const { libp2p, log } = components
  const clock = components.clock ?? systemClock
  const queueFramesMax = init.queueFramesMax ?? LINK_QUEUE_FRAMES_MAX
  const dialTimeoutMs = init.dialTimeoutMs ?? LINK_DIAL_TIMEOUT_MS
  const writeTimeoutMs = init.writeTimeoutMs ?? LINK_WRITE_TIMEOUT_MS
  const frameReadTimeoutMs = init.frameReadTimeoutMs ?? LINK_FRAME_READ_TIMEOUT_MS
  const redialBackoff = init.redialBackoff ?? LINK_REDIAL_BACKOFF
  const tag = `${KEEP_ALIVE}-${init.keepAliveTag}`
  assert(init.queueBytesMax >= init.frameBytesMax, `queueBytesMax (${init.queueBytesMax}) must hold one frame of frameBytesMax (${init.frameBytesMax})`)
  const self = libp2p.peerId.toString()
  const links = new Map<string, OutboundLink>()
  const inbound = new Set<Stream>()
  const kept = new Set<string>()
  const stats: PeerLinkStats = { framesSent: 0, framesDropped: 0, framesReceived: 0, framesRejected: 0, dialFailures: 0 }
  let handler: FrameHandler = () => {}
  let shutdown = new AbortController()
  let running = false

  function linkOf (peer: string): OutboundLink {
    let link = links.get(peer)
    if (link === undefined) links.set(peer, link = new OutboundLink(peer, redialBackoff))
    return link
  }

  function resetStream (link: OutboundLink, err?: unknown): void {
    const stream = link.stream
    link.stream = undefined
    link.lp = undefined
    if (stream !== undefined && stream.status === 'open') stream.abort(err instanceof Error ? err : new Error(`${init.protocol} link reset`))
  }

  /** The link's open stream, dialling one if needed; undefined (and a backoff) when the dial fails. */
  async function open (link: OutboundLink): Promise<{ lp: ReturnType<typeof lpStream>, fresh: boolean } | undefined> {
    if (link.stream !== undefined && link.lp !== undefined && link.stream.status === 'open' && link.stream.writeStatus === 'writable') return { lp: link.lp, fresh: false }
    resetStream(link)
    const wait = deadline(clock, dialTimeoutMs, shutdown.signal, `dial ${link.peer} on ${init.protocol}`)
    try {
      const stream = await libp2p.dialProtocol(parsePeerId(link.peer), init.protocol, { signal: wait.signal })
      if (!running) { stream.abort(new Error(`${init.protocol} links stopped`)); return undefined }
      link.stream = stream
      link.lp = lpStream(stream, { maxDataLength: init.frameBytesMax })
      link.backoff.reset()
      link.retryAtMs = 0
      if (kept.has(link.peer)) tagKeepAlive(link.peer)
      return { lp: link.lp, fresh: true }
    } catch (err) {
      stats.dialFailures++
      link.retryAtMs = clock.nowMs() + link.backoff.next()
      log('dial %s on %s failed (retry in %d ms): %s', link.peer, init.protocol, link.retryAtMs - clock.nowMs(), describeError(err))
      return undefined
    } finally {
      wait.done()
    }
  }

  async function pump (link: OutboundLink): Promise<void> {
    link.pumping = true
    try {
      while (link.queue.length > 0 && running) {
        const opened = await open(link)
        if (opened === undefined) { stats.framesDropped += link.clear(); return }
        const frames = link.take(WRITE_BATCH_FRAMES_MAX)
        const wait = deadline(clock, writeTimeoutMs, shutdown.signal, `write to ${link.peer} on ${init.protocol}`)
        try {
          await opened.lp.writeV(frames, { signal: wait.signal }) // waits for 'drain': back-pressure
          stats.framesSent += frames.length
        } catch (err) {
          resetStream(link, err)
          if (!opened.fresh && running) {
            // A long-lived stream the remote closed (it restarted): retry this batch once on a new stream.
            link.putBack(frames)
            continue
          }
          stats.framesDropped += frames.length
          log('write to %s on %s failed: %s', link.peer, init.protocol, describeError(err))
        } finally {
          wait.done()
        }
      }
    } finally {
      link.pumping = false
    }
  }

  /**
   * One inbound stream: varint length-prefixed frames parsed chunk by chunk (lpStream's reader
   * pulls the prefix a byte at a time). A frame over frameBytesMax, or one not finished within
   * frameReadTimeoutMs, resets the stream; the sender redials. (An empty frame, which neither
   * protocol sends, is consumed without being delivered and so also ends in that reset.)
   */
  async function serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const decoder = new LengthPrefixedDecoder({ maxDataLength: init.frameBytesMax, maxBufferSize: init.frameBytesMax + 16 })
    /** Bytes of an unfinished frame held by the decoder. */
    let pendingBytes = 0
    let frameTimer: TimerHandle | undefined
    const armFrameTimer = (): void => {
      frameTimer?.cancel()
      frameTimer = clock.setTimeout(() => {
        stats.framesRejected++
        log('%s stream from %s: a frame of which %d bytes arrived was not finished within %d ms; resetting', init.protocol, from, pendingBytes, frameReadTimeoutMs)
        stream.abort(new TimeoutError(`${init.protocol} frame from ${from} not finished within ${frameReadTimeoutMs} ms`))
      }, frameReadTimeoutMs)
    }
    inbound.add(stream)
    try {
      for await (const chunk of stream) {
        if (!running) break
        pendingBytes += chunk.byteLength
        let completed = false
        for (const frame of decoder.decode(chunk)) {
          pendingBytes -= varintBytes(frame.byteLength) + frame.byteLength
          completed = true
          stats.framesReceived++
          handler(from, frame.subarray())
        }
        // One deadline per frame: restarted when a frame completes, kept while one is still arriving.
        if (pendingBytes === 0) { frameTimer?.cancel(); frameTimer = undefined } else if (completed || frameTimer === undefined) armFrameTimer()
      }
      await stream.close().catch((err: unknown) => { stream.abort(err as Error) })
    } catch (err) {
      if (running) {
        if (stream.status !== 'aborted') stats.framesRejected++
        log('%s stream from %s ended: %s', init.protocol, from, describeError(err))
      }
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      frameTimer?.cancel()
      inbound.delete(stream)
    }
  }

  /** Peer-store writes in flight, awaited by stop() so none outlives the host. */
  const tagging = new Set<Promise<void>>()

  function mergeTag (peer: string, value: { value: number } | undefined): void {
    const write = libp2p.peerStore.merge(parsePeerId(peer), { tags: { [tag]: value } })
      .then(() => {}, (err: unknown) => { log.error('cannot %s the keep-alive tag of %s: %s', value === undefined ? 'remove' : 'set', peer, describeError(err)) })
      .finally(() => { tagging.delete(write) })
    tagging.add(write)
  }

  function tagKeepAlive (peer: string): void { mergeTag(peer, { value: KEEP_ALIVE_TAG_VALUE }) }
  function untagKeepAlive (peer: string): void { mergeTag(peer, undefined) }

  // A peer that connects again (libp2p redialled a kept-alive member) is worth trying at once.
  const onPeerConnect = (e: CustomEvent<{ toString: () => string }>): void => {
    const link = links.get(e.detail.toString())
    if (link === undefined) return
    link.retryAtMs = 0
    link.backoff.reset()
  }

  return {
    send (peer, frame) {
      if (!running || peer === self) return
      if (frame.byteLength > init.frameBytesMax) {
        stats.framesDropped++
        log.error('cannot send a %d-byte frame to %s on %s: over the %d-byte frame limit', frame.byteLength, peer, init.protocol, init.frameBytesMax)
        return
      }
      const link = linkOf(peer)
      const backingOff = link.stream === undefined && clock.nowMs() < link.retryAtMs
      if (backingOff || link.queue.length >= queueFramesMax || link.queueBytes + frame.byteLength > init.queueBytesMax) { stats.framesDropped++; return }
      link.queue.push(frame)
      link.queueBytes += frame.byteLength
      if (!link.pumping) void pump(link)
    },
    onFrame (h) { handler = h },
    keepAlive (peers) {
      const next = new Set(peers.filter(p => p !== self))
      for (const peer of kept) if (!next.has(peer)) { kept.delete(peer); untagKeepAlive(peer) }
      for (const peer of next) if (!kept.has(peer)) { kept.add(peer); tagKeepAlive(peer) }
    },
    stats () { return { ...stats } },
    async start () {
      if (running) return
      running = true
      shutdown = new AbortController()
      await libp2p.handle(init.protocol, (stream, connection) => {
        serve(stream, connection).catch((err: unknown) => { log('%s stream from %s failed: %s', init.protocol, connection.remotePeer.toString(), describeError(err)) })
      }, { maxInboundStreams: init.inboundStreamsMax ?? LINK_INBOUND_STREAMS_MAX, maxOutboundStreams: init.inboundStreamsMax ?? LINK_INBOUND_STREAMS_MAX })
      libp2p.addEventListener('peer:connect', onPeerConnect)
    },
    async stop () {
      if (!running) return
      running = false
      const reason = new Error(`${init.protocol} links stopped`)
      shutdown.abort(reason)
      libp2p.removeEventListener('peer:connect', onPeerConnect)
      await libp2p.unhandle(init.protocol)
      for (const stream of inbound) stream.abort(reason)
      for (const link of links.values()) { link.clear(); resetStream(link, reason) }
      links.clear()
      for (const peer of kept) untagKeepAlive(peer)
      kept.clear()
      await Promise.all([...tagging])
    }
  }
}
