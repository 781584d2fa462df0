// libp2p adapter for health: announces on GossipSub and straight to fresh connections,
// feeds announcements and connection events into the pure core on a monotonic clock,
// and carries out its effects (events, discovery dials). Decides nothing itself.

import { TypedEventEmitter } from 'main-event'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { scoreTopic, unscoreTopic } from '../kit/gossip-score.ts'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey, Stream, Connection, Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { DecodeError, describeError } from '../kit/errors.ts'
import { closeServedStream } from '../kit/adapter-abort.ts'
import { SYNC } from '../kit/store.ts'
import type { KvStore } from '../kit/store.ts'
import type { Connections, HostEvents, HostIdentity, ProtocolDialer, PubSubHost, Registrar, ServiceBase, SigningKey } from '../kit/components.ts'
import {
  HEALTH_TOPIC, HEALTH_PROTOCOL, ANNOUNCE_BYTES_MAX, ADDRESSES_MAX, ADDRESS_CHARS_MAX,
  encodeHealthMessage, decodeHealthMessage, describeHealthMessage,
  encodeSignedHealthFrame, decodeSignedHealthFrame, healthSigningBytes
} from './messages.ts'
import type { Announce, HealthMessage } from './messages.ts'
import { HealthCore, HEALTH_INTERVAL_MS, describeHealthEffect } from './core.ts'
import type { HealthConfig, HealthEffect, PeerStatus, StepOptions, StepOutcome } from './core.ts'

/** Default suspicion threshold, in announce intervals (SPEC health "Thresholds"). */
export const HEALTH_SUSPECT_AFTER_INTERVALS = 3
/** Default death threshold, in announce intervals. */
export const HEALTH_DEAD_AFTER_INTERVALS = 10
/** Default early-suspicion grace after a closed connection, in announce intervals. */
export const HEALTH_DISCONNECT_GRACE_INTERVALS = 1.5
/** Detector ticks per announce interval: statuses change at most interval/4 late. */
export const HEALTH_TICKS_PER_INTERVAL = 4
/** Announce times vary by ±10% so a mesh started at once does not announce in lockstep. */
export const HEALTH_ANNOUNCE_JITTER = 0.1
/** Deadline of a direct announce stream (open, write, close) and of reading one. */
export const HEALTH_STREAM_TIMEOUT_MS = 5_000
/**
 * Open health streams per connection and direction: one announce per connect and one goodbye,
 * doubled because two peers dialling each other at once hold two connections for a moment.
 */
export const HEALTH_INBOUND_STREAMS_MAX = 4
/** Deadline of one discovery dial. */
export const DISCOVERY_DIAL_TIMEOUT_MS = 5_000
/** How long `stop()` waits for the goodbye to be handed to the mesh. */
export const HEALTH_GOODBYE_TIMEOUT_MS = 1_000

/** A peer as `node.peers()` reports it. */
export interface PeerInfo {
  peerId: string
  name: string
  status: PeerStatus
  /**
   * When this node last heard from the peer, as Unix epoch milliseconds (compare with
   * `Date.now()`). Measured on a monotonic clock anchored at process start, so it never jumps.
   */
  lastSeenMs: number
  /** What the peer says it can do. */
  capabilities: string[]
  /** The agentmesh version the peer runs. */
  version: string
  /** Whether this node has an open connection to the peer right now. */
  connected: boolean
}

/** Counters of what the service saw, for metrics and tests. */
export interface HealthStats {
  announcesSent: number
  directAnnouncesSent: number
  accepted: number
  stale: number
  /** Messages refused: malformed, oversized, or forged (SPEC health H7). */
  rejected: number
  rejectedMalformed: number
  rejectedForged: number
  tableFull: number
  /** Newcomers refused because their relay is not a connected member, or vouches for its limit already (H10). */
  refusedUnknownRelay: number
  refusedRelayFull: number
  dials: number
  dialFailures: number
}

/** Events of the health service. */
export interface HealthEvents {
  'peer:join': CustomEvent<{ peerId: string }>
  'peer:leave': CustomEvent<{ peerId: string }>
  'peer:status': CustomEvent<{ peerId: string, status: PeerStatus, previous: PeerStatus | 'unknown' }>
}

/** Where the service keeps its incarnation counter: a protocol namespace of the node's database. */
export interface HealthStore {
  get (key: string): Promise<Uint8Array | undefined>
  put (key: string, value: Uint8Array, options: object): Promise<void>
}

/** Options of the health service (node options map onto these). */
export interface HealthServiceOptions {
  name: string
  capabilities: string[]
  version: string
  /** Announce interval; thresholds default to multiples of it. */
  intervalMs?: number
  /** Detector thresholds and discovery limits; unset fields derive from intervalMs or core defaults. */
  config?: Partial<HealthConfig>
  store: HealthStore
  /** Options that make the incarnation write durable (fsync), e.g. SYNC_PUT. */
  syncPut: object
  /** Signs gossiped announcements: GossipSub runs StrictNoSign, so payloads carry their own signature (H7). */
  privateKey: PrivateKey
  log: Logger
}

/** What health uses of its host: GossipSub, direct announce streams, connections and dials, host events. */
export type HealthLibp2p = HostIdentity & PubSubHost & Registrar & ProtocolDialer & Connections & HostEvents

/** What the health service uses of its node. */
export interface HealthComponents extends ServiceBase, SigningKey {
  readonly libp2p: HealthLibp2p
  /** The `health` namespace of the node's database (the incarnation counter, fsynced). */
  readonly store: KvStore
}

/** Who this agent says it is, and the detector's timing. */
export type HealthServiceInit = Omit<HealthServiceOptions, 'store' | 'syncPut' | 'privateKey' | 'log'>

/** Build the health service (`node.health`). */
export function createHealthService (components: HealthComponents, init: HealthServiceInit): HealthService {
  return new HealthService(components.libp2p, { ...init, store: components.store, syncPut: SYNC, privateKey: components.privateKey, log: components.log })
}

const INCARNATION_KEY = 'incarnation'

/** `node.health`: membership, failure detection and mesh discovery. */
export class HealthService extends TypedEventEmitter<HealthEvents> {
  readonly intervalMs: number
  readonly #libp2p: HealthLibp2p
  readonly #options: HealthServiceOptions
  readonly #core: HealthCore
  readonly #log: Logger
  readonly #stats: HealthStats = { announcesSent: 0, directAnnouncesSent: 0, accepted: 0, stale: 0, rejected: 0, rejectedMalformed: 0, rejectedForged: 0, tableFull: 0, refusedUnknownRelay: 0, refusedRelayFull: 0, dials: 0, dialFailures: 0 }
  #incarnation = 0
  #seq = 0
  #timer: NodeJS.Timeout | undefined
  #nextAnnounceMs = 0
  #running = false

  constructor (libp2p: HealthLibp2p, options: HealthServiceOptions) {
    super()
    this.#libp2p = libp2p
    this.#options = options
    this.#log = options.log
    this.intervalMs = options.intervalMs ?? HEALTH_INTERVAL_MS
    if (!(this.intervalMs > 0)) throw new TypeError(`Invalid healthIntervalMs: expected a positive number, got ${String(options.intervalMs)}`)
    const config: Partial<HealthConfig> = {
      intervalMs: this.intervalMs,
      suspectAfterMs: HEALTH_SUSPECT_AFTER_INTERVALS * this.intervalMs,
      deadAfterMs: HEALTH_DEAD_AFTER_INTERVALS * this.intervalMs,
      disconnectGraceMs: HEALTH_DISCONNECT_GRACE_INTERVALS * this.intervalMs,
      ...options.config
    }
    this.#core = new HealthCore(libp2p.peerId.toString(), config)
    if (this.#core.config.suspectAfterMs <= this.intervalMs) {
      throw new TypeError(`Invalid healthSuspectAfterMs: ${this.#core.config.suspectAfterMs} must exceed healthIntervalMs (${this.intervalMs}), or every peer turns suspect between announcements`)
    }
    // Fail at creation, naming the limit, if our own name or capabilities are too big to announce.
    encodeHealthMessage(this.#announce())
  }

  /** The thresholds in force (SPEC health "Thresholds"). */
  get config (): Readonly<HealthConfig> { return this.#core.config }

  /** Every peer heard of (and not yet forgotten), sorted by peer id. */
  peers (): PeerInfo[] {
    return this.#core.peers().map(p => ({
      peerId: p.peerId,
      name: p.name,
      status: p.status,
      lastSeenMs: Math.round(p.lastHeardMs),
      capabilities: p.capabilities,
      version: p.version,
      connected: p.connected
    }))
  }

  /** One peer, or undefined if never heard of. */
  peer (peerId: string): PeerInfo | undefined {
    return this.peers().find(p => p.peerId === peerId)
  }

  /** Counters since start. */
  stats (): HealthStats { return { ...this.#stats } }

  /** The interval this node announces at now (SPEC health H9), stretched by the corroborated mesh size (H10). */
  announceIntervalMs (): number { return this.#core.announceIntervalMs() }

  /** Subscribe, serve direct announces, listen to connections, and announce now and every interval. */
  async start (): Promise<void> {
    this.#incarnation = await nextIncarnation(this.#options.store, this.#options.syncPut)
    this.#running = true
    const pubsub = this.#libp2p.services.pubsub
    pubsub.topicValidators.set(HEALTH_TOPIC, this.#validate)
    // A peer whose announces the validator rejects (forged, malformed) is graylisted (SPEC health H7).
    scoreTopic(pubsub, HEALTH_TOPIC)
    pubsub.subscribe(HEALTH_TOPIC)
    await this.#libp2p.handle(HEALTH_PROTOCOL, (stream, connection) => {
      this.#serve(stream, connection).catch((err: unknown) => {
        this.#log('health stream from %s failed: %s', connection.remotePeer.toString(), describeError(err))
        stream.abort(err as Error)
      })
    }, { maxInboundStreams: HEALTH_INBOUND_STREAMS_MAX, maxOutboundStreams: HEALTH_INBOUND_STREAMS_MAX })
    this.#libp2p.addEventListener('peer:connect', this.#onConnect)
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    const seen = new Set<string>()
    for (const connection of this.#libp2p.getConnections()) {
      const id = connection.remotePeer.toString()
      if (seen.has(id)) continue
      seen.add(id)
      this.#core.connected(id, now())
    }
    const tickMs = Math.max(10, Math.min(this.intervalMs, this.#core.config.suspectAfterMs) / HEALTH_TICKS_PER_INTERVAL)
    this.#timer = setInterval(this.#onTimer, tickMs)
    this.#timer.unref()
    this.#publish()
  }

  /** Stop announcing; with `goodbye` (a clean stop), first tell the mesh we are leaving (SPEC health H5). */
  async stop (options: { goodbye?: boolean } = {}): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearInterval(this.#timer)
    const pubsub = this.#libp2p.services.pubsub
    if (options.goodbye !== false) await this.#sayGoodbye()
    this.#libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    pubsub.topicValidators.delete(HEALTH_TOPIC)
    unscoreTopic(pubsub, HEALTH_TOPIC)
    pubsub.unsubscribe(HEALTH_TOPIC)
    await this.#libp2p.unhandle(HEALTH_PROTOCOL)
  }

  /**
   * SPEC health H5: tell connected peers directly (a stream write is flushed before libp2p
   * closes the connection, a GossipSub publish may not be) and the rest through the topic.
   */
  async #sayGoodbye (): Promise<void> {
    const goodbye = encodeHealthMessage({ kind: 'goodbye', peerId: this.#libp2p.peerId.toString(), incarnation: this.#incarnation, seq: ++this.#seq })
    const signal = AbortSignal.timeout(HEALTH_GOODBYE_TIMEOUT_MS)
    const peers = new Map(this.#libp2p.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer]))
    await Promise.all([
      this.#gossip(goodbye).catch((err: unknown) => { this.#log('could not publish goodbye: %s', describeError(err)) }),
      ...[...peers.values()].map(async peerId => { await this.#sendFrame(peerId, { frame: goodbye, signal }) })
    ])
  }

  #announce (): Announce {
    const addresses = this.#libp2p.getMultiaddrs()
      .map(a => a.decapsulateCode(421).toString()) // 421 = /p2p/: announce transport addresses only (SPEC health H7)
      .filter(a => a.length <= ADDRESS_CHARS_MAX && !a.includes('/p2p-circuit'))
    return {
      kind: 'announce',
      peerId: this.#libp2p.peerId.toString(),
      intervalMs: Math.round(this.#core.announceIntervalMs()),
      incarnation: this.#incarnation,
      seq: this.#seq,
      name: this.#options.name,
      capabilities: this.#options.capabilities,
      version: this.#options.version,
      addresses: [...new Set(addresses)].slice(0, ADDRESSES_MAX)
    }
  }

  #nextAnnounceBytes (): Uint8Array {
    this.#seq++
    return encodeHealthMessage(this.#announce())
  }

  #publish (): void {
    const nowMs = now()
    const bytes = this.#nextAnnounceBytes()
    this.#nextAnnounceMs = nowMs + this.#core.announceIntervalMs() * (1 + HEALTH_ANNOUNCE_JITTER * (2 * Math.random() - 1))
    this.#stats.announcesSent++
    this.#gossip(bytes).catch((err: unknown) => {
      this.#log('could not publish announce: %s', describeError(err))
    })
  }

  readonly #onTimer = (): void => {
    if (!this.#running) return
    const nowMs = now()
    if (nowMs >= this.#nextAnnounceMs) this.#publish()
    this.#core.tick(nowMs)
    this.#flush()
  }

  /** Sign `body` with this node's key and publish it on the topic (H7). */
  async #gossip (body: Uint8Array): Promise<void> {
    const signature = await this.#options.privateKey.sign(healthSigningBytes(body))
    await this.#libp2p.services.pubsub.publish(HEALTH_TOPIC, encodeSignedHealthFrame({ body, signature }))
  }

  /** The peer id whose key signed a gossip frame, or undefined if the frame is malformed or the signature is not the claimed author's. */
  async #signer (data: Uint8Array): Promise<{ sender: string | undefined, body: Uint8Array }> {
    let frame
    try {
      frame = decodeSignedHealthFrame(data)
    } catch {
      // Not even an envelope: #admit decodes the raw bytes and counts them as malformed.
      return { sender: undefined, body: data }
    }
    let claimed: string
    try {
      claimed = decodeHealthMessage(frame.body).peerId
    } catch {
      return { sender: undefined, body: frame.body }
    }
    try {
      const publicKey = peerIdFromString(claimed).publicKey
      const valid = publicKey !== undefined && await publicKey.verify(healthSigningBytes(frame.body), frame.signature)
      return { sender: valid ? claimed : undefined, body: frame.body }
    } catch (err) {
      this.#log('could not verify health signature claimed by %s: %s', claimed, describeError(err))
      return { sender: undefined, body: frame.body }
    }
  }

  /**
   * GossipSub validator, and where gossip is stepped: only well-formed messages signed by the
   * peer they describe pass (H7), and only those the table takes are forwarded (H10), so a
   * relay's surplus inventions stop at the first honest node instead of flooding the mesh.
   */
  readonly #validate = async (from: PeerId, message: Message): Promise<TopicValidatorResult> => {
    const { sender, body } = await this.#signer(message.data)
    const admitted = this.#admit(body, { sender, via: 'gossip' })
    if (admitted === undefined) return TopicValidatorResult.Reject
    if (!this.#running) return TopicValidatorResult.Ignore
    // Ignore, not Reject: an honest relay can be at its bound or unknown to us for a moment.
    return this.#step(admitted, { relay: from.toString() }) === 'accepted' ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
  }

  /** Decode and authenticate one message; count, log and return undefined if it is refused (H7). */
  #admit (bytes: Uint8Array, from: { sender: string | undefined, via: string }): HealthMessage | undefined {
    const { sender, via } = from
    let decoded: HealthMessage
    try {
      decoded = decodeHealthMessage(bytes)
    } catch (err) {
      this.#stats.rejected++
      this.#stats.rejectedMalformed++
      this.#log('rejected malformed health message via %s from %s: %s', via, sender ?? 'unsigned sender', describeError(err))
      return undefined
    }
    if (decoded.peerId !== sender) {
      this.#stats.rejected++
      this.#stats.rejectedForged++
      this.#log('rejected forged health message via %s: sent by %s but claims to be from %s', via, sender ?? 'unsigned sender', decoded.peerId)
      return undefined
    }
    return decoded
  }

  #step (message: HealthMessage, options: StepOptions = {}): StepOutcome {
    const outcome = this.#core.step(message, now(), options)
    switch (outcome) {
      case 'accepted': this.#stats.accepted++; break
      case 'stale': this.#stats.stale++; break
      case 'self': break
      case 'table-full':
        this.#stats.tableFull++
        this.#log('membership table full (peersMax %d); ignoring %s', this.#core.config.peersMax, describeHealthMessage(message))
        break
      case 'unknown-relay':
        this.#stats.refusedUnknownRelay++
        this.#log('newcomer relayed by %s, not a connected member; ignoring %s', options.relay, describeHealthMessage(message))
        break
      case 'relay-full':
        this.#stats.refusedRelayFull++
        this.#log('%s already vouches for %d peers (relayedPerPeerMax); ignoring %s', options.relay, this.#core.config.relayedPerPeerMax, describeHealthMessage(message))
        break
    }
    this.#flush()
    return outcome
  }

  readonly #onConnect = (event: CustomEvent<PeerId>): void => {
    if (!this.#running) return
    this.#core.connected(event.detail.toString(), now())
    void this.#sendDirect(event.detail)
  }

  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    if (!this.#running) return
    this.#core.disconnected(event.detail.toString(), now())
  }

  /** GossipSub meshes take a heartbeat to form; a fresh connection hears from us at once. */
  async #sendDirect (peerId: PeerId): Promise<void> {
    if (await this.#sendFrame(peerId, { frame: this.#nextAnnounceBytes(), signal: AbortSignal.timeout(HEALTH_STREAM_TIMEOUT_MS) })) this.#stats.directAnnouncesSent++
  }

  /** Write one frame on a fresh health stream; false (logged) if the peer does not take it. */
  async #sendFrame (peerId: PeerId, options: { frame: Uint8Array, signal: AbortSignal }): Promise<boolean> {
    const { frame, signal } = options
    let stream: Stream
    try {
      stream = await this.#libp2p.dialProtocol(peerId, HEALTH_PROTOCOL, { signal })
    } catch (err) {
      this.#log('no health stream to %s: %s', peerId.toString(), describeError(err))
      return false
    }
    try {
      await lpStream(stream, { maxDataLength: ANNOUNCE_BYTES_MAX }).write(frame, { signal })
      await stream.close({ signal })
      // The receiver closes its side once it has stepped the frame. Waiting for that keeps a
      // stopping node from closing the connection while the frame is still in the pipeline
      // (seen in tests: a goodbye lost that way).
      await remoteClosed(stream, signal)
      return true
    } catch (err) {
      this.#log('health frame to %s failed: %s', peerId.toString(), describeError(err))
      stream.abort(err as Error)
      return false
    }
  }

  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(HEALTH_STREAM_TIMEOUT_MS)
    const from = connection.remotePeer.toString()
    let bytes: Uint8Array
    try {
      bytes = (await lpStream(stream, { maxDataLength: ANNOUNCE_BYTES_MAX }).read({ signal })).subarray()
    } catch (err) {
      // An oversized length prefix is hostile input; an early close or timeout is just a peer going away.
      if ((err as Error).name === 'InvalidDataLengthError') {
        this.#stats.rejected++
        this.#stats.rejectedMalformed++
      }
      this.#log('rejected direct health frame from %s: %s', from, describeError(err))
      stream.abort(new DecodeError(`health frame rejected: ${describeError(err)}`))
      return
    }
    // Step before closing: a goodbye's sender may already be tearing the connection down.
    const message = this.#admit(bytes, { sender: from, via: 'direct stream' })
    if (message !== undefined && this.#running) this.#step(message)
    await closeServedStream(stream, { what: `health stream from ${from}` })
  }

  #flush (): void {
    for (const effect of this.#core.drain()) this.#apply(effect)
  }

  #apply (effect: HealthEffect): void {
    this.#log('%s', describeHealthEffect(effect))
    switch (effect.type) {
      case 'status':
        this.safeDispatchEvent('peer:status', { detail: { peerId: effect.peerId, status: effect.status, previous: effect.previous } })
        return
      case 'join':
      case 'leave':
        this.safeDispatchEvent(`peer:${effect.type}`, { detail: { peerId: effect.peerId } })
        return
      case 'dial':
        void this.#dial(effect.peerId, effect.addresses)
    }
  }

  /** SPEC health H8: connect to a peer learned from its announcement. */
  async #dial (peerId: string, addresses: string[]): Promise<void> {
    this.#stats.dials++
    let ok = false
    try {
      const targets = addresses.map(a => multiaddr(`${a}/p2p/${peerId}`))
      await this.#libp2p.dial(targets, { signal: AbortSignal.timeout(DISCOVERY_DIAL_TIMEOUT_MS) })
      ok = true
    } catch (err) {
      this.#stats.dialFailures++
      this.#log('discovery dial to %s failed: %s', peerId, describeError(err))
    }
    if (!this.#running) return
    this.#core.dialFinished({ peerId, ok }, now())
  }
}

/** Bump and durably store this node's incarnation (SPEC health H2): restarts outrank old seqs. */
export async function nextIncarnation (store: HealthStore, syncPut: object): Promise<number> {
  const stored = await store.get(INCARNATION_KEY)
  const previous = stored === undefined ? 0 : new DataView(stored.buffer, stored.byteOffset, stored.byteLength).getFloat64(0)
  const next = Number.isSafeInteger(previous) && previous >= 0 ? previous + 1 : 1
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setFloat64(0, next)
  await store.put(INCARNATION_KEY, bytes, syncPut)
  return next
}

/** Resolve once the remote has closed its writing side of `stream`, or reject when `signal` aborts. */
async function remoteClosed (stream: Stream, signal: AbortSignal): Promise<void> {
  if (stream.remoteWriteStatus === 'closed' || stream.status !== 'open') return
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.removeEventListener('remoteCloseWrite', done)
      stream.removeEventListener('close', done)
      signal.removeEventListener('abort', aborted)
      resolve()
    }
    const aborted = (): void => {
      stream.removeEventListener('remoteCloseWrite', done)
      stream.removeEventListener('close', done)
      reject(signal.reason as Error)
    }
    stream.addEventListener('remoteCloseWrite', done)
    stream.addEventListener('close', done)
    signal.addEventListener('abort', aborted, { once: true })
  })
}

/** Monotonic milliseconds on the Unix epoch scale: never jumps with wall-clock changes. */
function now (): number {
  return performance.timeOrigin + performance.now()
}
