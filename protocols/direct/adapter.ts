// libp2p adapter for the direct protocol: one short-lived stream per call over the
// pooled connection. Parses, dispatches and replies; decides nothing else.

import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream, Connection } from '@libp2p/interface'
import { DecodeError, LimitExceededError, PeerUnreachableError, describeError } from '../kit/errors.ts'
import { parsePeerId } from '../kit/peer-id.ts'
import type { ProtocolDialer, Registrar, ServiceBase } from '../kit/components.ts'
import { closeServedStream, deadlineSignal, explainAbort } from '../kit/adapter-abort.ts'
import {
  DIRECT_PROTOCOL, DIRECT_FRAME_BYTES_MAX, checkMethod, decodeRequest, decodeResponse,
  encodeRequest, encodeResponse
} from './messages.ts'
import type { Payload, ResponseFrame } from './messages.ts'
import { RateLimitedError, RemoteError, UnknownMethodError } from './errors.ts'
import { KeyedTokenBuckets } from '../kit/token-bucket.ts'
import type { TokenBucketLimits } from '../kit/token-bucket.ts'
import { systemClock } from '../kit/clock.ts'

/** Refusals are logged once per this many, so a flood does not become a log flood. */
const RATE_LIMIT_LOG_EVERY = 1_000
/** Concurrent inbound direct streams per connection (SPEC direct, "Limits"). */
export const DIRECT_INBOUND_STREAMS_MAX = 256
/** Default caller deadline. */
export const DIRECT_REQUEST_TIMEOUT_MS = 30_000
/** How long a server waits for the request frame. */
export const DIRECT_READ_TIMEOUT_MS = 10_000
/**
 * How long a served stream waits, after its answer, for the peer to close its side (5 s) before
 * it is aborted: an honest caller closes as soon as it has read the answer; one that stalled
 * mid-request never does, and would hold a stream slot until the muxer's idle timeout.
 */
export const DIRECT_CLOSE_LINGER_MS = 5_000
/**
 * Requests (and messages) one peer may make per second, sustained (SPEC direct D5). An agent
 * calling another hundreds of times a second is a bulk transfer, which belongs in events or
 * docs; one node serves a few thousand small requests a second on this machine class, so no
 * single peer can take more than a fraction of it.
 */
export const DIRECT_REQUESTS_PER_PEER_PER_S = 200
/** Requests one peer may make at once above the sustained rate: a fan-out of work, or a catch-up after a pause. */
export const DIRECT_REQUESTS_PER_PEER_BURST = 400
/** Peers whose budgets are tracked at once; libp2p caps connections at 300, so this is never the bound in practice. */
export const DIRECT_RATE_PEERS_MAX = 1_024
/** The per-peer budget as a token bucket (SPEC direct D5). */
export const DIRECT_RATE_PER_PEER: Readonly<TokenBucketLimits> = Object.freeze({ capacity: DIRECT_REQUESTS_PER_PEER_BURST, refillPerS: DIRECT_REQUESTS_PER_PEER_PER_S })
/** The name a refusal carries, so callers and logs can tell which limit they hit. */
export const DIRECT_RATE_LIMIT_NAME = 'DIRECT_REQUESTS_PER_PEER_PER_S'

/** Who sent a request, as a handler sees it. */
export interface RequestContext { from: string, method: string }
/** An application handler: its return value is the reply. */
export type DirectHandler = (payload: Payload, context: RequestContext) => Payload | undefined | Promise<Payload | undefined>
/** Options of one call. */
export interface CallOptions { timeoutMs?: number, signal?: AbortSignal }

/** Counters of what the service saw, for metrics and tests. */
export interface DirectStats { served: number, rejected: number, handlerErrors: number, unknownMethods: number, rateLimited: number }

/** The `node.direct` API. */
export interface DirectService {
  handle (method: string, handler: DirectHandler): void
  unhandle (method: string): void
  request (peer: string | PeerId, method: string, payload: Payload | undefined, options?: CallOptions): Promise<Payload>
  send (peer: string | PeerId, method: string, payload: Payload | undefined, options?: CallOptions): Promise<void>
  stats (): DirectStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** What the direct service uses of its node: handlers and dials. */
export interface DirectComponents extends ServiceBase { readonly libp2p: Registrar & ProtocolDialer }

/** Tunables of the direct service. */
export interface DirectServiceInit {
  /** Largest request or reply frame sent or accepted (default DIRECT_FRAME_BYTES_MAX). */
  frameBytesMax?: number
}

/** Build the direct service. */
export function createDirectService (components: DirectComponents, init: DirectServiceInit = {}): DirectService {
  const frameBytesMax = init.frameBytesMax ?? DIRECT_FRAME_BYTES_MAX
  const { libp2p, log } = components
  const handlers = new Map<string, DirectHandler>()
  const stats: DirectStats = { served: 0, rejected: 0, handlerErrors: 0, unknownMethods: 0, rateLimited: 0 }
  const budgets = new KeyedTokenBuckets(DIRECT_RATE_PER_PEER, { keysMax: DIRECT_RATE_PEERS_MAX })
  const ratePerPeer = budgets.limits

  async function respond (stream: Stream, frame: ResponseFrame, signal: AbortSignal): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: frameBytesMax })
    await lp.write(encodeResponse(frame), { signal })
  }

  async function serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(DIRECT_READ_TIMEOUT_MS)
    // SPEC direct D5: charge the stream before reading it, so a peer over budget costs no decode.
    if (!budgets.take(from, systemClock.nowMs())) {
      stats.rateLimited++
      const message = `over ${DIRECT_RATE_LIMIT_NAME} (${ratePerPeer.refillPerS} requests/s per peer, burst ${ratePerPeer.capacity})`
      if (stats.rateLimited % RATE_LIMIT_LOG_EVERY === 1) log('refused direct stream from %s: %s (%d refused so far)', from, message, stats.rateLimited)
      await respond(stream, { kind: 'failure', code: 'rate-limited', message }, signal)
      await closeServedStream(stream, { lingerMs: DIRECT_CLOSE_LINGER_MS, what: `direct stream from ${from}` })
      return
    }
    const lp = lpStream(stream, { maxDataLength: frameBytesMax })
    let bytes: Uint8Array
    try {
      bytes = (await lp.read({ signal })).subarray()
    } catch (err) {
      stats.rejected++
      const tooLarge = (err as Error).name === 'InvalidDataLengthError'
      const message = tooLarge
        ? `request frame exceeds this node's frame limit of ${frameBytesMax} bytes (DIRECT_FRAME_BYTES_MAX)`
        : `could not read request frame: ${describeError(err)}`
      log('rejected direct stream from %s: %s', from, message)
      await respond(stream, { kind: 'failure', code: tooLarge ? 'frame-too-large' : 'bad-request', message }, signal)
      await closeServedStream(stream, { lingerMs: DIRECT_CLOSE_LINGER_MS, what: `direct stream from ${from}` })
      return
    }
    let request
    try {
      request = decodeRequest(bytes, frameBytesMax)
    } catch (err) {
      stats.rejected++
      log('rejected direct request from %s: %s', from, describeError(err))
      await respond(stream, { kind: 'failure', code: 'bad-request', message: (err as Error).message }, signal)
      await closeServedStream(stream, { lingerMs: DIRECT_CLOSE_LINGER_MS, what: `direct stream from ${from}` })
      return
    }
    const handler = handlers.get(request.method)
    let response: ResponseFrame
    if (handler === undefined) {
      stats.unknownMethods++
      response = { kind: 'failure', code: 'unknown-method', message: `no handler for method "${request.method}"` }
    } else {
      try {
        const payload = await handler(request.payload, { from, method: request.method })
        stats.served++
        response = { kind: 'reply', payload: payload ?? null }
      } catch (err) {
        stats.handlerErrors++
        log('handler for "%s" threw: %s', request.method, describeError(err))
        response = { kind: 'failure', code: 'handler-error', message: (err as Error)?.message ?? String(err) }
      }
    }
    if (request.kind === 'request') await respond(stream, response, AbortSignal.timeout(DIRECT_READ_TIMEOUT_MS))
    await closeServedStream(stream, { lingerMs: DIRECT_CLOSE_LINGER_MS, what: `direct stream from ${from}` })
  }

  async function call (peer: string | PeerId, method: string, payload: Payload | undefined, kind: 'request' | 'message', callOptions: CallOptions): Promise<Payload> {
    checkMethod(method)
    const peerId = typeof peer === 'string' ? parsePeerId(peer) : peer
    const frame = encodeRequest({ version: 1, kind, method, payload: payload ?? null })
    if (frame.byteLength > frameBytesMax) {
      throw new LimitExceededError(`Cannot send "${method}" to ${peerId.toString()}: frame of ${frame.byteLength} bytes exceeds DIRECT_FRAME_BYTES_MAX (${frameBytesMax})`)
    }
    const timeoutMs = callOptions.timeoutMs ?? DIRECT_REQUEST_TIMEOUT_MS
    const signal = deadlineSignal(timeoutMs, callOptions.signal)
    const what = `direct ${kind} "${method}" to ${peerId.toString()}`
    let stream: Stream
    try {
      stream = await libp2p.dialProtocol(peerId, DIRECT_PROTOCOL, { signal })
    } catch (err) {
      const explained = explainAbort(err, { what, timeoutMs, signal: callOptions.signal })
      if (explained !== err) throw explained
      throw new PeerUnreachableError(`Cannot reach peer ${peerId.toString()} for "${method}": ${describeError(err)}`, { cause: err })
    }
    try {
      const lp = lpStream(stream, { maxDataLength: frameBytesMax })
      await lp.write(frame, { signal })
      if (kind === 'message') {
        await stream.close({ signal })
        return null
      }
      const response = decodeResponse((await lp.read({ signal })).subarray(), frameBytesMax)
      await stream.close({ signal })
      if (response.kind === 'reply') return response.payload
      if (response.code === 'unknown-method') throw new UnknownMethodError(method, peerId.toString())
      if (response.code === 'rate-limited') throw new RateLimitedError({ method, peerId: peerId.toString(), limit: DIRECT_RATE_LIMIT_NAME, message: response.message })
      throw new RemoteError({ method, peerId: peerId.toString(), code: response.code, message: response.message })
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof UnknownMethodError || err instanceof RemoteError || err instanceof RateLimitedError || err instanceof DecodeError) throw err
      throw explainAbort(err, { what, timeoutMs, signal: callOptions.signal })
    }
  }

  return {
    handle (method, handler) {
      checkMethod(method)
      handlers.set(method, handler)
    },
    unhandle (method) { handlers.delete(method) },
    async request (peer, method, payload, callOptions = {}) {
      return call(peer, method, payload, 'request', callOptions)
    },
    async send (peer, method, payload, callOptions = {}) {
      await call(peer, method, payload, 'message', callOptions)
    },
    stats: () => ({ ...stats }),
    async start () {
      await libp2p.handle(DIRECT_PROTOCOL, (stream, connection) => {
        serve(stream, connection).catch((err: unknown) => {
          log('direct stream from %s failed: %s', connection.remotePeer.toString(), describeError(err))
          stream.abort(err as Error)
        })
      }, { maxInboundStreams: DIRECT_INBOUND_STREAMS_MAX, maxOutboundStreams: DIRECT_INBOUND_STREAMS_MAX })
    },
    async stop () {
      await libp2p.unhandle(DIRECT_PROTOCOL)
    }
  }
}

/** Parse a peer id string (moved to protocols/kit/peer-id.ts; kept for existing importers). */
export { parsePeerId }
