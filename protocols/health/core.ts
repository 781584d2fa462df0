// Pure failure detector and membership table (SPEC health H1-H8): announcements and
// connection events step in, time arrives as `nowMs`, and join/leave/status/dial
// effects come out in order through `drain()`. No I/O, no timers, no clock.

import { assert } from '../kit/assert.ts'
import type { HealthMessage } from './messages.ts'
import { backoffDelayMs } from '../kit/backoff.ts'

/** Default announce interval: one small message per node per second (SPEC health "Thresholds"). */
export const HEALTH_INTERVAL_MS = 1_000
/** Silence after which a peer is `suspect`: three missed announcements (SPEC health H3). */
export const HEALTH_SUSPECT_AFTER_MS = 3_000
/** Silence after which a peer is `dead`: ten missed announcements (SPEC health H4). */
export const HEALTH_DEAD_AFTER_MS = 10_000
/** A peer whose connection closed and that stayed silent this long is `suspect` early (H3). */
export const HEALTH_DISCONNECT_GRACE_MS = 1_500
/**
 * Announcements the whole mesh should publish per base interval. Every node receives every
 * announcement, so a mesh of N nodes costs each node N messages per interval and a process
 * running N nodes N² (plus GossipSub forwarding): nodes stretch their interval once the mesh
 * outgrows this, keeping the topic at about 32 messages per interval (H9).
 */
export const HEALTH_ANNOUNCES_PER_INTERVAL_MAX = 32
/** Most an interval is stretched, and most a receiver scales a peer's thresholds (H9). */
export const HEALTH_INTERVAL_SCALE_MAX = 16
/** Dead peers stay listed this long, so operators can see who died, then are dropped (H6). */
export const HEALTH_FORGET_AFTER_MS = 5 * 60_000
/** Peers tracked at most: 5x the 200-node meshes we run in one process; bounds memory (H6). */
export const HEALTH_PEERS_MAX = 1_024
/**
 * Connections discovery tops up to: GossipSub wants D=6 mesh peers (D_lo=4), and 8 leaves it
 * spares. Beyond this, reach comes from gossip relaying, not from more sockets (H8).
 */
export const DISCOVERY_CONNECTIONS_TARGET = 8
/** Discovery dials running at once: a burst of announcements cannot trigger a dial storm. */
export const DISCOVERY_DIALS_IN_FLIGHT_MAX = 4
/** First wait before redialling a peer after a dial (failed or not), so a flapping link cannot spin. */
export const DISCOVERY_BACKOFF_MIN_MS = 1_000
/** Ceiling of the exponential redial backoff for a peer that keeps failing. */
export const DISCOVERY_BACKOFF_MAX_MS = 60_000

/** What the failure detector thinks of a peer. */
export type PeerStatus = 'alive' | 'suspect' | 'dead'

/** Thresholds and limits of one detector; every field has a named default above. */
export interface HealthConfig {
  /** The base announce interval the thresholds below are written for. */
  intervalMs: number
  announcesPerIntervalMax: number
  intervalScaleMax: number
  suspectAfterMs: number
  deadAfterMs: number
  disconnectGraceMs: number
  forgetAfterMs: number
  peersMax: number
  connectionsTarget: number
  dialsInFlightMax: number
  dialBackoffMinMs: number
  dialBackoffMaxMs: number
}

/** The default configuration (SPEC health "Thresholds"). */
export const DEFAULT_HEALTH_CONFIG: Readonly<HealthConfig> = Object.freeze({
  intervalMs: HEALTH_INTERVAL_MS,
  announcesPerIntervalMax: HEALTH_ANNOUNCES_PER_INTERVAL_MAX,
  intervalScaleMax: HEALTH_INTERVAL_SCALE_MAX,
  suspectAfterMs: HEALTH_SUSPECT_AFTER_MS,
  deadAfterMs: HEALTH_DEAD_AFTER_MS,
  disconnectGraceMs: HEALTH_DISCONNECT_GRACE_MS,
  forgetAfterMs: HEALTH_FORGET_AFTER_MS,
  peersMax: HEALTH_PEERS_MAX,
  connectionsTarget: DISCOVERY_CONNECTIONS_TARGET,
  dialsInFlightMax: DISCOVERY_DIALS_IN_FLIGHT_MAX,
  dialBackoffMinMs: DISCOVERY_BACKOFF_MIN_MS,
  dialBackoffMaxMs: DISCOVERY_BACKOFF_MAX_MS
})

/** An effect for the adapter to carry out, in `drain()` order. */
export type HealthEffect =
  | { type: 'status', peerId: string, status: PeerStatus, previous: PeerStatus | 'unknown' }
  | { type: 'join', peerId: string }
  | { type: 'leave', peerId: string }
  | { type: 'dial', peerId: string, addresses: string[] }

/** What `step()` did with a message. */
export type StepOutcome = 'accepted' | 'stale' | 'self' | 'table-full'

/** One row of the membership table, as callers see it. */
export interface PeerView {
  peerId: string
  name: string
  status: PeerStatus
  /** `nowMs` (the caller's clock) at which the last accepted message from the peer arrived. */
  lastHeardMs: number
  capabilities: string[]
  version: string
  addresses: string[]
  connected: boolean
}

interface PeerEntry {
  peerId: string
  /** The interval the peer last declared; 0 until it announced (a goodbye carries none). */
  intervalMs: number
  name: string
  capabilities: string[]
  version: string
  addresses: string[]
  incarnation: number
  seq: number
  status: PeerStatus
  lastHeardMs: number
  statusSinceMs: number
  /** Set when our last connection closed and cleared when one opens. */
  disconnectedAtMs: number | undefined
  left: boolean
  dialing: boolean
  dialFailures: number
  nextDialMs: number
}

/** Throw a TypeError naming the field unless `config` is usable (H1: suspect < dead). */
export function checkHealthConfig (config: HealthConfig): void {
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TypeError(`Invalid health option ${key}: expected a non-negative number, got ${String(value)}`)
  }
  if (config.intervalMs <= 0) throw new TypeError(`Invalid health option intervalMs: must be positive, got ${config.intervalMs}`)
  if (config.announcesPerIntervalMax < 1) throw new TypeError('Invalid health option announcesPerIntervalMax: must be at least 1')
  if (config.intervalScaleMax < 1) throw new TypeError('Invalid health option intervalScaleMax: must be at least 1')
  if (config.suspectAfterMs <= 0) throw new TypeError(`Invalid health option suspectAfterMs: must be positive, got ${config.suspectAfterMs}`)
  if (config.deadAfterMs <= config.suspectAfterMs) throw new TypeError(`Invalid health option deadAfterMs: ${config.deadAfterMs} must exceed suspectAfterMs (${config.suspectAfterMs})`)
  if (config.peersMax < 1) throw new TypeError('Invalid health option peersMax: must be at least 1')
  if (config.dialBackoffMaxMs < config.dialBackoffMinMs) throw new TypeError(`Invalid health option dialBackoffMaxMs: ${config.dialBackoffMaxMs} is below dialBackoffMinMs (${config.dialBackoffMinMs})`)
}

/** The membership table and failure detector of one node. */
export class HealthCore {
  readonly selfId: string
  readonly config: Readonly<HealthConfig>
  readonly #peers = new Map<string, PeerEntry>()
  /** Peers with at least one open connection; bounded by libp2p's connection limit and by peersMax here. */
  readonly #connected = new Set<string>()
  #effects: HealthEffect[] = []
  #nowMs = -Infinity

  constructor (selfId: string, config: Partial<HealthConfig> = {}) {
    this.selfId = selfId
    this.config = Object.freeze({ ...DEFAULT_HEALTH_CONFIG, ...config })
    checkHealthConfig(this.config)
  }

  /** Take in an announcement or goodbye that arrived at `nowMs` (H2, H5). */
  step (message: HealthMessage, nowMs: number): StepOutcome {
    this.#advance(nowMs)
    if (message.peerId === this.selfId) return 'self'
    let entry = this.#peers.get(message.peerId)
    if (entry !== undefined && !isNewer(message, entry)) return 'stale'
    if (entry === undefined) {
      if (message.kind === 'goodbye') return 'stale'
      if (!this.#makeRoom()) return 'table-full'
      entry = this.#newEntry(message.peerId, nowMs)
      this.#peers.set(entry.peerId, entry)
    }
    entry.incarnation = message.incarnation
    entry.seq = message.seq
    entry.lastHeardMs = nowMs
    if (message.kind === 'goodbye') {
      entry.left = true
      this.#setStatus(entry, 'dead', nowMs)
      return 'accepted'
    }
    entry.left = false
    entry.intervalMs = message.intervalMs
    entry.name = message.name
    entry.capabilities = [...message.capabilities]
    entry.version = message.version
    entry.addresses = [...message.addresses]
    this.#setStatus(entry, 'alive', nowMs)
    return 'accepted'
  }

  /** A connection to `peerId` opened (first one to that peer). */
  connected (peerId: string, nowMs: number): void {
    this.#advance(nowMs)
    if (peerId === this.selfId) return
    if (this.#connected.size >= this.config.peersMax && !this.#connected.has(peerId)) return
    this.#connected.add(peerId)
    const entry = this.#peers.get(peerId)
    if (entry !== undefined) entry.disconnectedAtMs = undefined
  }

  /** The last connection to `peerId` closed. */
  disconnected (peerId: string, nowMs: number): void {
    this.#advance(nowMs)
    this.#connected.delete(peerId)
    const entry = this.#peers.get(peerId)
    if (entry !== undefined) entry.disconnectedAtMs = nowMs
  }

  /** A discovery dial requested by a `dial` effect finished, connected (`ok`) or not (H8). */
  dialFinished (result: { peerId: string, ok: boolean }, nowMs: number): void {
    const { peerId, ok } = result
    this.#advance(nowMs)
    const entry = this.#peers.get(peerId)
    if (entry === undefined) return
    entry.dialing = false
    entry.dialFailures = ok ? 0 : entry.dialFailures + 1
    entry.nextDialMs = nowMs + backoffDelayMs(entry.dialFailures, { initialMs: this.config.dialBackoffMinMs, maxMs: this.config.dialBackoffMaxMs })
  }

  /** Let time pass: update statuses (H3, H4), forget old dead peers (H6), plan dials (H8). */
  tick (nowMs: number): void {
    this.#advance(nowMs)
    for (const entry of [...this.#peers.values()]) {
      const status = this.#statusAt(entry, nowMs)
      if (status !== entry.status) this.#setStatus(entry, status, nowMs)
      if (entry.status === 'dead' && nowMs - entry.statusSinceMs >= this.config.forgetAfterMs && !entry.dialing) this.#peers.delete(entry.peerId)
    }
    this.#planDials(nowMs)
  }

  /** Effects produced since the last drain, oldest first. */
  drain (): HealthEffect[] {
    const effects = this.#effects
    this.#effects = []
    return effects
  }

  /** The membership table, sorted by peer id. */
  peers (): PeerView[] {
    return [...this.#peers.values()].sort((a, b) => compare(a.peerId, b.peerId)).map(view.bind(null, this.#connected))
  }

  /** One row of the table, or undefined for a peer never heard of (or forgotten). */
  peer (peerId: string): PeerView | undefined {
    const entry = this.#peers.get(peerId)
    return entry === undefined ? undefined : view(this.#connected, entry)
  }

  /**
   * H9: the interval this node should announce at now: the base interval, stretched so the
   * whole mesh (every alive peer plus us) publishes about announcesPerIntervalMax per base interval.
   */
  announceIntervalMs (): number {
    let alive = 1
    for (const entry of this.#peers.values()) if (entry.status !== 'dead') alive++
    const scale = Math.min(this.config.intervalScaleMax, Math.max(1, Math.ceil(alive / this.config.announcesPerIntervalMax)))
    return this.config.intervalMs * scale
  }

  /** Peers with an open connection right now. */
  connectedCount (): number { return this.#connected.size }

  #advance (nowMs: number): void {
    assert(Number.isFinite(nowMs), 'nowMs is a finite number')
    assert(nowMs >= this.#nowMs, `time never goes backwards (${nowMs} after ${this.#nowMs})`)
    this.#nowMs = nowMs
  }

  #statusAt (entry: PeerEntry, nowMs: number): PeerStatus {
    if (entry.left) return 'dead'
    const scale = this.thresholdScale(entry.intervalMs)
    const silentMs = nowMs - entry.lastHeardMs
    if (silentMs >= this.config.deadAfterMs * scale) return 'dead'
    if (silentMs >= this.config.suspectAfterMs * scale) return 'suspect'
    const lostLink = entry.disconnectedAtMs !== undefined && entry.disconnectedAtMs >= entry.lastHeardMs
    if (lostLink && nowMs - (entry.disconnectedAtMs ?? nowMs) >= this.config.disconnectGraceMs * scale) return 'suspect'
    return 'alive'
  }

  /** H9: thresholds stretch with a peer's declared interval, from 1x up to intervalScaleMax. */
  thresholdScale (peerIntervalMs: number): number {
    return Math.min(this.config.intervalScaleMax, Math.max(1, peerIntervalMs / this.config.intervalMs))
  }

  #setStatus (entry: PeerEntry, status: PeerStatus, nowMs: number): void {
    const previous = entry.status
    const isNew = entry.statusSinceMs < 0
    if (!isNew && previous === status) return
    entry.status = status
    entry.statusSinceMs = nowMs
    this.#effects.push({ type: 'status', peerId: entry.peerId, status, previous: isNew ? 'unknown' : previous })
    // H2/H4: join when a peer becomes reachable from unknown or dead; leave when it becomes dead.
    if (status === 'alive' && (isNew || previous === 'dead')) this.#effects.push({ type: 'join', peerId: entry.peerId })
    if (status === 'dead' && !isNew) this.#effects.push({ type: 'leave', peerId: entry.peerId })
  }

  #newEntry (peerId: string, nowMs: number): PeerEntry {
    return {
      peerId,
      intervalMs: 0,
      name: '',
      capabilities: [],
      version: '',
      addresses: [],
      incarnation: 0,
      seq: 0,
      status: 'alive',
      lastHeardMs: nowMs,
      statusSinceMs: -1,
      disconnectedAtMs: undefined,
      left: false,
      dialing: false,
      dialFailures: 0,
      nextDialMs: nowMs
    }
  }

  /** H6: make room for one more peer by dropping the longest-silent dead one. */
  #makeRoom (): boolean {
    if (this.#peers.size < this.config.peersMax) return true
    let oldest: PeerEntry | undefined
    for (const entry of this.#peers.values()) {
      if (entry.status !== 'dead' || entry.dialing) continue
      if (oldest === undefined || entry.lastHeardMs < oldest.lastHeardMs) oldest = entry
    }
    if (oldest === undefined) return false
    this.#peers.delete(oldest.peerId)
    return true
  }

  /** H8: dial alive, unconnected peers until connections + dials in flight reach the target. */
  #planDials (nowMs: number): void {
    let inFlight = 0
    for (const entry of this.#peers.values()) if (entry.dialing) inFlight++
    let budget = Math.min(this.config.dialsInFlightMax - inFlight, this.config.connectionsTarget - this.#connected.size - inFlight)
    if (budget <= 0) return
    const candidates = [...this.#peers.values()]
      .filter(e => e.status === 'alive' && !e.dialing && !this.#connected.has(e.peerId) && e.nextDialMs <= nowMs && e.addresses.length > 0)
      .sort((a, b) => dialRank(this.selfId, a.peerId) - dialRank(this.selfId, b.peerId) || compare(a.peerId, b.peerId))
    for (const entry of candidates) {
      if (budget-- <= 0) break
      entry.dialing = true
      this.#effects.push({ type: 'dial', peerId: entry.peerId, addresses: [...entry.addresses] })
    }
  }
}

/** H2: (incarnation, seq) orders a sender's messages; only strictly newer ones count. */
function isNewer (message: HealthMessage, entry: PeerEntry): boolean {
  if (message.incarnation !== entry.incarnation) return message.incarnation > entry.incarnation
  return message.seq > entry.seq
}

function view (connected: ReadonlySet<string>, entry: PeerEntry): PeerView {
  return {
    peerId: entry.peerId,
    name: entry.name,
    status: entry.status,
    lastHeardMs: entry.lastHeardMs,
    capabilities: [...entry.capabilities],
    version: entry.version,
    addresses: [...entry.addresses],
    connected: connected.has(entry.peerId)
  }
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * H8: each node orders dial candidates by a hash of (self, candidate), so 200 nodes that all
 * hear the same announcements spread their dials instead of all dialling the same few peers.
 * FNV-1a, 32 bits: deterministic and cheap; not a security boundary.
 */
export function dialRank (selfId: string, peerId: string): number {
  let hash = 0x811c9dc5
  const text = `${selfId}/${peerId}`
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/** One stable line describing an effect, for logs and traces. */
export function describeHealthEffect (effect: HealthEffect): string {
  switch (effect.type) {
    case 'status': return `status ${effect.peerId} ${effect.previous}->${effect.status}`
    case 'join': return `join ${effect.peerId}`
    case 'leave': return `leave ${effect.peerId}`
    case 'dial': return `dial ${effect.peerId} [${effect.addresses.join(' ')}]`
  }
}
