// libp2p transport for raft on `/agentmesh/raft/1.0.0` (SPEC raft "Transport"): one long-lived
// outbound stream per peer carrying frames of every group, bounded queues, drops on failure (raft retries).

import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream, Connection, Logger } from '@libp2p/interface'
import type { StreamHost } from '../kit/components.ts'
import { DecodeError, LimitExceededError, describeError } from '../kit/errors.ts'
import { decodeMessage, encodeMessage, MESSAGE_BYTES_MAX, RAFT_PROTOCOL } from './messages.ts'
import type { Message } from './messages.ts'

/** Bytes of a group name in a frame (one length byte). */
export const GROUP_NAME_BYTES_MAX = 128
/** Largest frame: a message plus the group name. */
export const RAFT_FRAME_BYTES_MAX = MESSAGE_BYTES_MAX + GROUP_NAME_BYTES_MAX + 1
/** Frames queued per peer while its stream is busy: beyond, new frames are dropped (raft resends). */
export const PEER_QUEUE_FRAMES_MAX = 4096
/** How long one dial may take; a slower peer counts as unreachable for this batch. */
export const DIAL_TIMEOUT_MS = 2_000
/** After a failed dial, frames to that peer are dropped for this long instead of redialling at once. */
export const REDIAL_BACKOFF_MS = 100
/** Inbound raft streams per connection (one per remote node is normal). */
export const INBOUND_STREAMS_MAX = 8

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Counters of what the transport did. */
export interface RaftTransportStats { framesSent: number, framesReceived: number, framesDropped: number, framesRejected: number, dialFailures: number }

/** Receives the messages of one group. */
export type GroupReceiver = (message: Message) => void

/** The node-wide raft transport shared by every group. */
export interface RaftTransport {
  /** Route inbound messages of `group` to `receiver`. */
  register (group: string, receiver: GroupReceiver): void
  unregister (group: string): void
  /** Queue `message` for `message.to`; never waits, drops when the peer's queue is full or it is unreachable. */
  send (group: string, message: Message): void
  stats (): RaftTransportStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Encode one frame: group name length, group name, message. */
export function encodeFrame (group: string, message: Message): Uint8Array {
  const name = encoder.encode(group)
  if (name.byteLength > GROUP_NAME_BYTES_MAX || name.byteLength === 0) throw new LimitExceededError(`Cannot send raft message: group name of ${name.byteLength} bytes must be 1..${GROUP_NAME_BYTES_MAX} (GROUP_NAME_BYTES_MAX)`)
  const body = encodeMessage(message)
  const frame = new Uint8Array(1 + name.byteLength + body.byteLength)
  frame[0] = name.byteLength
  frame.set(name, 1)
  frame.set(body, 1 + name.byteLength)
  return frame
}

/** Decode one frame; throws DecodeError/LimitExceededError naming what is wrong. */
export function decodeFrame (frame: Uint8Array): { group: string, message: Message } {
  if (frame.byteLength < 2) throw new DecodeError('Cannot decode raft frame: too short')
  const nameBytes = frame[0]!
  if (nameBytes === 0 || nameBytes > GROUP_NAME_BYTES_MAX || 1 + nameBytes >= frame.byteLength) throw new DecodeError(`Cannot decode raft frame: bad group name length ${nameBytes}`)
  const group = decoder.decode(frame.subarray(1, 1 + nameBytes))
  return { group, message: decodeMessage(frame.subarray(1 + nameBytes)) }
}

interface Link { queue: Uint8Array[], writing: boolean, stream: Stream | null, lp: ReturnType<typeof lpStream> | null, backoffUntilMs: number }

/** Build the raft transport over a libp2p host. */
export function createRaftTransport (libp2p: StreamHost, options: { log: Logger }): RaftTransport {
  const log = options.log
  const receivers = new Map<string, GroupReceiver>()
  const links = new Map<string, Link>()
  const inbound = new Set<Stream>()
  const stats: RaftTransportStats = { framesSent: 0, framesReceived: 0, framesDropped: 0, framesRejected: 0, dialFailures: 0 }
  let shutdown = new AbortController()

  function dropLink (peer: string, link: Link, err: unknown): void {
    stats.framesDropped += link.queue.length
    link.queue = []
    if (link.stream !== null) link.stream.abort(err instanceof Error ? err : new Error(String(err)))
    link.stream = null
    link.lp = null
    link.backoffUntilMs = Date.now() + REDIAL_BACKOFF_MS
    log('raft link to %s failed: %s', peer, describeError(err))
  }

  /** Forget a stream that the remote side or the connection closed (no backoff: the peer may be back). */
  function resetStale (link: Link): void {
    if (link.stream !== null && (link.stream.status !== 'open' || link.stream.writeStatus !== 'writable')) {
      link.stream.abort(new Error('stale raft stream'))
      link.stream = null
      link.lp = null
    }
  }

  async function pump (peer: string, link: Link): Promise<void> {
    link.writing = true
    try {
      while (link.queue.length > 0 && !shutdown.signal.aborted) {
        resetStale(link)
        const fresh = link.lp === null
        if (link.lp === null) {
          try {
            const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)])
            link.stream = await libp2p.dialProtocol(peerIdFromString(peer), RAFT_PROTOCOL, { signal })
            link.lp = lpStream(link.stream, { maxDataLength: RAFT_FRAME_BYTES_MAX })
          } catch (err) {
            stats.dialFailures++
            dropLink(peer, link, err)
            return
          }
        }
        const batch = link.queue
        link.queue = []
        try {
          await link.lp.writeV(batch, { signal: shutdown.signal }) // waits for 'drain': back-pressure
          stats.framesSent += batch.length
        } catch (err) {
          if (!fresh) {
            // a long-lived stream the remote closed (e.g. it restarted): retry this batch once on a new stream
            link.stream?.abort(err as Error)
            link.stream = null
            link.lp = null
            link.queue = [...batch, ...link.queue].slice(0, PEER_QUEUE_FRAMES_MAX)
            continue
          }
          stats.framesDropped += batch.length
          dropLink(peer, link, err)
          return
        }
      }
    } finally {
      link.writing = false
    }
  }

  async function serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: RAFT_FRAME_BYTES_MAX })
    inbound.add(stream)
    try {
      while (!shutdown.signal.aborted) {
        const frame = await lp.read({ signal: shutdown.signal })
        let decoded
        try {
          decoded = decodeFrame(frame.subarray())
        } catch (err) {
          if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
          stats.framesRejected++
          log('rejected raft frame from %s: %s', from, err.message)
          continue
        }
        if (decoded.message.from !== from) {
          stats.framesRejected++
          log('rejected raft frame from %s claiming to be %s', from, decoded.message.from)
          continue
        }
        stats.framesReceived++
        receivers.get(decoded.group)?.(decoded.message)
      }
    } catch (err) {
      if (!shutdown.signal.aborted) log('raft stream from %s ended: %s', from, describeError(err))
      stream.abort(err as Error)
    } finally {
      inbound.delete(stream)
    }
  }

  // a closed connection ends its streams: redial on the next frame, without backoff
  const onPeerDisconnect = (e: CustomEvent<{ toString: () => string }>): void => {
    const link = links.get(e.detail.toString())
    if (link === undefined || link.writing) return
    link.stream?.abort(new Error('connection closed'))
    link.stream = null
    link.lp = null
  }

  return {
    register (group, receiver) { receivers.set(group, receiver) },
    unregister (group) { receivers.delete(group) },
    send (group, message) {
      if (shutdown.signal.aborted) return
      let link = links.get(message.to)
      if (link === undefined) links.set(message.to, link = { queue: [], writing: false, stream: null, lp: null, backoffUntilMs: 0 })
      if (link.queue.length >= PEER_QUEUE_FRAMES_MAX || (link.lp === null && Date.now() < link.backoffUntilMs)) { stats.framesDropped++; return }
      let frame: Uint8Array
      try {
        frame = encodeFrame(group, message)
      } catch (err) {
        if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
        stats.framesRejected++
        log.error('cannot send raft %s to %s: %s', message.type, message.to, err.message)
        return
      }
      link.queue.push(frame)
      if (!link.writing) void pump(message.to, link)
    },
    stats () { return { ...stats } },
    async start () {
      shutdown = new AbortController()
      await libp2p.handle(RAFT_PROTOCOL, (stream, connection) => { void serve(stream, connection) }, { maxInboundStreams: INBOUND_STREAMS_MAX })
      libp2p.addEventListener('peer:disconnect', onPeerDisconnect)
    },
    async stop () {
      shutdown.abort(new Error('raft transport stopped'))
      libp2p.removeEventListener('peer:disconnect', onPeerDisconnect)
      await libp2p.unhandle(RAFT_PROTOCOL)
      for (const s of inbound) s.abort(new Error('raft transport stopped'))
      for (const link of links.values()) link.stream?.abort(new Error('raft transport stopped'))
      links.clear()
    }
  }
}
