// Pure core of the events protocol: per-topic, per-author sequence vectors, hold-back of
// out-of-order events until the gap is fetched, dedup, and anti-entropy scheduling.
// No I/O, no timers: inputs via step(), effects out in order via drain() (SPEC events).

import { hlcCompare, HLC_ZERO } from '../kit/hlc.ts'
import type { Hlc } from '../kit/hlc.ts'
import { assert } from '../kit/assert.ts'
import { orderKeyOf, SYNC_BATCH_EVENTS_MAX } from './messages.ts'
import type { Envelope, VectorEntry } from './messages.ts'

/** Events held back per topic waiting for a gap (SPEC E2); more are dropped and refetched by sync. */
export const HELD_EVENTS_MAX = 4096
/** Distinct authors per topic (bounds vectors, sync frames and per-topic memory). */
export const TOPIC_AUTHORS_MAX = 4096
/**
 * Authors one peer may introduce into a topic (an author is introduced by the peer that
 * forwarded its first accepted event). Half the table: no single peer can fill it, and a late
 * joiner learning a busy topic from one peer still gets up to 2048 authors from it. A peer past
 * this is cut off from the topic (SPEC events E11).
 */
export const AUTHORS_PER_PEER_MAX = TOPIC_AUTHORS_MAX / 2
/** Evicted authors remembered with the peer that had introduced them, which may not bring them back (bounds churn). */
export const EVICTED_AUTHORS_MAX = 4096
/** Peers one tick starts an anti-entropy round with, per topic (bounds periodic load). */
export const SYNC_PEERS_PER_TICK = 3

/** One author's state in a topic: contiguous head, its HLC, and the compaction floor. */
export interface AuthorState { seq: number, hlc: Hlc, floor: number }

/** Why an input was not accepted (counted by the adapter). */
export type RejectReason = 'not-joined' | 'hlc-not-increasing' | 'holdback-full' | 'too-many-authors' | 'peer-cut-off' | 'author-evicted' | 'not-a-writer'

/** Introducer key of events this node publishes or steps without a forwarding peer. */
const LOCAL = ''

/** What the core asks the driver to do, in order (SPEC events, "Effect ordering"). */
export type Effect =
  | { kind: 'persist', topic: string, events: Envelope[] }
  /** `writers`: this node's writer list when the topic is restricted (SPEC E15), so the server sends only those authors. */
  | { kind: 'sync', topic: string, peer: string, vector: VectorEntry[], writers?: string[] }
  | { kind: 'reject', topic: string, eventId: string, reason: RejectReason }
  /** Remove an author's stored events: it was evicted to make room for another introducer's (SPEC E11). */
  | { kind: 'evict', topic: string, author: string, reason: 'room' | 'not-a-writer' }
  /** A peer broke a per-peer bound and is no longer synced with or listened to on this topic. */
  | { kind: 'cut-off', topic: string, peer: string }

/** Inputs the driver steps the core with. */
export type Input =
  | { kind: 'join', topic: string, authors?: Map<string, AuthorState>, introducers?: Map<string, string> }
  | { kind: 'event', event: Envelope, from?: string }
  | { kind: 'sync-reply', topic: string, peer: string, vector: VectorEntry[], received: number, more: boolean }
  | { kind: 'sync-failed', topic: string, peer: string }
  | { kind: 'peer-up', topic: string, peer: string }
  | { kind: 'peer-down', topic: string, peer: string }
  | { kind: 'compacted', topic: string, floors: Map<string, number> }
  /** Accept `topic`'s events only from these authors from now on (SPEC E15); stored others are removed. */
  | { kind: 'restrict', topic: string, writers: readonly string[] }
  | { kind: 'tick' }

/** A peer's anti-entropy status for one topic. */
type PeerSync = 'pending' | 'inflight' | 'even'

interface TopicState {
  authors: Map<string, AuthorState>
  held: Map<string, Map<number, Envelope>>
  heldCount: number
  peers: Map<string, PeerSync>
  /** A peer that must be asked again once its in-flight round ends. */
  again: Set<string>
  tickCursor: number
  /** Per peer, the authors it introduced (SPEC E11), oldest first. Authors loaded from disk have none. */
  introduced: Map<string, Set<string>>
  /** Who introduced each author (the inverse of `introduced`). */
  introducer: Map<string, string>
  /** Peers cut off from this topic (SPEC E11): not synced with, their events refused. */
  cutOff: Set<string>
  /** Authors evicted for room, with the peer that had introduced them: that peer may not bring them back (FIFO, EVICTED_AUTHORS_MAX). */
  evicted: Map<string, string>
  /**
   * Floor claims for authors with a gap (held events): per peer, the floor it reported in its
   * latest sync reply since the gap's start, or Infinity when it reported it could not serve the
   * gap at all. SPEC E8: a gap is skipped only when every peer agrees it cannot be served.
   */
  claims: Map<string, Map<string, number>>
}

/** Counters for `stats()`. */
export interface CoreStats { accepted: number, duplicates: number, held: number, rejected: number }

/** The per-node events state machine. */
export class EventsCore {
  readonly #topics = new Map<string, TopicState>()
  /** Writer lists of restricted topics (SPEC E15), joined or not yet. */
  readonly #writers = new Map<string, ReadonlySet<string>>()
  #effects: Effect[] = []
  readonly stats: CoreStats = { accepted: 0, duplicates: 0, held: 0, rejected: 0 }
  /** This node's author id: its own seq only ever moves by its own signed events (SPEC E12). */
  readonly #self: string | undefined

  constructor (options: { self?: string } = {}) {
    this.#self = options.self
  }

  /** Feed one input. */
  step (input: Input): void {
    switch (input.kind) {
      case 'join': this.#join(input.topic, input.authors, input.introducers); break
      case 'event': this.#event(input.event, input.from); break
      case 'sync-reply': this.#syncReply(input); break
      case 'sync-failed': this.#syncEnded(input.topic, input.peer, 'pending'); break
      case 'peer-up': this.#peerUp(input.topic, input.peer); break
      case 'peer-down': this.#peerDown(input.topic, input.peer); break
      case 'compacted': this.#compacted(input.topic, input.floors); break
      case 'restrict': this.#restrict(input.topic, input.writers); break
      case 'tick': this.#tick(); break
    }
  }

  /** Take the effects produced so far, in order. */
  drain (): Effect[] {
    const out = this.#effects
    this.#effects = []
    return out
  }

  /** True when this node stores `topic`. */
  joined (topic: string): boolean { return this.#topics.has(topic) }

  /** Topics this node stores. */
  topics (): string[] { return [...this.#topics.keys()] }

  /** True when (author, seq) is already stored or held: a duplicate needs no signature check. */
  has (topic: string, author: string, seq: number): boolean {
    const t = this.#topics.get(topic)
    if (t === undefined) return false
    const a = t.authors.get(author)
    if (a !== undefined && seq <= a.seq) return true
    return t.held.get(author)?.has(seq) === true
  }

  /** Next seq and last HLC for a local publish by `author`. */
  head (topic: string, author: string): AuthorState {
    const a = this.#topics.get(topic)?.authors.get(author)
    return a === undefined ? { seq: 0, hlc: HLC_ZERO, floor: 0 } : { ...a }
  }

  /** The topic's vector, sorted by author (what a sync request carries). */
  vector (topic: string): VectorEntry[] {
    const t = this.#topics.get(topic)
    if (t === undefined) return []
    return [...t.authors.entries()].sort(([x], [y]) => x < y ? -1 : x > y ? 1 : 0).map(([author, a]) => ({ author, seq: a.seq, floor: a.floor }))
  }

  /**
   * SPEC E7: caught up ⇔ nothing held back, at least one topic peer connected, and the latest
   * anti-entropy round with every connected topic peer ended with nothing left to fetch.
   */
  caughtUp (topic: string): boolean {
    const t = this.#topics.get(topic)
    if (t === undefined || t.heldCount > 0 || t.peers.size === 0) return false
    for (const s of t.peers.values()) if (s !== 'even') return false
    return true
  }

  /** The peer that introduced `author` into `topic` ('' for this node), if known (SPEC E11). */
  introducerOf (topic: string, author: string): string | undefined { return this.#topics.get(topic)?.introducer.get(author) }

  /** True when `peer` is cut off from `topic` (SPEC E11): its events and sync replies are refused. */
  isCutOff (topic: string, peer: string): boolean { return this.#topics.get(topic)?.cutOff.has(peer) === true }

  /** SPEC E15: true when `topic` is open, or `author` is on its writer list. */
  mayWrite (topic: string, author: string): boolean {
    const writers = this.#writers.get(topic)
    return writers === undefined || writers.has(author)
  }

  /** The writer list of `topic`, sorted, or undefined when the topic is open (SPEC E15). */
  writersOf (topic: string): string[] | undefined {
    const writers = this.#writers.get(topic)
    return writers === undefined ? undefined : [...writers].sort()
  }

  /** Events held back in `topic` waiting for gaps. */
  heldCount (topic: string): number { return this.#topics.get(topic)?.heldCount ?? 0 }

  #join (topic: string, authors?: Map<string, AuthorState>, introducers?: Map<string, string>): void {
    if (this.#topics.has(topic)) return
    const t: TopicState = {
      authors: new Map(authors ?? []), held: new Map(), heldCount: 0, peers: new Map(), again: new Set(), tickCursor: 0,
      introduced: new Map(), introducer: new Map(), cutOff: new Set(), evicted: new Map(), claims: new Map()
    }
    for (const [author, peer] of introducers ?? []) if (t.authors.has(author)) this.#introduce(t, author, peer)
    this.#topics.set(topic, t)
    this.#purgeNonWriters(t, topic)
  }

  #restrict (topic: string, writers: readonly string[]): void {
    this.#writers.set(topic, new Set(writers))
    const t = this.#topics.get(topic)
    if (t !== undefined) this.#purgeNonWriters(t, topic)
  }

  /**
   * SPEC E15: forget every author of a restricted topic that is not a writer (stored before the
   * restriction, or loaded from disk). Unlike an eviction for room, any peer may bring the author
   * back should the list later name it. This node's own history is its own and stays (E12).
   */
  #purgeNonWriters (t: TopicState, topic: string): void {
    const writers = this.#writers.get(topic)
    if (writers === undefined) return
    const authors = new Set([...t.authors.keys(), ...t.held.keys()])
    for (const author of authors) {
      if (writers.has(author) || author === this.#self) continue
      this.#dropAuthor(t, topic, author, 'not-a-writer')
    }
    assert(t.heldCount >= 0, 'held count is never negative')
  }

  #event (e: Envelope, from: string | undefined): void {
    const t = this.#topics.get(e.topic)
    if (t === undefined) { this.#reject(e, 'not-joined'); return }
    if (from !== undefined && t.cutOff.has(from)) { this.#reject(e, 'peer-cut-off'); return }
    if (!this.mayWrite(e.topic, e.author)) { this.#reject(e, 'not-a-writer'); return }
    if (this.has(e.topic, e.author, e.seq)) { this.stats.duplicates++; return }
    // An evicted author comes back only through another peer (it may be honest and the evicting
    // introducer hostile); it then starts again from its first retained event.
    if (t.evicted.get(e.author) === (from ?? LOCAL)) { this.#reject(e, 'author-evicted'); return }
    let a = t.authors.get(e.author)
    if (a === undefined) {
      if (!t.held.has(e.author) && !this.#admitAuthor(t, e, from ?? LOCAL)) return
      t.evicted.delete(e.author)
      a = { seq: 0, hlc: HLC_ZERO, floor: 0 }
    }
    if (e.seq !== a.seq + 1) {
      this.#hold(t, e, from)
      return
    }
    if (hlcCompare(e.hlc, a.hlc) <= 0) { this.#reject(e, 'hlc-not-increasing'); return }
    if (!t.authors.has(e.author)) this.#introduce(t, e.author, from ?? LOCAL)
    t.authors.set(e.author, a)
    const released = [e]
    this.#advance(a, e)
    this.#release(t, e.author, a, released)
    this.stats.accepted += released.length
    this.#effects.push({ kind: 'persist', topic: e.topic, events: released })
  }

  /**
   * SPEC E11: may `from` bring a new author into `t`? A peer past AUTHORS_PER_PEER_MAX is cut
   * off. When the table is full, the newest author of the peer that introduced the most is
   * evicted, unless that peer is `from` itself (a peer can only displace others' authors by
   * having fewer than they do). Authors loaded from disk and this node's own are never evicted,
   * and this node's own author is always admitted.
   */
  #admitAuthor (t: TopicState, e: Envelope, from: string): boolean {
    // SPEC E12: this node can always publish, even into a full table (it then holds one more).
    if (e.author === this.#self) return true
    const mine = t.introduced.get(from)?.size ?? 0
    if (from !== LOCAL && mine >= AUTHORS_PER_PEER_MAX) {
      this.#cutOff(t, e.topic, from)
      this.#reject(e, 'peer-cut-off')
      return false
    }
    let known = t.authors.size
    for (const author of t.held.keys()) if (!t.authors.has(author)) known++
    if (known < TOPIC_AUTHORS_MAX) return true
    let largest: string | undefined
    for (const [peer, authors] of t.introduced) if (peer !== LOCAL && authors.size > (largest === undefined ? 0 : t.introduced.get(largest)!.size)) largest = peer
    if (largest === undefined || largest === from || t.introduced.get(largest)!.size <= mine + 1) {
      this.#reject(e, 'too-many-authors')
      return false
    }
    const victims = [...t.introduced.get(largest)!].filter(author => author !== this.#self)
    const victim = victims[victims.length - 1]
    if (victim === undefined) { this.#reject(e, 'too-many-authors'); return false }
    this.#evict(t, e.topic, victim)
    return true
  }

  #introduce (t: TopicState, author: string, from: string): void {
    if (t.introducer.has(author)) return
    let set = t.introduced.get(from)
    if (set === undefined) { set = new Set(); t.introduced.set(from, set) }
    set.add(author)
    t.introducer.set(author, from)
  }

  /** Forget `author` on `topic`: its introduction, held events, claims and history; returns who introduced it. */
  #dropAuthor (t: TopicState, topic: string, author: string, reason: 'room' | 'not-a-writer'): string | undefined {
    const by = t.introducer.get(author)
    if (by !== undefined) t.introduced.get(by)?.delete(author)
    t.introducer.delete(author)
    const held = t.held.get(author)
    if (held !== undefined) { t.heldCount -= held.size; t.held.delete(author) }
    t.claims.delete(author)
    if (t.authors.delete(author)) this.#effects.push({ kind: 'evict', topic, author, reason })
    return by
  }

  #evict (t: TopicState, topic: string, author: string): void {
    assert(author !== this.#self, 'this node never evicts its own history')
    const by = this.#dropAuthor(t, topic, author, 'room')
    t.evicted.set(author, by ?? LOCAL)
    if (t.evicted.size > EVICTED_AUTHORS_MAX) t.evicted.delete(t.evicted.values().next().value!)
  }

  #cutOff (t: TopicState, topic: string, peer: string): void {
    if (t.cutOff.has(peer)) return
    t.cutOff.add(peer)
    t.peers.delete(peer)
    t.again.delete(peer)
    for (const claims of t.claims.values()) claims.delete(peer)
    this.#effects.push({ kind: 'cut-off', topic, peer })
  }

  #advance (a: AuthorState, e: Envelope): void {
    a.seq = e.seq
    a.hlc = e.hlc
  }

  /** Move contiguous held events of `author` into `out` (SPEC E2). */
  #release (t: TopicState, author: string, a: AuthorState, out: Envelope[]): void {
    const held = t.held.get(author)
    if (held === undefined) return
    for (const seq of [...held.keys()]) if (seq <= a.seq) { held.delete(seq); t.heldCount-- }
    for (let next = held.get(a.seq + 1); next !== undefined; next = held.get(a.seq + 1)) {
      held.delete(next.seq)
      t.heldCount--
      if (hlcCompare(next.hlc, a.hlc) <= 0) { this.#reject(next, 'hlc-not-increasing'); break }
      this.#advance(a, next)
      out.push(next)
    }
    if (held.size === 0) { t.held.delete(author); t.claims.delete(author) }
    assert(t.heldCount >= 0, 'held count is never negative')
  }

  #hold (t: TopicState, e: Envelope, from: string | undefined): void {
    if (t.heldCount >= HELD_EVENTS_MAX) { this.#reject(e, 'holdback-full'); return }
    let held = t.held.get(e.author)
    if (held === undefined) {
      if (!t.authors.has(e.author)) this.#introduce(t, e.author, from ?? LOCAL)
      held = new Map()
      t.held.set(e.author, held)
    }
    held.set(e.seq, e)
    t.heldCount++
    this.stats.held++
    // Fetch the gap: from the peer that forwarded it when known, else from every topic peer.
    const peers = from !== undefined ? [from] : [...t.peers.keys()]
    for (const peer of peers) this.#requestSync(e.topic, t, peer)
  }

  #reject (e: Envelope, reason: RejectReason): void {
    this.stats.rejected++
    this.#effects.push({ kind: 'reject', topic: e.topic, eventId: e.id, reason })
  }

  #requestSync (topic: string, t: TopicState, peer: string): void {
    if (t.cutOff.has(peer)) return
    const status = t.peers.get(peer)
    if (status === 'inflight') { t.again.add(peer); return }
    t.peers.set(peer, 'inflight')
    const writers = this.writersOf(topic)
    this.#effects.push(writers === undefined ? { kind: 'sync', topic, peer, vector: this.vector(topic) } : { kind: 'sync', topic, peer, vector: this.vector(topic), writers })
  }

  #peerUp (topic: string, peer: string): void {
    const t = this.#topics.get(topic)
    if (t === undefined || t.cutOff.has(peer)) return
    if (!t.peers.has(peer)) t.peers.set(peer, 'pending')
    this.#requestSync(topic, t, peer)
  }

  #peerDown (topic: string, peer: string): void {
    const t = this.#topics.get(topic)
    if (t === undefined) return
    t.peers.delete(peer)
    for (const claims of t.claims.values()) claims.delete(peer)
    // Fewer peers to hear from: a gap every remaining peer already answered for may now be skipped.
    for (const author of [...t.held.keys()]) this.#skipGap(t, topic, author)
  }

  #syncEnded (topic: string, peer: string, status: PeerSync): void {
    const t = this.#topics.get(topic)
    if (t === undefined || !t.peers.has(peer)) return
    t.peers.set(peer, status)
    if (t.again.delete(peer)) this.#requestSync(topic, t, peer)
  }

  /**
   * A sync round's reply: its events were stepped already. The peer's vector is a hint, never an
   * instruction (SPEC E8, E12): it adds no author, moves no seq by itself, and its floors only
   * count as claims towards skipping a gap this node already holds signed evidence beyond.
   */
  #syncReply (input: { topic: string, peer: string, vector: VectorEntry[], received: number, more: boolean }): void {
    const t = this.#topics.get(input.topic)
    if (t === undefined || t.cutOff.has(input.peer)) return
    const theirs = new Map(input.vector.map(v => [v.author, v]))
    let behind = false
    // A non-writer's events are never wanted (SPEC E15): a peer holding them is not "ahead" of us,
    // or every round would end pending and the next would ask for them again.
    for (const v of input.vector) if (v.seq > (t.authors.get(v.author)?.seq ?? 0) && t.evicted.get(v.author) !== input.peer && this.mayWrite(input.topic, v.author)) behind = true
    let released = 0
    for (const author of [...t.held.keys()]) {
      const head = t.authors.get(author)?.seq ?? 0
      const v = theirs.get(author)
      // Infinity: this peer cannot serve the gap (it is no further than us) and claims no floor.
      const claim = v === undefined || v.seq <= head ? Infinity : v.floor
      let claims = t.claims.get(author)
      if (claims === undefined) { claims = new Map(); t.claims.set(author, claims) }
      claims.set(input.peer, claim)
      released += this.#skipGap(t, input.topic, author)
    }
    // Continue while the peer has more and the last batch made progress (no loops on a stuck peer).
    const progress = input.received > 0 || released > 0
    if ((input.more || behind) && progress) {
      t.peers.set(input.peer, 'pending')
      t.again.delete(input.peer)
      this.#requestSync(input.topic, t, input.peer)
      return
    }
    this.#syncEnded(input.topic, input.peer, behind || t.heldCount > 0 ? 'pending' : 'even')
  }

  /**
   * SPEC E8: skip `author`'s gap up to its lowest held event when every topic peer has answered
   * since the gap began, none can serve it, and at least one reports a floor covering it. The new
   * head is backed by a signed event this node holds, so no claim can push it further.
   * This node's own seq never moves this way (SPEC E12). Returns how many events were released.
   */
  #skipGap (t: TopicState, topic: string, author: string): number {
    if (author === this.#self) return 0
    const held = t.held.get(author)
    const claims = t.claims.get(author)
    if (held === undefined || claims === undefined) return 0
    for (const peer of t.peers.keys()) if (!claims.has(peer)) return 0
    const lowest = Math.min(...held.keys())
    let floor = Infinity
    for (const claim of claims.values()) floor = Math.min(floor, claim)
    if (floor === Infinity || floor < lowest - 1) return 0
    const a = t.authors.get(author) ?? { seq: 0, hlc: HLC_ZERO, floor: 0 }
    assert(lowest - 1 > a.seq, 'a gap lies above the head')
    a.seq = lowest - 1
    a.floor = lowest - 1
    t.authors.set(author, a)
    const out: Envelope[] = []
    this.#release(t, author, a, out)
    if (out.length > 0) {
      this.stats.accepted += out.length
      this.#effects.push({ kind: 'persist', topic, events: out })
    }
    return out.length
  }

  #compacted (topic: string, floors: Map<string, number>): void {
    const t = this.#topics.get(topic)
    if (t === undefined) return
    for (const [author, floor] of floors) {
      const a = t.authors.get(author)
      assert(a !== undefined && floor <= a.seq, 'compaction only removes stored events')
      a.floor = Math.max(a.floor, floor)
    }
  }

  /** Periodic anti-entropy: a few peers per topic, round-robin. */
  #tick (): void {
    for (const [topic, t] of this.#topics) {
      const peers = [...t.peers.keys()].sort()
      if (peers.length === 0) continue
      for (let i = 0; i < Math.min(SYNC_PEERS_PER_TICK, peers.length); i++) {
        const peer = peers[(t.tickCursor + i) % peers.length]!
        this.#requestSync(topic, t, peer)
      }
      t.tickCursor = (t.tickCursor + SYNC_PEERS_PER_TICK) % peers.length
    }
  }
}

/** A sync reply's plan: ranges to send, whether more remain, and where the next reply resumes. */
export interface SyncPlan { ranges: Array<{ author: string, fromSeq: number, toSeq: number }>, more: boolean, resumeAt: string | undefined }

/**
 * Server side of a sync round (SPEC E6): the ranges of events the requester lacks, in at most
 * `batchMax` events, and whether more remain. Ranges start above the requester's seq and our floor.
 * `ours` is sorted by author; the plan starts at the first author ≥ `resumeAt` and wraps, and
 * says where the next reply to the same requester resumes: replies go round-robin over authors,
 * so authors whose events the requester cannot take yet (held behind a gap) never starve others.
 * `writers`: the requester's writer list (SPEC E15); only those authors are planned.
 */
export function planSyncReply (all: VectorEntry[], theirs: VectorEntry[], batchMax = SYNC_BATCH_EVENTS_MAX, resumeAt?: string, writers?: readonly string[]): SyncPlan {
  // SPEC E15: a requester that restricted the topic refuses other authors; sending them only wastes the batch.
  const wanted = writers === undefined ? undefined : new Set(writers)
  const ours = wanted === undefined ? all : all.filter(v => wanted.has(v.author))
  const theirSeq = new Map(theirs.map(v => [v.author, v.seq]))
  const ranges: Array<{ author: string, fromSeq: number, toSeq: number }> = []
  let budget = batchMax
  let more = false
  let next: string | undefined
  let start = resumeAt === undefined ? 0 : ours.findIndex(v => v.author >= resumeAt)
  if (start < 0) start = 0
  for (let i = 0; i < ours.length; i++) {
    const v = ours[(start + i) % ours.length]!
    const fromSeq = Math.max(theirSeq.get(v.author) ?? 0, v.floor) + 1
    if (fromSeq > v.seq) continue
    if (budget === 0) { more = true; next = v.author; break }
    const toSeq = Math.min(v.seq, fromSeq + budget - 1)
    ranges.push({ author: v.author, fromSeq, toSeq })
    budget -= toSeq - fromSeq + 1
    if (toSeq < v.seq) { more = true; next = ours[(start + i + 1) % ours.length]!.author; break }
  }
  return { ranges, more, resumeAt: next }
}

/** Sort events into the canonical total order (SPEC E3). */
export function sortCanonical<T extends { hlc: Hlc, author: string, seq: number }> (events: T[]): T[] {
  return events.map(e => [orderKeyOf(e), e] as const).sort(([x], [y]) => x < y ? -1 : x > y ? 1 : 0).map(([, e]) => e)
}
