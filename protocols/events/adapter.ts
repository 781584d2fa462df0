// libp2p driver of the events protocol: GossipSub for live events, a direct stream for
// anti-entropy, LevelDB for the log. It parses, verifies once, steps the core, and runs
// the core's effects in order (SPEC events, "Effect ordering"); it decides nothing else.

import { lpStream } from '@libp2p/utils'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Stream, Connection } from '@libp2p/interface'
import { RecentSet } from '../kit/recent-set.ts'
import { describeError, LimitExceededError, NotAWriterError, NotRunningError } from '../kit/errors.ts'
import { closeServedStream, deadlineSignal } from '../kit/adapter-abort.ts'
import { hlcNow, hlcReceive, hlcCompare, hlcTooFarAhead, HLC_ZERO } from '../kit/hlc.ts'
import type { Hlc } from '../kit/hlc.ts'
import { parsePeerId } from '../kit/peer-id.ts'
import { EventsCore, planSyncReply } from './core.ts'
import type { Effect, Input } from './core.ts'
import {
  EVENTS_SYNC_PROTOCOL, EVENTS_GOSSIP_TOPIC_PREFIX, SYNC_FRAME_BYTES_MAX, checkTopic, checkType,
  decodeEnvelope, decodeSyncReply, decodeSyncRequest, encodeBody, encodeEnvelope, encodeSyncFrame,
  eventIdOf, signingBytes, toAgentEvent, describeEvent, TOPIC_WRITERS_MAX
} from './messages.ts'
import type { AgentEvent, Envelope, EventData, VectorEntry } from './messages.ts'
import { EventsStore } from './store.ts'
import type { StoredEvent } from './store.ts'
import { verifyEnvelope } from './verify.ts'
import { eventsTopicScoreParams } from './score.ts'
import { KeyedTokenBuckets } from '../kit/token-bucket.ts'
import { assert } from '../kit/assert.ts'
import { Subscriptions } from './subscriptions.ts'
import type { SubscribeOptions } from './subscriptions.ts'
import { createProjection } from './projection.ts'
import type { Projection, ProjectionOptions } from './projection.ts'
import type { KvStore } from '../kit/store.ts'
import type { HostEvents, HostIdentity, ProtocolDialer, PubSubHost, Registrar, ServiceBase, SigningKey } from '../kit/components.ts'

/** Anti-entropy period (SPEC E6): short enough that a missed gossip is repaired within seconds. */
export const SYNC_INTERVAL_MS = 3_000
/** Deadline of one sync round trip. */
export const SYNC_TIMEOUT_MS = 10_000
/** Concurrent inbound sync streams per connection. */
export const SYNC_INBOUND_STREAMS_MAX = 32
/** Sync reply cursors remembered (one per requester and topic mid-catch-up); the oldest is forgotten first. */
export const SYNC_RESUME_CURSORS_MAX = 4096
/** Verified event ids remembered, so each event's signature is checked once per node. */
export const VERIFIED_CACHE_MAX = 16_384
/**
 * How long a verified id is remembered (60 s). A second copy of an event (gossip racing the
 * anti-entropy round that fetched it, a peer re-forwarding it) arrives within a few sync
 * intervals of the first; after that the stored log dedupes it. Ids that only the count bound
 * evicted filled the cache for 23 minutes at 12 events/s (4 nodes: ~8 MB), which a soak run
 * read as heap growth; with the age bound the cache holds about a minute of traffic.
 */
export const VERIFIED_CACHE_TTL_MS = 60_000
/** Events returned by one `history()` call at most. */
export const HISTORY_LIMIT_MAX = 10_000

/** Retention limits per topic (SPEC E8). */
export interface RetentionLimits { countMax: number, bytesMax: number, ageMs: number }
/** Defaults: 100k events, 256 MiB, 30 days — a month of a busy agent team's coordination. */
export const RETENTION_DEFAULTS: RetentionLimits = { countMax: 100_000, bytesMax: 256 * 1024 * 1024, ageMs: 30 * 24 * 3600 * 1000 }
/** How often age-based retention runs. */
export const RETENTION_INTERVAL_MS = 60_000
/**
 * Gossip events accepted per forwarding peer (SPEC E13): 500/s with a burst of 2000 is far above
 * what an agent team publishes (the fanout benchmark runs 100/s for the whole mesh) and caps the
 * signature checks one peer can make this node do. Over it, messages are dropped unforwarded.
 */
export const PEER_GOSSIP_LIMITS = { capacity: 2000, refillPerS: 500, keysMax: 4096 }
/**
 * Events accepted per author (SPEC E13): 100/s sustained, bursts of 1000. An author over it is
 * flooding; when it sends its own events itself, the message is rejected (GossipSub graylists it).
 */
export const AUTHOR_RATE_LIMITS = { capacity: 1000, refillPerS: 100, keysMax: 4096 }
/**
 * Events accepted per peer in sync replies (SPEC E13): catch-up is bursty by nature and paced by
 * this node's own requests, so the rate is higher; a late joiner fetches ~2000 events a second.
 */
export const PEER_SYNC_LIMITS = { capacity: 4096, refillPerS: 2000, keysMax: 4096 }
/**
 * Gossip events accepted but not yet stepped (waiting on the serial queue). Past it, new gossip
 * is ignored until the queue drains: memory stays bounded when events arrive faster than they
 * are stored, and anti-entropy fetches what was dropped (SPEC E13).
 */
export const GOSSIP_PENDING_MAX = 4096

/** What `status(topic)` returns (DESIGN, SPEC E7). */
export interface EventsStatus { caughtUp: boolean, lastEventId: string | null, count: number, held: number, peers: number }

/** Counters for metrics and tests. */
export interface EventsStats {
  published: number
  accepted: number
  duplicates: number
  held: number
  rejected: number
  malformed: number
  forged: number
  syncRounds: number
  syncFailed: number
  syncServed: number
  /** Events dropped by a per-peer or per-author rate limit (SPEC E13). */
  rateLimited: number
  /** Events stamped further ahead than HLC_DRIFT_MAX_MS (SPEC E14). */
  tooFarAhead: number
  /** Peers cut off from a topic (SPEC E11). */
  cutOff: number
  /** Authors evicted to make room for another peer's (SPEC E11). */
  evicted: number
  /** Events refused because their author is not on the topic's writer list (SPEC E15). */
  unauthorized: number
}

/** The `node.events` API. */
export interface EventsService {
  publish (topic: string, event: { type: string, data?: EventData }): Promise<AgentEvent>
  subscribe (topic: string, options?: SubscribeOptions): AsyncIterable<AgentEvent>
  history (topic: string, options?: { after?: string, limit?: number }): Promise<AgentEvent[]>
  status (topic: string): EventsStatus
  /** Store and sync `topic` without a subscriber (subscribe/publish join implicitly). */
  join (topic: string): Promise<void>
  project<S> (topic: string, options: ProjectionOptions<S>): Projection<S>
  /**
   * Accept events of `topic` only from these authors (peer ids) on this node (SPEC E15): others'
   * events are refused live and in sync (counted in `unauthorized`), events of non-writers stored
   * earlier are removed, and this node may publish only if it is listed. Persisted; replaces any
   * earlier list. At most TOPIC_WRITERS_MAX writers.
   */
  restrict (topic: string, options: { writers: readonly string[] }): Promise<void>
  /** Apply retention to every topic now. */
  compact (): Promise<void>
  stats (): EventsStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** What the events service uses of its node: GossipSub, sync streams, its store and key. */
export interface EventsComponents extends ServiceBase, SigningKey {
  readonly libp2p: HostIdentity & PubSubHost & Registrar & ProtocolDialer & HostEvents
  /** The `events` namespace of the node's database. */
  readonly store: KvStore
}

/** Tunables of the events service. */
export interface EventsServiceInit {
  retention?: Partial<RetentionLimits>
  syncIntervalMs?: number
}

/** Build the events service. */
export function createEventsService (components: EventsComponents, init: EventsServiceInit = {}): EventsService {
  const { libp2p, log } = components
  const peerId = libp2p.peerId.toString()
  const pubsub = libp2p.services.pubsub
  const retention: RetentionLimits = { ...RETENTION_DEFAULTS, ...init.retention }
  const store = new EventsStore(components.store)
  const core = new EventsCore({ self: peerId })
  const subs = new Subscriptions(store)
  const verified = new RecentSet<string>({ max: VERIFIED_CACHE_MAX, ttlMs: VERIFIED_CACHE_TTL_MS })
  /**
   * Envelopes the GossipSub validator admitted, by the message's data buffer: GossipSub hands the
   * same buffer to the 'gossipsub:message' listener, which then skips a second decode (CBOR,
   * canonical re-encoding, SHA-256). Weak: an entry lives only as long as GossipSub holds the message.
   */
  const validated = new WeakMap<Uint8Array, Envelope>()
  const counters = { published: 0, malformed: 0, forged: 0, syncRounds: 0, syncFailed: 0, syncServed: 0, rateLimited: 0, tooFarAhead: 0, cutOff: 0, evicted: 0, unauthorized: 0 }
  const gossipBuckets = new KeyedTokenBuckets(PEER_GOSSIP_LIMITS, { keysMax: PEER_GOSSIP_LIMITS.keysMax })
  const syncBuckets = new KeyedTokenBuckets(PEER_SYNC_LIMITS, { keysMax: PEER_SYNC_LIMITS.keysMax })
  const authorBuckets = new KeyedTokenBuckets(AUTHOR_RATE_LIMITS, { keysMax: AUTHOR_RATE_LIMITS.keysMax })
  /** Gossip events validated and waiting for the serial queue (GOSSIP_PENDING_MAX). */
  let gossipPending = 0
  const lastIds = new Map<string, string>()
  const joining = new Map<string, Promise<void>>()
  let clock: Hlc = HLC_ZERO
  /** Per requester and topic, the author our next sync reply resumes at (SPEC E6: round-robin, so none starves). */
  const resumeAt = new Map<string, string>()
  let queue: Promise<unknown> = Promise.resolve()
  let running = false
  let timers: Array<ReturnType<typeof setInterval>> = []

  const gossipTopic = (topic: string): string => EVENTS_GOSSIP_TOPIC_PREFIX + topic

  /** Run `fn` after everything queued before it: core steps and their persistence stay in one order. */
  function serial<T> (fn: () => Promise<T>): Promise<T> {
    const next = queue.then(fn)
    queue = next.catch(() => undefined)
    return next
  }

  /** Step the core and run its effects in order: persist (then deliver), sync, reject. */
  async function stepAndRun (input: Input): Promise<void> {
    core.step(input)
    await runEffects(core.drain())
  }

  async function runEffects (effects: Effect[]): Promise<void> {
    for (const effect of effects) {
      switch (effect.kind) {
        case 'persist': {
          const durable = effect.events.some(e => e.author === peerId)
          const introducers = new Map<string, string>()
          for (const e of effect.events) {
            const by = core.introducerOf(effect.topic, e.author)
            if (by !== undefined) introducers.set(e.author, by)
          }
          const stored = await store.append(effect.topic, effect.events, { durable, introducers })
          lastIds.set(effect.topic, stored[stored.length - 1]!.envelope.id)
          subs.deliver(effect.topic, stored) // SPEC E4: deliver only after the append resolved
          if (store.meta(effect.topic).count > retention.countMax || store.meta(effect.topic).bytes > retention.bytesMax) await compactTopic(effect.topic)
          break
        }
        case 'sync':
          void syncRound(effect.topic, effect.peer, effect)
          break
        case 'reject':
          // The adapter refuses non-writers before the core sees them; one here still counts (SPEC E15).
          if (effect.reason === 'not-a-writer') counters.unauthorized++
          log('rejected %s in %s: %s', effect.eventId, effect.topic, effect.reason)
          break
        case 'evict': {
          const removed = await store.evictAuthor(effect.topic, effect.author)
          if (effect.reason === 'room') counters.evicted++
          subs.compacted(effect.topic, removed)
          log('removed author %s from %s (%d events): %s', effect.author, effect.topic, removed.length, effect.reason === 'room' ? 'evicted to make room' : 'not a writer')
          break
        }
        case 'cut-off':
          counters.cutOff++
          log('cut off peer %s from %s: it introduced more than AUTHORS_PER_PEER_MAX authors', effect.peer, effect.topic)
          break
      }
    }
  }

  function remember (id: string): void {
    verified.add(id, Date.now())
  }

  /**
   * Decode and verify once; undefined (and counted) when malformed or forged, `unauthorized`
   * (counted) when the topic is restricted and the author is not a writer (SPEC E15). The writer
   * check comes before the signature check: a non-writer is refused whether or not it signed, and
   * refusing it costs no verification.
   */
  async function admit (wire: Uint8Array, topic: string): Promise<Envelope | Unauthorized | undefined> {
    let e: Envelope
    try {
      e = decodeEnvelope(wire)
    } catch (err) {
      counters.malformed++
      log('malformed event in %s: %s', topic, describeError(err))
      return undefined
    }
    if (e.topic !== topic) { counters.malformed++; return undefined }
    if (!core.mayWrite(topic, e.author)) {
      counters.unauthorized++
      log('refused %s: its author is not a writer of %s', describeEvent(e), topic)
      return { unauthorized: e.author }
    }
    if (verified.has(e.id)) return e
    if (hlcTooFarAhead(e.hlc, Date.now())) {
      counters.tooFarAhead++
      log('event stamped beyond HLC_DRIFT_MAX_MS rejected: %s', describeEvent(e))
      return undefined
    }
    if (!(await verifyEnvelope(e))) {
      counters.forged++
      log('forged event rejected: %s', describeEvent(e))
      return undefined
    }
    remember(e.id)
    return e
  }

  /** Admitted-or-not: an event refused because its author is not a writer (SPEC E15). */
  interface Unauthorized { unauthorized: string }
  const isEnvelope = (x: Envelope | Unauthorized | undefined): x is Envelope => x !== undefined && !('unauthorized' in x)

  function observe (e: Envelope): void {
    try {
      clock = hlcReceive(clock, e.hlc, Date.now())
    } catch (err) {
      // Admitted while within the drift bound; our clock cannot go back, so it simply ignores it.
      log('not merging HLC of %s: %s', describeEvent(e), describeError(err))
    }
  }

  // --- anti-entropy (SPEC E6) ---

  async function syncRound (topic: string, peer: string, request: { vector: VectorEntry[], writers?: string[] }): Promise<void> {
    if (!running) return
    counters.syncRounds++
    const signal = deadlineSignal(SYNC_TIMEOUT_MS)
    let reply
    try {
      const stream = await libp2p.dialProtocol(parsePeerId(peer), EVENTS_SYNC_PROTOCOL, { signal })
      try {
        const lp = lpStream(stream, { maxDataLength: SYNC_FRAME_BYTES_MAX })
        const frame = request.writers === undefined ? { kind: 'sync' as const, topic, vector: request.vector } : { kind: 'sync' as const, topic, vector: request.vector, writers: request.writers }
        await lp.write(encodeSyncFrame(frame), { signal })
        reply = decodeSyncReply((await lp.read({ signal })).subarray())
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
      if (reply.topic !== topic) throw new Error(`sync reply for topic "${reply.topic}", asked "${topic}"`)
    } catch (err) {
      counters.syncFailed++
      log('sync of %s with %s failed: %s', topic, peer, describeError(err))
      if (running) await serial(async () => { await stepAndRun({ kind: 'sync-failed', topic, peer }) })
      return
    }
    const admitted: Envelope[] = []
    for (const wire of reply.events) {
      if (!syncBuckets.take(peer, Date.now())) { counters.rateLimited += reply.events.length - admitted.length; break }
      const e = await admit(wire, topic)
      if (isEnvelope(e)) admitted.push(e)
    }
    if (!running) return
    const vector = reply.vector
    const more = reply.more
    await serial(async () => {
      const before = core.stats.accepted
      for (const e of admitted) { observe(e); await stepAndRun({ kind: 'event', event: e, from: peer }) }
      await stepAndRun({ kind: 'sync-reply', topic, peer, vector, received: core.stats.accepted - before, more })
      await store.setFloors(topic, core.vector(topic)) // mirror floor jumps (SPEC E8); writes only on change
    })
  }

  async function serveSync (stream: Stream, connection: Connection): Promise<void> {
    const signal = deadlineSignal(SYNC_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: SYNC_FRAME_BYTES_MAX })
    const request = decodeSyncRequest((await lp.read({ signal })).subarray())
    const topic = request.topic
    const from = connection.remotePeer.toString()
    counters.syncServed++
    if (!core.joined(topic)) {
      await lp.write(encodeSyncFrame({ kind: 'sync-reply', topic, events: [], vector: [], more: false }), { signal })
      await closeServedStream(stream, { what: `events sync from ${from}` })
      return
    }
    const ours = core.vector(topic)
    const cursorKey = `${from}\u0000${topic}`
    const plan = planSyncReply(ours, request.vector, undefined, resumeAt.get(cursorKey), request.writers)
    resumeAt.delete(cursorKey)
    if (plan.resumeAt !== undefined) {
      if (resumeAt.size >= SYNC_RESUME_CURSORS_MAX) resumeAt.delete(resumeAt.keys().next().value!)
      resumeAt.set(cursorKey, plan.resumeAt)
    }
    const events: Uint8Array[] = []
    let more = plan.more
    let budget = SYNC_FRAME_BYTES_MAX / 2
    for (const range of plan.ranges) {
      const { wires, complete } = await store.readRange(topic, range, budget)
      events.push(...wires)
      budget -= wires.reduce((n, w) => n + w.byteLength, 0)
      if (!complete) { more = true; break }
    }
    await lp.write(encodeSyncFrame({ kind: 'sync-reply', topic, events, vector: ours, more }), { signal })
    await closeServedStream(stream, { what: `events sync from ${from}` })
    // The requester has something we lack (e.g. after a partition): pull it back (SPEC E6) —
    // unless all it has beyond us is by authors this node refuses (SPEC E15).
    const ourSeq = new Map(ours.map(v => [v.author, v.seq]))
    if (request.vector.some(v => v.seq > (ourSeq.get(v.author) ?? 0) && core.mayWrite(topic, v.author)) && running) {
      await serial(async () => { await stepAndRun({ kind: 'peer-up', topic, peer: from }) })
    }
  }

  // --- gossip ---

  /**
   * SPEC E13: a cut-off peer, a malformed, forged or far-future event, and an author flooding its
   * own events over AUTHOR_RATE_LIMITS are rejected (GossipSub penalises the sender). Over a rate
   * limit otherwise, the message is ignored: the sender may be an honest peer relaying a flood.
   */
  function validator (topic: string) {
    return async (source: { toString(): string }, message: { data: Uint8Array }): Promise<TopicValidatorResult> => {
      const from = source.toString()
      if (core.isCutOff(topic, from)) return TopicValidatorResult.Reject
      if (gossipPending >= GOSSIP_PENDING_MAX || !gossipBuckets.take(from, Date.now())) { counters.rateLimited++; return TopicValidatorResult.Ignore }
      const e = await admit(message.data, topic)
      if (e === undefined) return TopicValidatorResult.Reject
      if (isEnvelope(e)) validated.set(message.data, e)
      // SPEC E15: the sender is penalised only when it is the author; a relay may not know the list.
      if (!isEnvelope(e)) return e.unauthorized === from ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      if (!authorBuckets.take(e.author, Date.now())) {
        counters.rateLimited++
        return e.author === from ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      return TopicValidatorResult.Accept
    }
  }

  const onGossip = (evt: CustomEvent<{ propagationSource: { toString(): string }, msg: { topic: string, data: Uint8Array } }>): void => {
    const { msg, propagationSource } = evt.detail
    if (!msg.topic.startsWith(EVENTS_GOSSIP_TOPIC_PREFIX)) return
    const topic = msg.topic.slice(EVENTS_GOSSIP_TOPIC_PREFIX.length)
    gossipPending++
    // The validator already decoded and verified these very bytes; re-check only the writer list
    // (a restrict() may have landed in between, SPEC E15).
    const known = validated.get(msg.data)
    const admitted = known !== undefined && core.mayWrite(topic, known.author) ? Promise.resolve(known) : admit(msg.data, topic)
    void admitted.then(async (e) => {
      if (!isEnvelope(e) || !running) return
      await serial(async () => { observe(e); await stepAndRun({ kind: 'event', event: e, from: propagationSource.toString() }) })
    }).catch((err: unknown) => { log('gossip event in %s failed: %s', topic, describeError(err)) })
      .finally(() => { gossipPending-- })
  }

  const onSubscriptionChange = (evt: CustomEvent<{ peerId: { toString(): string }, subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    const peer = evt.detail.peerId.toString()
    for (const s of evt.detail.subscriptions) {
      if (!s.topic.startsWith(EVENTS_GOSSIP_TOPIC_PREFIX)) continue
      const topic = s.topic.slice(EVENTS_GOSSIP_TOPIC_PREFIX.length)
      if (!core.joined(topic)) continue
      void serial(async () => { await stepAndRun({ kind: s.subscribe ? 'peer-up' : 'peer-down', topic, peer }) })
    }
  }

  const onPeerDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    const peer = evt.detail.toString()
    void serial(async () => { for (const topic of core.topics()) await stepAndRun({ kind: 'peer-down', topic, peer }) })
  }

  async function joinTopic (topic: string): Promise<void> {
    checkTopic(topic)
    if (!running) throw new NotRunningError(`Cannot join events topic "${topic}": the node is stopped`)
    if (core.joined(topic)) return
    let pending = joining.get(topic)
    if (pending === undefined) {
      pending = serial(async () => {
        await store.join(topic)
        await activate(topic)
      })
      joining.set(topic, pending)
    }
    await pending
  }

  /** Start storing and syncing a topic known to the store (SPEC E1: joined topics persist). */
  async function activate (topic: string): Promise<void> {
    const meta = store.meta(topic)
    // Stepped and run: a restricted topic removes non-writers loaded from disk here (SPEC E15).
    await stepAndRun({ kind: 'join', topic, authors: new Map([...meta.authors].map(([a, s]) => [a, { ...s }])), introducers: new Map(meta.introducers) })
    const own = meta.authors.get(peerId)
    if (own !== undefined && hlcCompare(own.hlc, clock) > 0) clock = own.hlc
    if (meta.count > 0) {
      const newest = await store.readLog(topic, meta.localSeq - 1, 1)
      if (newest.length > 0) lastIds.set(topic, newest[0]!.envelope.id)
    }
    pubsub.topicValidators.set(gossipTopic(topic), validator(topic))
    // SPEC E13: score this topic so peers whose messages are rejected get graylisted.
    const score = (pubsub as unknown as { score?: { params: { topics: Record<string, unknown> } } }).score
    if (score !== undefined) score.params.topics[gossipTopic(topic)] = eventsTopicScoreParams()
    pubsub.subscribe(gossipTopic(topic))
    for (const peer of pubsub.getSubscribers(gossipTopic(topic))) await stepAndRun({ kind: 'peer-up', topic, peer: peer.toString() })
  }

  async function compactTopic (topic: string): Promise<void> {
    const { floors, removedLocalSeqs } = await store.compact(topic, { countMax: retention.countMax, bytesMax: retention.bytesMax, minWallMs: Date.now() - retention.ageMs })
    if (floors.size === 0) return
    core.step({ kind: 'compacted', topic, floors })
    await runEffects(core.drain())
    subs.compacted(topic, removedLocalSeqs)
    log('compacted %d events of %s', removedLocalSeqs.length, topic)
  }

  async function restrictTopic (topic: string, list: readonly string[]): Promise<void> {
    checkTopic(topic)
    if (!running) throw new NotRunningError(`Cannot restrict events topic "${topic}": the node is stopped`)
    if (list.length > TOPIC_WRITERS_MAX) throw new LimitExceededError(`Cannot restrict events topic "${topic}" to ${list.length} writers: at most TOPIC_WRITERS_MAX (${TOPIC_WRITERS_MAX})`)
    const writers = [...new Set(list.map(id => parsePeerId(id).toString()))].sort()
    await serial(async () => {
      await store.setWriters(topic, writers) // SPEC E15: durable before it takes effect, so a restart never reopens the topic
      await stepAndRun({ kind: 'restrict', topic, writers })
    })
    log('restricted %s to %d writers', topic, writers.length)
  }

  const service: EventsService = {
    restrict: async (topic, options) => { await restrictTopic(topic, options.writers) },

    async publish (topic, event) {
      checkTopic(topic)
      checkType(event.type)
      // SPEC E15: every node that restricted the topic would refuse it; say so instead of publishing in vain.
      if (!core.mayWrite(topic, peerId)) throw new NotAWriterError(`events topic "${topic}"`, peerId)
      await joinTopic(topic)
      const e = await serial(async () => {
        // Re-checked in the queue: a restrict() queued before this publish applies to it.
        if (!core.mayWrite(topic, peerId)) throw new NotAWriterError(`events topic "${topic}"`, peerId)
        const head = core.head(topic, peerId)
        clock = hlcNow(hlcCompare(head.hlc, clock) > 0 ? head.hlc : clock, Date.now())
        const bodyBytes = encodeBody({ topic, type: event.type, data: event.data ?? null, author: peerId, hlc: clock, seq: head.seq + 1 })
        const wire = encodeEnvelope(bodyBytes, await components.privateKey.sign(signingBytes(bodyBytes)))
        const envelope = decodeEnvelope(wire)
        remember(eventIdOf(bodyBytes))
        await stepAndRun({ kind: 'event', event: envelope }) // SPEC E9: fsynced before it is sent
        // SPEC E12: an own event is always stored; gossiping one that was not would reuse its seq.
        assert(core.head(topic, peerId).seq === envelope.seq, 'an own event is stored before it is sent')
        return envelope
      })
      counters.published++
      try {
        await pubsub.publish(gossipTopic(topic), e.wire)
      } catch (err) {
        // Stored locally; peers get it by anti-entropy (SPEC E6), so a failed send loses nothing.
        log('gossip publish of %s failed: %s', e.id, describeError(err))
      }
      return toAgentEvent(e)
    },

    subscribe (topic, subscribeOptions = {}) {
      checkTopic(topic)
      return subs.open(topic, subscribeOptions, joinTopic(topic))
    },

    async history (topic, historyOptions = {}) {
      checkTopic(topic)
      const limit = Math.min(historyOptions.limit ?? HISTORY_LIMIT_MAX, HISTORY_LIMIT_MAX)
      await joinTopic(topic)
      let after: string | undefined
      if (historyOptions.after !== undefined) after = (await subs.locate(topic, historyOptions.after)).orderKey
      const stored: StoredEvent[] = await store.readCanonical(topic, after, limit)
      return stored.map(s => toAgentEvent(s.envelope))
    },

    status (topic) {
      checkTopic(topic)
      const meta = store.peekMeta(topic)
      const peers = running ? pubsub.getSubscribers(gossipTopic(topic)).length : 0
      return { caughtUp: core.caughtUp(topic), lastEventId: lastIds.get(topic) ?? null, count: meta.count, held: core.heldCount(topic), peers }
    },

    join: joinTopic,

    project (topic, projectionOptions) {
      return createProjection(service, topic, projectionOptions)
    },

    async compact () {
      for (const topic of core.topics()) await serial(async () => { await compactTopic(topic) })
    },

    stats: () => ({ ...counters, ...core.stats }),

    async start () {
      running = true
      // Writer lists first, so no event of a non-writer is accepted between start and restrict (SPEC E15).
      for (const [topic, writers] of await store.loadWriters()) core.step({ kind: 'restrict', topic, writers })
      for (const topic of (await store.load()).keys()) await serial(async () => { await activate(topic) })
      pubsub.addEventListener('gossipsub:message', onGossip as never)
      pubsub.addEventListener('subscription-change', onSubscriptionChange as never)
      libp2p.addEventListener('peer:disconnect', onPeerDisconnect as never)
      await libp2p.handle(EVENTS_SYNC_PROTOCOL, (stream, connection) => {
        serveSync(stream, connection).catch((err: unknown) => {
          log('sync stream from %s failed: %s', connection.remotePeer.toString(), describeError(err))
          stream.abort(err as Error)
        })
      }, { maxInboundStreams: SYNC_INBOUND_STREAMS_MAX, maxOutboundStreams: SYNC_INBOUND_STREAMS_MAX })
      const tick = (): void => { void serial(async () => { await stepAndRun({ kind: 'tick' }) }) }
      timers = [
        setInterval(tick, init.syncIntervalMs ?? SYNC_INTERVAL_MS),
        setInterval(() => { void service.compact() }, RETENTION_INTERVAL_MS)
      ]
    },

    async stop () {
      if (!running) return
      running = false
      for (const t of timers) clearInterval(t)
      pubsub.removeEventListener('gossipsub:message', onGossip as never)
      pubsub.removeEventListener('subscription-change', onSubscriptionChange as never)
      libp2p.removeEventListener('peer:disconnect', onPeerDisconnect as never)
      for (const topic of core.topics()) {
        pubsub.unsubscribe(gossipTopic(topic))
        pubsub.topicValidators.delete(gossipTopic(topic))
        const score = (pubsub as unknown as { score?: { params: { topics: Record<string, unknown> } } }).score
        if (score !== undefined) Reflect.deleteProperty(score.params.topics, gossipTopic(topic))
      }
      subs.closeAll()
      await libp2p.unhandle(EVENTS_SYNC_PROTOCOL)
      await queue
    }
  }
  return service
}
