// Pure failure detector and membership table (SPEC health H1-H8): announcements and
// connection events step in, time arrives as `nowMs`, and join/leave/status/dial
// effects come out in order through `drain()`. No I/O, no timers, no clock.

import { corroboratedMemberCount, HEALTH_RELAYS_CORROBORATING } from './evidence.ts'
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
 * Peers one relay may vouch for (H10): entries we only know through gossip that this relay
 * delivered. A quarter of the table: an honest mesh spreads its relayed peers over about six
 * GossipSub mesh peers (1024 / 6 ≈ 170 each), while a stranger that generates a thousand ids
 * fills at most a quarter of any node's table, and none of the rest.
 */
export const HEALTH_RELAYED_PER_PEER_MAX = 256
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
  relayedPerPeerMax: number
  relaysCorroborating: number
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
  relayedPerPeerMax: HEALTH_RELAYED_PER_PEER_MAX,
  relaysCorroborating: HEALTH_RELAYS_CORROBORATING,
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

/**
 * What `step()` did with a message. `unknown-relay`: a newcomer relayed by a peer that is not
 * a connected, announced member; `relay-full`: its relay already vouches for relayedPerPeerMax
 * peers (H10).
 */
export type StepOutcome = 'accepted' | 'stale' | 'self' | 'table-full' | 'unknown-relay' | 'relay-full'

/**
 * How a message reached us (H10). Without `relay` it came on an authenticated connection from
 * its author (a direct stream, or gossip whose propagation source is the author); with it,
 * `relay` is the connected peer that forwarded it.
 */
export interface StepOptions { relay?: string }

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
  /**
   * H10: the relay vouching for this peer while we have no connection to it: the relay of the
   * latest accepted gossip message that had room. Undefined for connected peers, and for peers
   * heard directly since their last relayed message.
   */
  sponsor: string | undefined
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
  if (config.relayedPerPeerMax < 1) throw new TypeError('Invalid health option relayedPerPeerMax: must be at least 1')
  if (!Number.isInteger(config.relaysCorroborating) || config.relaysCorroborating < 1) throw new TypeError('Invalid health option relaysCorroborating: must be a positive integer')
  if (config.dialBackoffMaxMs < config.dialBackoffMinMs) throw new TypeError(`Invalid health option dialBackoffMaxMs: ${config.dialBackoffMaxMs} is below dialBackoffMinMs (${config.dialBackoffMinMs})`)
}

/** The membership table and failure detector of one node. */
export class HealthCore {
  readonly selfId: string
  readonly config: Readonly<HealthConfig>
  readonly #peers = new Map<string, PeerEntry>()
  /** Peers with at least one open connection; bounded by libp2p's connection limit and by peersMax here. */
  readonly #connected = new Set<string>()
  /** H10: how many entries each relay vouches for (entries whose `sponsor` it is). */
  readonly #sponsored = new Map<string, number>()
  #effects: HealthEffect[] = []
  #nowMs = -Infinity

  constructor (selfId: string, config: Partial<HealthConfig> = {}) {
    this.selfId = selfId
    this.config = Object.freeze({ ...DEFAULT_HEALTH_CONFIG, ...config })
    checkHealthConfig(this.config)
  }

  /**
   * Take in an announcement or goodbye that arrived at `nowMs` (H2, H5), directly or through
   * `options.relay` (H10: a newcomer is admitted only on a direct connection, or relayed by a
   * connected member with room to vouch for it).
   */
  step (message: HealthMessage, nowMs: number, options: StepOptions = {}): StepOutcome {
    this.#advance(nowMs)
    if (message.peerId === this.selfId) return 'self'
    // Gossip from its own author on an authenticated connection is direct evidence.
    const relay = options.relay === message.peerId || this.#connected.has(message.peerId) ? undefined : options.relay
    let entry = this.#peers.get(message.peerId)
    if (entry !== undefined && !isNewer(message, entry)) return 'stale'
    if (entry === undefined) {
      if (message.kind === 'goodbye') return 'stale'
      const refused = relay === undefined ? undefined : this.#refuseRelay(relay)
      if (refused !== undefined) return refused
      if (!this.#makeRoom(relay)) return 'table-full'
      entry = this.#newEntry(message.peerId, nowMs)
      this.#peers.set(entry.peerId, entry)
    }
    // A known peer's signed message is accepted whoever relays it (refusing it would let a
    // relay that wins the race silence an honest peer); only who vouches for it moves.
    this.#sponsor(entry, relay)
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
    if (entry === undefined) return
    entry.disconnectedAtMs = undefined
    this.#sponsor(entry, undefined)
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
      if (entry.status === 'dead' && nowMs - entry.statusSinceMs >= this.config.forgetAfterMs && !entry.dialing) this.#remove(entry)
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
    const scale = Math.min(this.config.intervalScaleMax, Math.max(1, Math.ceil(this.corroboratedMembers() / this.config.announcesPerIntervalMax)))
    return this.config.intervalMs * scale
  }

  /**
   * H9/H10: the mesh size the table's evidence supports, this node included: alive peers heard
   * directly count one each, relayed ones only as far as relaysCorroborating relays vouch alike.
   */
  corroboratedMembers (): number {
    let direct = 1
    const perRelay = new Map<string, number>()
    for (const entry of this.#peers.values()) {
      if (entry.status === 'dead') continue
      if (entry.sponsor === undefined) direct++
      else perRelay.set(entry.sponsor, (perRelay.get(entry.sponsor) ?? 0) + 1)
    }
    return corroboratedMemberCount(direct, { perRelay: [...perRelay.values()], corroborating: this.config.relaysCorroborating })
  }

  /** H10: how many peers `relay` vouches for right now. */
  sponsoredBy (relay: string): number { return this.#sponsored.get(relay) ?? 0 }

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
      nextDialMs: nowMs,
      sponsor: undefined
    }
  }

  /**
   * H6/H10: make room for one more peer, relayed by `relay` (undefined: heard directly). The
   * longest-silent dead peer goes first; failing that, the entry with the least evidence: a
   * relayed one vouched for by the relay that vouches for the most, and only if the newcomer
   * is direct or its own relay vouches for fewer than that relay would after the swap.
   */
  #makeRoom (relay: string | undefined): boolean {
    if (this.#peers.size < this.config.peersMax) return true
    let oldestDead: PeerEntry | undefined
    for (const entry of this.#peers.values()) {
      if (entry.status !== 'dead' || entry.dialing) continue
      if (oldestDead === undefined || entry.lastHeardMs < oldestDead.lastHeardMs) oldestDead = entry
    }
    if (oldestDead !== undefined) {
      this.#remove(oldestDead)
      return true
    }
    const heaviest = this.#heaviestSponsor()
    if (heaviest === undefined) return false
    if (relay !== undefined && this.sponsoredBy(relay) + 1 >= this.sponsoredBy(heaviest)) return false
    let victim: PeerEntry | undefined
    for (const entry of this.#peers.values()) {
      if (entry.sponsor !== heaviest || entry.dialing) continue
      if (victim === undefined || entry.lastHeardMs < victim.lastHeardMs) victim = entry
    }
    if (victim === undefined) return false
    this.#remove(victim)
    return true
  }

  /** The relay vouching for the most entries (ties: the smallest id, for determinism). */
  #heaviestSponsor (): string | undefined {
    let heaviest: string | undefined
    let heaviestCount = 0
    for (const [relay, count] of this.#sponsored) {
      if (count > heaviestCount || (count === heaviestCount && heaviest !== undefined && relay < heaviest)) {
        heaviest = relay
        heaviestCount = count
      }
    }
    return heaviest
  }

  /** H10: why a newcomer relayed by `relay` is refused, or undefined if the relay may vouch for it. */
  #refuseRelay (relay: string): StepOutcome | undefined {
    const relayEntry = this.#peers.get(relay)
    if (!this.#connected.has(relay) || relayEntry === undefined || relayEntry.status === 'dead') return 'unknown-relay'
    if (this.sponsoredBy(relay) >= this.config.relayedPerPeerMax) return 'relay-full'
    return undefined
  }

  /**
   * H10: `relay` now vouches for `entry` (undefined: it was heard directly). A relay at its
   * bound takes no more; the entry keeps its previous sponsor.
   */
  #sponsor (entry: PeerEntry, relay: string | undefined): void {
    if (entry.sponsor === relay) return
    if (relay !== undefined && this.sponsoredBy(relay) >= this.config.relayedPerPeerMax) return
    this.#unsponsor(entry)
    if (relay === undefined) return
    entry.sponsor = relay
    this.#sponsored.set(relay, this.sponsoredBy(relay) + 1)
  }

  #unsponsor (entry: PeerEntry): void {
    if (entry.sponsor === undefined) return
    const count = this.sponsoredBy(entry.sponsor) - 1
    assert(count >= 0, `sponsor counts never go negative (${entry.sponsor})`)
    if (count === 0) this.#sponsored.delete(entry.sponsor)
    else this.#sponsored.set(entry.sponsor, count)
    entry.sponsor = undefined
  }

  #remove (entry: PeerEntry): void {
    this.#unsponsor(entry)
    this.#peers.delete(entry.peerId)
  }

  /** H8: dial alive, unconnected peers until connections + dials in flight reach the target. */
  #planDials (nowMs: number): void {
    let inFlight = 0
    for (const entry of this.#peers.values()) if (entry.dialing) inFlight++
    let budget = Math.min(this.config.dialsInFlightMax - inFlight, this.config.connectionsTarget - this.#connected.size - inFlight)
    if (budget <= 0) return
    const candidates = [...this.#peers.values()]
      .filter(e => e.status === 'alive' && !e.dialing && !this.#connected.has(e.peerId) && e.nextDialMs <= nowMs && e.addresses.length > 0)
      // Peers never failed first: ids whose addresses lead nowhere (a stranger's inventions)
      // wait behind every fresh candidate instead of taking the dial budget in turn (H10).
      .sort((a, b) => a.dialFailures - b.dialFailures || dialRank(this.selfId, a.peerId) - dialRank(this.selfId, b.peerId) || compare(a.peerId, b.peerId))
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
