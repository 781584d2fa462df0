// libp2p adapter for docs: drives one DocReplica per open document on real time, GossipSub
// topics, direct sync streams and the embedded database. Parses, steps, drains; decides nothing.

import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { lpStream } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream, Connection, PeerId } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { KvStore } from '../kit/store.ts'
import type { HostEvents, HostIdentity, ProtocolDialer, PubSubHost, Registrar, ServiceBase, SigningKey } from '../kit/components.ts'
import { NotRunningError, DecodeError, LimitExceededError, describeError } from '../kit/errors.ts'
import { closeServedStream, deadlineSignal, explainAbort } from '../kit/adapter-abort.ts'
import { Backoff } from '../kit/backoff.ts'
import { KeyedTokenBuckets } from '../kit/token-bucket.ts'
import { scoreTopic, unscoreTopic } from '../kit/gossip-score.ts'
import type { TokenBucketLimits } from '../kit/token-bucket.ts'
import type { BackoffOptions } from '../kit/backoff.ts'
import {
  DOCS_SYNC_PROTOCOL, DOCS_TOPIC_PREFIX, DOCS_GOSSIP_FRAME_BYTES_MAX, DOCS_SYNC_FRAME_BYTES_MAX, DOCS_SYNC_UPDATE_BYTES_MAX,
  checkDocName, decodeGossipFrame, decodeSyncFrame, describeSyncFrame, docTopic, encodeGossipAwareness, encodeGossipSigned, encodeSyncFrame, signedUpdateBytes
} from './messages.ts'
import type { SignedUpdate, SyncBody } from './messages.ts'
import { DocReplica, SyncTooLargeError } from './replica.ts'
import type { DocEffect, SyncSession } from './replica.ts'
import { DocStore, shouldCompact } from './persistence.ts'

/** Deadline of one whole sync exchange (30 s): a step 2 of a large document on a slow link. */
export const DOCS_SYNC_TIMEOUT_MS = 30_000
/** Concurrent sync streams per connection (32): one per shared document is the normal case. */
export const DOCS_SYNC_STREAMS_MAX = 32
/**
 * Delay before syncing with a peer that newly subscribed (SPEC docs S4). The peer with the
 * smaller id waits this long, the other four times as long, so the side that just opened
 * the document (which syncs at once) usually wins and the exchange is not doubled.
 */
export const DOCS_SYNC_DELAY_MS = 100
/** Anti-entropy period (30 s): re-run sync with each neighbour, repairing lost gossip (SPEC docs S5). */
export const DOCS_ANTI_ENTROPY_MS = 30_000
/** Default deadline of `whenCaughtUp` (30 s): one anti-entropy period, after which a missed exchange is retried anyway. */
export const DOCS_CATCH_UP_TIMEOUT_MS_DEFAULT = 30_000
/** Callers waiting on one document's catch-up at once (1024): each is a closure kept until it settles. */
export const DOCS_CATCH_UP_WAITERS_MAX = 1024

/** Writers of one restricted document at most (1,024): a team of agents, checked per update. */
export const DOCS_WRITERS_MAX = 1024
/**
 * Signed updates one restricted document keeps (100,000): each is held in memory and on disk to
 * serve late joiners (SPEC docs W3); past it a writer's new edits are not shared.
 */
export const DOCS_SIGNED_UPDATES_MAX = 100_000
/** Key suffix of a restricted document's signed-update log in the `docs` sublevel (names cannot contain `!`). */
const SIGNED_LOG_SUFFIX = '!w'
/** A Yjs update with no structs and no deletions: the step 2 of a restricted document. */
const EMPTY_UPDATE = Y.encodeStateAsUpdate(new Y.Doc())

function isEmptyUpdate (update: Uint8Array): boolean {
  const decoded = Y.decodeUpdate(update)
  return decoded.structs.length === 0 && decoded.ds.clients.size === 0
}

/** One signed update's identity (author and signature), to keep it once. */
function signedId (signed: SignedUpdate): string {
  return `${signed.author}:${uint8ArrayToString(signed.signature, 'base64')}`
}

function sameSet (a: ReadonlySet<string>, b: readonly string[]): boolean {
  const other = new Set(b)
  return a.size === other.size && [...a].every((x) => other.has(x))
}

/** W2: true when `signed.signature` is its author's signature over the document and update. */
async function verifySigned (doc: string, signed: SignedUpdate): Promise<boolean> {
  try {
    const publicKey = peerIdFromString(signed.author).publicKey
    return publicKey !== undefined && await publicKey.verify(signedUpdateBytes(doc, signed.update), signed.signature)
  } catch (err) {
    void err // an unparsable author or a malformed signature is a forgery, not our error
    return false
  }
}

/** Documents open at once per node (256): each holds a topic subscription and a Y.Doc in memory. */
export const DOCS_OPEN_MAX = 256
/**
 * Read-buffer room past one whole frame (1 MiB): the step 1 and awareness frames a responder
 * writes right after its step 2 arrive while the step 2 is still being read. libp2p's default
 * buffer (4 MiB) reset every frame above it, whatever DOCS_SYNC_FRAME_BYTES_MAX said.
 */
export const DOCS_SYNC_BUFFER_SLACK_BYTES = 1024 * 1024
/**
 * Backoff of sync exchanges started with a peer after one failed (SPEC docs S6): 1 s doubling
 * to 60 s, ±20 %. A peer that fails every exchange (too large a document, garbage, resets)
 * then costs at most one attempt a minute instead of one per trigger (anti-entropy,
 * reconnects, missing dependencies); 60 s is two anti-entropy periods.
 */
export const DOCS_SYNC_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 60_000, jitter: 0.2 }
/**
 * Sync exchanges one peer may open on this node (SPEC docs S7): a burst of DOCS_OPEN_MAX (a
 * peer opening every document at once), then 16/s, about two per open document per
 * anti-entropy period (256 × 2 / 30 s). Each exchange can cost a whole-document step 2.
 */
export const DOCS_SYNC_SERVED_PER_PEER: Readonly<TokenBucketLimits> = Object.freeze({ capacity: DOCS_OPEN_MAX, refillPerS: 16 })
/** Peers whose sync budget is tracked at once (1,024): beyond it the idlest is forgotten. */
export const DOCS_SYNC_BUDGET_PEERS_MAX = 1_024
/** Peers with a sync backoff remembered per node (4,096): beyond it the oldest is forgotten. */
export const DOCS_SYNC_BACKOFF_PEERS_MAX = 4_096

/** What `node.docs.status(name)` returns (SPEC docs D5). */
export interface DocStatus {
  /** True when sync step 2 completed with every currently known peer of the doc. */
  caughtUp: boolean
  /** Peers known to have the document open (GossipSub topic subscribers). */
  peers: string[]
}

/** Counters of what the service did, for metrics, benchmarks and tests. */
export interface DocsStats {
  gossipFramesPublished: number
  gossipBytesPublished: number
  gossipFramesReceived: number
  gossipBytesReceived: number
  syncsStarted: number
  syncsCompleted: number
  syncsFailed: number
  syncBytesSent: number
  syncBytesReceived: number
  framesRejected: number
  /** Sync frames over DOCS_SYNC_FRAME_BYTES_MAX: declared by a peer, or refused before sending. */
  syncFramesOversized: number
  /** Sync exchanges put off because the peer's last exchange failed (SPEC docs S6). */
  syncsDeferred: number
  /** Sync streams refused because their peer was over DOCS_SYNC_SERVED_PER_PEER (SPEC docs S7). */
  syncsRateLimited: number
  compactions: number
  persistFailures: number
  /** Updates refused on a restricted document: unsigned, by a non-writer, or with a bad signature (SPEC docs W2). */
  unauthorized: number
  /** This node's own edits to a restricted document it is not a writer of: kept local (SPEC docs W4). */
  localUnsigned: number
}

/** The `node.docs` API. */
export interface DocsService {
  /**
   * Open (or return the already open) document `name`, restored from the database, kept in sync.
   * With `writers` (peer ids), only updates signed by one of them are applied, live and in sync
   * (SPEC docs W1-W5); every node that opens the document must pass the same list.
   */
  open (name: string, options?: { writers?: readonly string[] }): Promise<Y.Doc>
  /** Sync state of an open document. */
  status (name: string): DocStatus
  /**
   * Resolve once the open document `name` is caught up (SPEC docs D5) with at least `peers` peers
   * known to have it open (default 0: with no peer known yet, a doc is trivially caught up, so
   * pass how many you expect). Throws TimeoutError after `timeoutMs`
   * (DOCS_CATCH_UP_TIMEOUT_MS_DEFAULT), AbortedError on `signal`, NotRunningError if it is closed.
   */
  whenCaughtUp (name: string, options?: { peers?: number, timeoutMs?: number, signal?: AbortSignal }): Promise<DocStatus>
  /** Presence of the peers editing `name` (y-protocols awareness). */
  awareness (name: string): Awareness
  /** Stop syncing `name`; pending writes are flushed first. */
  close (name: string): Promise<void>
  /** Names of the open documents. */
  list (): string[]
  stats (): DocsStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Options of the docs service. */
/** What the docs service uses of its node: GossipSub, sync streams, host events and its store. */
export interface DocsComponents extends ServiceBase, SigningKey {
  readonly libp2p: HostIdentity & PubSubHost & Registrar & ProtocolDialer & HostEvents
  /** The `docs` namespace of the node's database. */
  readonly store: KvStore
}

/** Tunables of the docs service. */
export interface DocsServiceInit {
  gossipFrameBytesMax?: number
  syncFrameBytesMax?: number
  antiEntropyMs?: number
  compactUpdatesMax?: number
  compactBytesMax?: number
}

interface OpenDoc {
  readonly name: string
  readonly topic: string
  readonly replica: DocReplica
  readonly store: DocStore
  readonly awareness: Awareness
  readonly timers: Map<string, ReturnType<typeof setTimeout>>
  /** One retry per peer whose sync is put off by its backoff (SPEC docs S6). */
  readonly deferred: Map<string, ReturnType<typeof setTimeout>>
  /** Serializes persist → publish effects of this document (SPEC docs E1). */
  chain: Promise<void>
  closed: boolean
  /** `whenCaughtUp` callers, re-checked after every step of the replica and at close. */
  readonly waiters: Set<() => void>
  /** The writer list of a restricted document (SPEC docs W1), and its writers' signed updates. */
  readonly restricted?: Restricted
}

/** A restricted document's writers and the signed updates it holds, to serve in sync (SPEC docs W3). */
interface Restricted {
  readonly writers: ReadonlySet<string>
  readonly log: DocStore
  readonly signed: Array<{ signed: SignedUpdate, to: Map<number, number>, structs: boolean }>
  readonly seen: Set<string>
}

/** Build the docs service over a libp2p host and the node's database. */
export function createDocsService (components: DocsComponents, options: DocsServiceInit = {}): DocsService {
  const { libp2p, log } = components
  const selfId = libp2p.peerId.toString()
  const gossipFrameBytesMax = options.gossipFrameBytesMax ?? DOCS_GOSSIP_FRAME_BYTES_MAX
  const syncFrameBytesMax = options.syncFrameBytesMax ?? DOCS_SYNC_FRAME_BYTES_MAX
  const db = components.store
  const docs = new Map<string, OpenDoc>()
  const opening = new Map<string, Promise<Y.Doc>>()
  const stats: DocsStats = {
    gossipFramesPublished: 0, gossipBytesPublished: 0, gossipFramesReceived: 0, gossipBytesReceived: 0, syncsStarted: 0, syncsCompleted: 0,
    syncsFailed: 0, syncBytesSent: 0, syncBytesReceived: 0, framesRejected: 0, syncFramesOversized: 0, syncsDeferred: 0, syncsRateLimited: 0, compactions: 0, persistFailures: 0, unauthorized: 0, localUnsigned: 0
  }
  /** Peers whose last sync exchange failed, and when the next may start (SPEC docs S6). */
  const backoffs = new Map<string, { backoff: Backoff, retryAtMs: number }>()
  const serveBudgets = new KeyedTokenBuckets(DOCS_SYNC_SERVED_PER_PEER, { keysMax: DOCS_SYNC_BUDGET_PEERS_MAX })
  let running = false
  /** Aborted by stop(): every running sync exchange ends with the service. */
  let shutdown = new AbortController()
  let antiEntropy: ReturnType<typeof setInterval> | undefined

  const pubsub = (): PubSubHost['services']['pubsub'] => libp2p.services.pubsub

  function get (name: string): OpenDoc {
    const entry = docs.get(name)
    if (entry === undefined) throw new NotRunningError(`Document "${name}" is not open: call node.docs.open("${name}") first`)
    return entry
  }

  // --- effects -----------------------------------------------------------------------

  function drain (entry: OpenDoc): void {
    for (const effect of entry.replica.drain()) apply(entry, effect)
    for (const waiter of [...entry.waiters]) waiter()
  }

  function apply (entry: OpenDoc, effect: DocEffect): void {
    switch (effect.kind) {
      case 'persist':
        entry.chain = entry.chain.then(async () => { await persist(entry, effect.update) })
        if (effect.local === true && entry.restricted !== undefined) {
          const update = effect.update
          entry.chain = entry.chain.then(async () => { await signLocal(entry, update) })
            .catch((err: unknown) => { log.error('signing an update of "%s" failed: %s', entry.name, describeError(err)) })
        }
        break
      case 'publish':
        // A restricted document publishes the signed update instead (signLocal).
        if (entry.restricted !== undefined) break
        entry.chain = entry.chain.then(async () => {
          if (entry.closed || !running) return
          stats.gossipFramesPublished++
          stats.gossipBytesPublished += effect.frame.byteLength
          await pubsub().publish(entry.topic, effect.frame)
        }).catch((err: unknown) => { log('publishing an update of "%s" failed: %s', entry.name, describeError(err)) })
        break
      case 'sync':
        void sync(entry, effect.peer, effect.reason)
        break
      case 'status':
        log('doc "%s" caughtUp=%s', entry.name, effect.caughtUp)
        break
    }
  }

  // --- writer lists (SPEC docs W1-W5) --------------------------------------------------

  function refuse (entry: OpenDoc, from: string, what: string): void {
    stats.unauthorized++
    if (stats.unauthorized % 100 === 1) log('doc "%s": refused %s from %s (%d refused so far): not signed by a writer', entry.name, what, from, stats.unauthorized)
  }

  /** Keep a writer's signed update to serve it in sync; false when the log is full. */
  async function keepSigned (restricted: Restricted, signed: SignedUpdate): Promise<boolean> {
    const id = signedId(signed)
    if (restricted.seen.has(id)) return true
    if (restricted.signed.length >= DOCS_SIGNED_UPDATES_MAX) return false
    restricted.seen.add(id)
    const meta = Y.parseUpdateMeta(signed.update)
    restricted.signed.push({ signed, to: meta.to, structs: meta.to.size > 0 })
    await restricted.log.append(encodeGossipSigned(signed))
    return true
  }

  /** W2: apply `signed` only when its author is a writer and the signature verifies. */
  async function receiveSigned (entry: OpenDoc, from: string, signed: SignedUpdate): Promise<boolean> {
    const restricted = entry.restricted
    if (restricted === undefined) {
      // An open document takes a signed update like any other.
      entry.replica.receiveUpdate(from, signed.update)
      return true
    }
    if (!restricted.writers.has(signed.author) || !await verifySigned(entry.name, signed)) {
      refuse(entry, from, `an update signed by ${signed.author}`)
      return false
    }
    if (entry.closed) return false
    if (!await keepSigned(restricted, signed)) {
      refuse(entry, from, `an update past DOCS_SIGNED_UPDATES_MAX (${DOCS_SIGNED_UPDATES_MAX})`)
      return false
    }
    entry.replica.receiveUpdate(from, signed.update)
    return true
  }

  /** W4: sign this node's own edit, keep it, and publish it; a non-writer's edit stays local. */
  async function signLocal (entry: OpenDoc, update: Uint8Array): Promise<void> {
    const restricted = entry.restricted!
    if (!restricted.writers.has(selfId)) {
      stats.localUnsigned++
      if (stats.localUnsigned % 100 === 1) log('doc "%s": this node is not one of its writers; its edits stay local (%d so far)', entry.name, stats.localUnsigned)
      return
    }
    const signed: SignedUpdate = { author: selfId, update, signature: await components.privateKey.sign(signedUpdateBytes(entry.name, update)) }
    if (!await keepSigned(restricted, signed)) {
      log.error('doc "%s": DOCS_SIGNED_UPDATES_MAX (%d) signed updates held; this edit is not shared', entry.name, DOCS_SIGNED_UPDATES_MAX)
      return
    }
    const frame = encodeGossipSigned(signed)
    // Too big for the topic: peers get it through sync (SPEC docs D2).
    if (frame.byteLength > gossipFrameBytesMax || entry.closed || !running) return
    stats.gossipFramesPublished++
    stats.gossipBytesPublished += frame.byteLength
    await pubsub().publish(entry.topic, frame).catch((err: unknown) => { log('publishing an update of "%s" failed: %s', entry.name, describeError(err)) })
  }

  /** W3: the answer to a step 1 on a restricted document: the signed updates the peer lacks, then an empty step 2. */
  function signedStepTwo (restricted: Restricted, stateVector: Uint8Array): SyncBody[] {
    const theirs = Y.decodeStateVector(stateVector)
    const replies: SyncBody[] = []
    for (const held of restricted.signed) {
      // Delete-only updates carry no clock range: always sent (applying them twice is a no-op).
      let lacks = !held.structs
      for (const [client, clock] of held.to) if ((theirs.get(client) ?? 0) < clock) { lacks = true; break }
      if (lacks) replies.push({ kind: 'signed', signed: held.signed })
    }
    replies.push({ kind: 'step2', update: EMPTY_UPDATE })
    return replies
  }

  async function persist (entry: OpenDoc, update: Uint8Array): Promise<void> {
    try {
      const size = await entry.store.append(update)
      if (shouldCompact(size, { updatesMax: options.compactUpdatesMax, bytesMax: options.compactBytesMax })) {
        // The snapshot holds every update applied so far, including all appended ones (SPEC docs P2).
        await entry.store.compact(Y.encodeStateAsUpdate(entry.replica.doc))
        stats.compactions++
      }
    } catch (err) {
      stats.persistFailures++
      log.error('persisting an update of "%s" failed: %s', entry.name, describeError(err))
    }
  }

  // --- sync streams (SPEC docs S1-S3) ---------------------------------------------------

  async function writeFrames (lp: ReturnType<typeof lpStream>, entry: OpenDoc, bodies: SyncBody[], signal: AbortSignal): Promise<void> {
    for (const body of bodies) {
      const bytes = encodeSyncFrame({ doc: entry.name, body })
      if (bytes.byteLength > syncFrameBytesMax) {
        // SPEC docs L1: the document outgrew what sync carries; refuse before sending a byte.
        stats.syncFramesOversized++
        throw new LimitExceededError(`Cannot send ${describeSyncFrame({ doc: entry.name, body })}: ${bytes.byteLength} bytes exceeds DOCS_SYNC_FRAME_BYTES_MAX (${syncFrameBytesMax}), so document "${entry.name}" is too large to sync`)
      }
      stats.syncBytesSent += bytes.byteLength
      await lp.write(bytes, { signal })
    }
  }

  /**
   * Awareness goes before the step 2 it rides with (SPEC docs S2, S3): each side stops reading once
   * its exchange is done, which the other's last step frame completes, so anything after it
   * would never be read and presence set before a peer opened the doc would not reach it.
   */
  function withAwareness (entry: OpenDoc, replies: SyncBody[]): SyncBody[] {
    if (!replies.some(r => r.kind === 'step2')) return replies
    const update = encodeAwarenessUpdate(entry.awareness, [...entry.awareness.getStates().keys()])
    return [{ kind: 'awareness', update }, ...replies]
  }

  /** A length-prefixed view of a sync stream whose buffer holds one whole frame (SPEC docs L1). */
  function syncLp (stream: Stream): ReturnType<typeof lpStream> {
    return lpStream(stream, { maxDataLength: syncFrameBytesMax, maxBufferSize: syncFrameBytesMax + DOCS_SYNC_BUFFER_SLACK_BYTES })
  }

  async function readFrame (lp: ReturnType<typeof lpStream>, peer: string, signal: AbortSignal): Promise<Uint8Array> {
    try {
      return (await lp.read({ signal })).subarray()
    } catch (err) {
      const name = (err as Error)?.name
      if (name !== 'InvalidDataLengthError' && name !== 'StreamBufferError') throw err
      stats.syncFramesOversized++
      throw new LimitExceededError(`Refused a docs sync frame from ${peer}: it exceeds DOCS_SYNC_FRAME_BYTES_MAX (${syncFrameBytesMax}), the largest document sync carries (${describeError(err)})`, { cause: err })
    }
  }

  async function readBody (lp: ReturnType<typeof lpStream>, entry: OpenDoc | undefined, options: { peer: string, signal: AbortSignal }): Promise<{ doc: string, body: SyncBody }> {
    const bytes = await readFrame(lp, options.peer, options.signal)
    stats.syncBytesReceived += bytes.byteLength
    const frame = decodeSyncFrame(bytes, syncFrameBytesMax)
    if (entry !== undefined && frame.doc !== entry.name) throw new DecodeError(`Sync frame names document "${frame.doc}" on a stream for "${entry.name}"`)
    return frame
  }

  async function step (entry: OpenDoc, session: SyncSession, body: SyncBody): Promise<SyncBody[]> {
    if (body.kind === 'signed') {
      await receiveSigned(entry, session.peer, body.signed)
      drain(entry)
      return []
    }
    if (entry.restricted !== undefined && (body.kind === 'update' || (body.kind === 'step2' && !isEmptyUpdate(body.update)))) {
      // W3: unsigned content in sync is not applied; a step 2 still ends the peer's step.
      refuse(entry, session.peer, 'unsigned content in sync')
      if (body.kind === 'update') return []
      body = { kind: 'step2', update: EMPTY_UPDATE }
    }
    if (body.kind === 'awareness') applyAwarenessUpdate(entry.awareness, body.update, entry.replica.remoteOrigin)
    let replies: SyncBody[]
    try {
      replies = entry.replica.receiveSync(session, body)
    } catch (err) {
      // SPEC docs L1, S8: the document outgrew what sync carries; nothing was sent.
      if (err instanceof SyncTooLargeError) stats.syncFramesOversized++
      throw err
    }
    drain(entry)
    return withAwareness(entry, replies)
  }

  /** Milliseconds until a sync with `peer` may start again; 0 when it is not backed off. */
  function backoffRemainingMs (peer: string): number {
    const state = backoffs.get(peer)
    return state === undefined ? 0 : Math.max(0, state.retryAtMs - performance.now())
  }

  function recordSyncOutcome (peer: string, ok: boolean): void {
    if (ok) { backoffs.delete(peer); return }
    let state = backoffs.get(peer)
    if (state === undefined) {
      if (backoffs.size >= DOCS_SYNC_BACKOFF_PEERS_MAX) backoffs.delete(backoffs.keys().next().value as string)
      state = { backoff: new Backoff(DOCS_SYNC_BACKOFF), retryAtMs: 0 }
      backoffs.set(peer, state)
    }
    state.retryAtMs = performance.now() + state.backoff.next(Math.random())
  }

  /** SPEC docs S6: run the put-off exchange once the peer's backoff ends (one timer per peer). */
  function deferSync (entry: OpenDoc, peer: string, delayMs: number): void {
    stats.syncsDeferred++
    if (entry.deferred.has(peer)) return
    entry.deferred.set(peer, setTimeout(() => {
      entry.deferred.delete(peer)
      void sync(entry, peer, 'after backoff')
    }, delayMs))
  }

  async function sync (entry: OpenDoc, peer: string, reason: string): Promise<void> {
    if (entry.closed || !running || entry.replica.isSyncing(peer)) return
    const waitMs = backoffRemainingMs(peer)
    if (waitMs > 0) { deferSync(entry, peer, waitMs); return }
    stats.syncsStarted++
    log('sync "%s" with %s (%s)', entry.name, peer, reason)
    const signal = deadlineSignal(DOCS_SYNC_TIMEOUT_MS, shutdown.signal)
    const { session, frames } = entry.replica.beginSync(peer)
    let stream: Stream | undefined
    try {
      stream = await libp2p.dialProtocol(peerIdFromString(peer), DOCS_SYNC_PROTOCOL, { signal })
      const lp = syncLp(stream)
      await writeFrames(lp, entry, frames, signal)
      while (!session.done) {
        const frame = await readBody(lp, entry, { peer, signal })
        if (frame.body.kind === 'not-open') entry.replica.removePeer(peer)
        await writeFrames(lp, entry, await step(entry, session, frame.body), signal)
      }
      stats.syncsCompleted++
      recordSyncOutcome(peer, true)
      await stream.close({ signal })
    } catch (err) {
      stats.syncsFailed++
      if (running) recordSyncOutcome(peer, false)
      if (err instanceof DecodeError || err instanceof LimitExceededError) stats.framesRejected++
      log('sync "%s" with %s failed: %s', entry.name, peer, describeError(err))
      stream?.abort(err as Error)
    } finally {
      entry.replica.failSync(session)
      drain(entry)
    }
  }

  async function serve (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    // SPEC docs S7: charge the stream before reading it, so a peer over budget costs no work.
    if (!serveBudgets.take(peer, performance.now())) {
      stats.syncsRateLimited++
      const err = new LimitExceededError(`Refused a docs sync stream from ${peer}: over DOCS_SYNC_SERVED_PER_PEER (${DOCS_SYNC_SERVED_PER_PEER.refillPerS}/s, burst ${DOCS_SYNC_SERVED_PER_PEER.capacity})`)
      if (stats.syncsRateLimited % 1_000 === 1) log('%s (%d refused so far)', err.message, stats.syncsRateLimited)
      stream.abort(err)
      return
    }
    const signal = deadlineSignal(DOCS_SYNC_TIMEOUT_MS, shutdown.signal)
    const lp = syncLp(stream)
    let entry: OpenDoc | undefined
    let session: SyncSession | undefined
    try {
      const first = await readBody(lp, undefined, { peer, signal })
      entry = docs.get(first.doc)
      if (entry === undefined || entry.closed) {
        const bytes = encodeSyncFrame({ doc: first.doc, body: { kind: 'not-open' } })
        stats.syncBytesSent += bytes.byteLength
        await lp.write(bytes, { signal })
        await closeServedStream(stream, { what: `docs sync from ${peer}` })
        return
      }
      session = entry.replica.acceptSync(peer)
      let body = first.body
      for (;;) {
        await writeFrames(lp, entry, await step(entry, session, body), signal)
        if (session.done) break
        body = (await readBody(lp, entry, { peer, signal })).body
      }
      stats.syncsCompleted++
      await closeServedStream(stream, { what: `docs sync from ${peer}` })
    } catch (err) {
      stats.syncsFailed++
      // SPEC docs F3: oversized or malformed frames are rejected, counted and logged.
      const name = (err as Error)?.name
      if (err instanceof DecodeError || err instanceof LimitExceededError || name === 'InvalidDataLengthError') stats.framesRejected++
      log('sync stream from %s rejected: %s', peer, describeError(err))
      stream.abort(err as Error)
    } finally {
      if (entry !== undefined && session !== undefined) {
        entry.replica.failSync(session)
        drain(entry)
      }
    }
  }

  function scheduleSync (entry: OpenDoc, peer: string, reason: string): void {
    if (entry.timers.has(peer)) return
    const delayMs = selfId < peer ? DOCS_SYNC_DELAY_MS : 4 * DOCS_SYNC_DELAY_MS
    entry.timers.set(peer, setTimeout(() => {
      entry.timers.delete(peer)
      if (!entry.replica.isSynced(peer) && !entry.replica.isSyncing(peer)) void sync(entry, peer, reason)
    }, delayMs))
  }

  function forgetPeer (entry: OpenDoc, peer: string): void {
    entry.replica.removePeer(peer)
    const timer = entry.timers.get(peer)
    if (timer !== undefined) clearTimeout(timer)
    entry.timers.delete(peer)
    clearTimeout(entry.deferred.get(peer))
    entry.deferred.delete(peer)
    drain(entry)
  }

  // --- libp2p events -------------------------------------------------------------------

  /** GossipSub validator of doc topics: Reject what does not decode (counted), Accept the rest. */
  function validateGossip (from: PeerId, message: Message): TopicValidatorResult {
    try {
      const frame = decodeGossipFrame(message.data, gossipFrameBytesMax)
      // W2: on a restricted document, what no writer signed is not forwarded (not penalised:
      // the sender may be a node that opened the document without the list).
      const entry = docs.get(message.topic.slice(DOCS_TOPIC_PREFIX.length))
      if (entry?.restricted !== undefined && (frame.kind === 'update' || (frame.kind === 'signed' && !entry.restricted.writers.has(frame.signed.author)))) {
        refuse(entry, from.toString(), frame.kind === 'update' ? 'an unsigned update' : `an update signed by ${frame.signed.author}`)
        return TopicValidatorResult.Ignore
      }
      return TopicValidatorResult.Accept
    } catch (err) {
      stats.framesRejected++
      log('rejected gossip frame on %s from %s: %s', message.topic, from.toString(), describeError(err))
      return TopicValidatorResult.Reject
    }
  }

  function onMessage (event: CustomEvent<Message>): void {
    const message = event.detail
    if (!message.topic.startsWith(DOCS_TOPIC_PREFIX)) return
    const entry = docs.get(message.topic.slice(DOCS_TOPIC_PREFIX.length))
    if (entry === undefined || entry.closed) return
    const from = message.type === 'signed' ? message.from.toString() : 'unknown'
    stats.gossipFramesReceived++
    stats.gossipBytesReceived += message.data.byteLength
    try {
      const frame = decodeGossipFrame(message.data, gossipFrameBytesMax)
      if (frame.kind === 'signed') {
        void receiveSigned(entry, from, frame.signed).then(() => { drain(entry) })
      } else if (frame.kind === 'update') {
        if (entry.restricted !== undefined) refuse(entry, from, 'an unsigned update')
        else entry.replica.receiveUpdate(from, frame.update)
      } else applyAwarenessUpdate(entry.awareness, frame.update, entry.replica.remoteOrigin)
    } catch (err) {
      // SPEC docs F3: a bad frame is counted and logged, never fatal.
      stats.framesRejected++
      log('rejected gossip frame on %s from %s: %s', message.topic, from, describeError(err))
    }
    drain(entry)
  }

  function onSubscriptionChange (event: CustomEvent<SubscriptionChangeData>): void {
    const peer = event.detail.peerId.toString()
    for (const subscription of event.detail.subscriptions) {
      if (!subscription.topic.startsWith(DOCS_TOPIC_PREFIX)) continue
      const entry = docs.get(subscription.topic.slice(DOCS_TOPIC_PREFIX.length))
      if (entry === undefined || entry.closed) continue
      if (subscription.subscribe) {
        if (entry.replica.addPeer(peer)) scheduleSync(entry, peer, 'peer subscribed')
        else log('doc "%s": ignoring peer %s, DOCS_PEERS_MAX reached', entry.name, peer)
      } else {
        forgetPeer(entry, peer)
      }
      drain(entry)
    }
  }

  function onPeerDisconnect (event: CustomEvent<PeerId>): void {
    const peer = event.detail.toString()
    for (const entry of docs.values()) forgetPeer(entry, peer)
  }

  function runAntiEntropy (): void {
    for (const entry of docs.values()) {
      for (const peer of entry.replica.peers()) {
        if (selfId < peer && !entry.replica.isSyncing(peer)) void sync(entry, peer, 'anti-entropy')
      }
    }
  }

  // --- open / close ----------------------------------------------------------------------

  /** W1: check the writer list and load the signed updates kept for the document. */
  async function openRestricted (name: string, writers: readonly string[]): Promise<Restricted> {
    if (writers.length === 0 || writers.length > DOCS_WRITERS_MAX) throw new LimitExceededError(`Cannot open document "${name}": ${writers.length} writers; give 1 to DOCS_WRITERS_MAX (${DOCS_WRITERS_MAX})`)
    for (const writer of writers) {
      try {
        peerIdFromString(writer)
      } catch (err) {
        throw new DecodeError(`Cannot open document "${name}": writer "${String(writer).slice(0, 80)}" is not a peer id (${describeError(err)})`, { cause: err })
      }
    }
    const log = new DocStore(db, `${name}${SIGNED_LOG_SUFFIX}`)
    const restricted: Restricted = { writers: new Set(writers), log, signed: [], seen: new Set() }
    for (const bytes of (await log.load()).updates) {
      const frame = decodeGossipFrame(bytes, Number.MAX_SAFE_INTEGER)
      if (frame.kind !== 'signed' || !restricted.writers.has(frame.signed.author)) continue // a writer since removed from the list
      const meta = Y.parseUpdateMeta(frame.signed.update)
      restricted.seen.add(signedId(frame.signed))
      restricted.signed.push({ signed: frame.signed, to: meta.to, structs: meta.to.size > 0 })
    }
    return restricted
  }

  async function openDoc (name: string, writers: readonly string[] | undefined): Promise<Y.Doc> {
    const store = new DocStore(db, name)
    const stored = await store.load()
    const restricted = writers === undefined ? undefined : await openRestricted(name, writers)
    const replica = new DocReplica({
      name,
      gossipFrameBytesMax,
      syncUpdateBytesMax: syncFrameBytesMax - (DOCS_SYNC_FRAME_BYTES_MAX - DOCS_SYNC_UPDATE_BYTES_MAX),
      ...(restricted !== undefined ? { stepTwo: (sv: Uint8Array) => signedStepTwo(restricted, sv) } : {})
    })
    // SPEC docs P3: the stored state is in the doc before open() returns, before any peer answers.
    Y.transact(replica.doc, () => {
      if (stored.snapshot !== undefined) replica.load(stored.snapshot)
      for (const update of stored.updates) replica.load(update)
    }, replica.loadOrigin)
    const awareness = new Awareness(replica.doc)
    const entry: OpenDoc = { name, topic: docTopic(name), replica, store, awareness, timers: new Map(), deferred: new Map(), chain: Promise.resolve(), closed: false, waiters: new Set(), ...(restricted !== undefined ? { restricted } : {}) }
    replica.onEffects = () => { queueMicrotask(() => { drain(entry) }) }
    awareness.on('update', (changes: { added: number[], updated: number[], removed: number[] }, origin: unknown) => {
      if (origin === replica.remoteOrigin || entry.closed || !running) return
      const frame = encodeGossipAwareness(encodeAwarenessUpdate(awareness, [...changes.added, ...changes.updated, ...changes.removed]))
      if (frame.byteLength > gossipFrameBytesMax) {
        log('doc "%s": awareness state of %d bytes exceeds DOCS_GOSSIP_FRAME_BYTES_MAX; not published', name, frame.byteLength)
        return
      }
      stats.gossipFramesPublished++
      stats.gossipBytesPublished += frame.byteLength
      pubsub().publish(entry.topic, frame).catch((err: unknown) => { log('publishing awareness of "%s" failed: %s', name, describeError(err)) })
    })
    docs.set(name, entry)
    // SPEC docs F3: a frame that does not decode is rejected in validation, so GossipSub stops
    // forwarding it and graylists a peer that keeps sending such frames.
    pubsub().topicValidators.set(entry.topic, validateGossip)
    scoreTopic(pubsub(), entry.topic)
    pubsub().subscribe(entry.topic)
    // SPEC docs S4: the side that opens syncs at once with every known subscriber.
    for (const peerId of pubsub().getSubscribers(entry.topic)) {
      const peer = peerId.toString()
      if (replica.addPeer(peer)) void sync(entry, peer, 'opened')
    }
    drain(entry)
    return replica.doc
  }

  async function closeDoc (entry: OpenDoc): Promise<void> {
    if (entry.closed) return
    // Tell the others we left (awareness removal), then stop listening.
    removeAwarenessStates(entry.awareness, [entry.replica.doc.clientID], 'local')
    entry.closed = true
    for (const waiter of [...entry.waiters]) waiter()
    for (const timer of [...entry.timers.values(), ...entry.deferred.values()]) clearTimeout(timer)
    entry.timers.clear()
    entry.deferred.clear()
    entry.awareness.destroy()
    entry.replica.detach()
    drain(entry)
    docs.delete(entry.name)
    if (running) {
      pubsub().unsubscribe(entry.topic)
      pubsub().topicValidators.delete(entry.topic)
      unscoreTopic(pubsub(), entry.topic)
    }
    await entry.chain
  }

  return {
    async open (name, openOptions = {}) {
      if (!running) throw new NotRunningError(`Cannot open document "${String(name)}": the node is stopped`)
      checkDocName(name)
      const open = docs.get(name)
      if (open !== undefined) {
        const same = openOptions.writers === undefined ? open.restricted === undefined : open.restricted !== undefined && sameSet(open.restricted.writers, openOptions.writers)
        if (!same) throw new DecodeError(`Document "${name}" is already open with ${open.restricted === undefined ? 'no writer list' : 'another writer list'}: close it first`)
        return open.replica.doc
      }
      const pending = opening.get(name)
      if (pending !== undefined) return pending
      if (docs.size >= DOCS_OPEN_MAX) throw new LimitExceededError(`Cannot open document "${name}": ${docs.size} open documents reaches DOCS_OPEN_MAX (${DOCS_OPEN_MAX})`)
      const promise = openDoc(name, openOptions.writers).finally(() => { opening.delete(name) })
      opening.set(name, promise)
      return promise
    },
    status (name) {
      const entry = get(name)
      return { caughtUp: entry.replica.caughtUp(), peers: entry.replica.peers() }
    },
    async whenCaughtUp (name, options = {}) {
      const entry = get(name)
      const wanted = options.peers ?? 0
      const timeoutMs = options.timeoutMs ?? DOCS_CATCH_UP_TIMEOUT_MS_DEFAULT
      const current = (): DocStatus => ({ caughtUp: entry.replica.caughtUp(), peers: entry.replica.peers() })
      const ready = (): boolean => entry.replica.caughtUp() && entry.replica.peers().length >= wanted
      if (ready()) return current()
      if (entry.waiters.size >= DOCS_CATCH_UP_WAITERS_MAX) throw new LimitExceededError(`Cannot wait for document "${name}": ${entry.waiters.size} callers already wait (DOCS_CATCH_UP_WAITERS_MAX)`)
      const what = `Waiting for document "${name}" to catch up with ${wanted} peer(s)`
      const signal = deadlineSignal(timeoutMs, options.signal)
      return await new Promise<DocStatus>((resolve, reject) => {
        const finish = (err?: unknown): void => {
          entry.waiters.delete(check)
          signal.removeEventListener('abort', onAbort)
          if (err !== undefined) reject(err); else resolve(current())
        }
        const check = (): void => {
          if (entry.closed) finish(new NotRunningError(`${what}: the document was closed`))
          else if (ready()) finish()
        }
        const onAbort = (): void => {
          const now = current()
          finish(explainAbort(signal.reason, { what: `${what} (now: caughtUp ${now.caughtUp}, ${now.peers.length} peer(s))`, timeoutMs, signal: options.signal }))
        }
        entry.waiters.add(check)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    },
    awareness: (name) => get(name).awareness,
    async close (name) {
      const entry = docs.get(name)
      if (entry !== undefined) await closeDoc(entry)
    },
    list: () => [...docs.keys()],
    stats: () => ({ ...stats }),
    async start () {
      running = true
      shutdown = new AbortController()
      await libp2p.handle(DOCS_SYNC_PROTOCOL, (stream, connection) => {
        serve(stream, connection).catch((err: unknown) => {
          log('docs sync stream from %s failed: %s', connection.remotePeer.toString(), describeError(err))
          stream.abort(err as Error)
        })
      }, { maxInboundStreams: DOCS_SYNC_STREAMS_MAX, maxOutboundStreams: DOCS_SYNC_STREAMS_MAX })
      pubsub().addEventListener('message', onMessage)
      pubsub().addEventListener('subscription-change', onSubscriptionChange)
      libp2p.addEventListener('peer:disconnect', onPeerDisconnect)
      antiEntropy = setInterval(runAntiEntropy, options.antiEntropyMs ?? DOCS_ANTI_ENTROPY_MS)
    },
    async stop () {
      if (!running) return
      await Promise.all([...docs.values()].map(closeDoc))
      running = false
      shutdown.abort(new NotRunningError('the docs service stopped'))
      clearInterval(antiEntropy)
      pubsub().removeEventListener('message', onMessage)
      pubsub().removeEventListener('subscription-change', onSubscriptionChange)
      libp2p.removeEventListener('peer:disconnect', onPeerDisconnect)
      await libp2p.unhandle(DOCS_SYNC_PROTOCOL)
    }
  }
}
