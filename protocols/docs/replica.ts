// Pure core of one open document: applies local and remote Yjs updates, runs the
// y-protocols sync step 1/2 exchange with each peer, and hands back effects in order
// (persist, publish, sync, status). No I/O, no timers: the adapter drives it.

import * as Y from 'yjs'
import { assert } from '../kit/assert.ts'
import { LimitExceededError } from '../kit/errors.ts'
import { DOCS_GOSSIP_FRAME_BYTES_MAX, DOCS_SYNC_PARTS_MAX, DOCS_SYNC_UPDATE_BYTES_MAX, encodeGossipUpdate } from './messages.ts'
import type { SyncBody } from './messages.ts'

/**
 * Peers tracked per document (1,024). A document is edited by a team of agents, not a
 * crowd; each peer costs a map entry and a sync exchange after every reconnect.
 */
export const DOCS_PEERS_MAX = 1024

/** What the core asks its driver to do, in this order (SPEC docs, "Effect ordering"). */
export type DocEffect =
  /** Append this update to the document's log in the database; `local` when this node made it. */
  | { kind: 'persist', update: Uint8Array, local?: true }
  /** Publish this frame on the document's topic (after the persist before it completes). */
  | { kind: 'publish', frame: Uint8Array }
  /** Run a sync exchange with `peer` over a direct stream. */
  | { kind: 'sync', peer: string, reason: string }
  /** `caughtUp` changed. */
  | { kind: 'status', caughtUp: boolean }

/** One sync exchange with one peer, from this side's point of view. */
export interface SyncSession {
  readonly peer: string
  readonly role: 'initiator' | 'responder'
  gotStep1: boolean
  gotStep2: boolean
  /** True when this side has nothing more to send or receive. */
  /** Step 2 parts received in this exchange (SPEC docs S8). */
  parts: number
  done: boolean
}

interface PeerEntry { synced: boolean, sessions: number }

/** A step 2 that cannot be sent: one writer's history alone is over the frame bound (SPEC docs S8). */
export class SyncTooLargeError extends LimitExceededError {
  override name = 'SyncTooLargeError'
}

/** Counters of what the core applied and refused. */
export interface ReplicaStats { remoteUpdates: number, rejectedUpdates: number, localUpdates: number, oversizedLocalUpdates: number }

/** Options of a replica. */
export interface DocReplicaOptions {
  name: string
  /** The document; a fresh Y.Doc when omitted. */
  doc?: Y.Doc
  gossipFrameBytesMax?: number
  /** Largest step 2 update sent in one frame; a larger one is split by writer (SPEC docs S8). */
  syncUpdateBytesMax?: number
  /**
   * The frames that answer a peer's step 1 in place of the Yjs diff (a restricted document
   * answers with its writers' signed updates, SPEC docs W3); the last must be a step 2.
   */
  stepTwo?: (stateVector: Uint8Array) => SyncBody[]
  peersMax?: number
}

/** The pure state machine of one open document (SPEC docs, "Core"). */
export class DocReplica {
  readonly name: string
  readonly doc: Y.Doc
  /** Transaction origin of updates that came from peers: never re-broadcast (SPEC docs D3). */
  readonly remoteOrigin: object
  /** Transaction origin of updates restored from the database: neither persisted nor broadcast. */
  readonly loadOrigin: object
  readonly #gossipFrameBytesMax: number
  readonly #syncUpdateBytesMax: number
  readonly #stepTwo: ((stateVector: Uint8Array) => SyncBody[]) | undefined
  readonly #peersMax: number
  readonly #peers = new Map<string, PeerEntry>()
  #effects: DocEffect[] = []
  #lastCaughtUp: boolean
  #attached = true
  readonly #stats: ReplicaStats = { remoteUpdates: 0, rejectedUpdates: 0, localUpdates: 0, oversizedLocalUpdates: 0 }
  /** Called after effects were queued outside a call (a local edit); the driver drains. */
  onEffects: (() => void) | undefined
  readonly #onUpdate: (update: Uint8Array, origin: unknown) => void

  constructor (options: DocReplicaOptions) {
    this.name = options.name
    this.doc = options.doc ?? new Y.Doc()
    this.remoteOrigin = { docs: 'remote', name: options.name }
    this.loadOrigin = { docs: 'load', name: options.name }
    this.#gossipFrameBytesMax = options.gossipFrameBytesMax ?? DOCS_GOSSIP_FRAME_BYTES_MAX
    this.#syncUpdateBytesMax = options.syncUpdateBytesMax ?? DOCS_SYNC_UPDATE_BYTES_MAX
    this.#stepTwo = options.stepTwo
    this.#peersMax = options.peersMax ?? DOCS_PEERS_MAX
    this.#lastCaughtUp = this.caughtUp()
    this.#onUpdate = (update, origin) => { this.#updated(update, origin) }
    this.doc.on('update', this.#onUpdate)
  }

  /** Restore stored state (snapshot or logged update); produces no effects (SPEC docs P3). */
  load (update: Uint8Array): void {
    Y.applyUpdate(this.doc, update, this.loadOrigin)
  }

  /** A peer that has the document open. Returns false when DOCS_PEERS_MAX is reached. */
  addPeer (peer: string): boolean {
    if (this.#peers.has(peer)) return true
    if (this.#peers.size >= this.#peersMax) return false
    this.#peers.set(peer, { synced: false, sessions: 0 })
    this.#statusChanged()
    return true
  }

  /** The peer left the document or disconnected; it must sync again when it returns. */
  removePeer (peer: string): void {
    if (this.#peers.delete(peer)) this.#statusChanged()
  }

  /** Ids of the peers known to have the document open. */
  peers (): string[] { return [...this.#peers.keys()] }

  /** True when a sync with `peer` has completed since it was (re)added. */
  isSynced (peer: string): boolean { return this.#peers.get(peer)?.synced === true }

  /** True when a sync exchange with `peer` is running. */
  isSyncing (peer: string): boolean { return (this.#peers.get(peer)?.sessions ?? 0) > 0 }

  /**
   * SPEC docs D5: completed sync step 2 with every currently known peer of the document,
   * and no received update is waiting for missing dependencies.
   */
  caughtUp (): boolean {
    for (const entry of this.#peers.values()) if (!entry.synced) return false
    return !this.hasMissingDependencies()
  }

  /** True when Yjs holds updates whose causal predecessors have not arrived. */
  hasMissingDependencies (): boolean {
    return this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null
  }

  /** Start a sync as initiator: returns the session and the step 1 to send (SPEC docs S1). */
  beginSync (peer: string): { session: SyncSession, frames: SyncBody[] } {
    this.addPeer(peer)
    const session = this.#openSession(peer, 'initiator')
    return { session, frames: [{ kind: 'step1', stateVector: Y.encodeStateVector(this.doc) }] }
  }

  /** Accept a sync stream as responder (SPEC docs S2). */
  acceptSync (peer: string): SyncSession {
    this.addPeer(peer)
    return this.#openSession(peer, 'responder')
  }

  /**
   * Step one received sync frame; returns the frames to send back. Throws DecodeError-like
   * errors from Yjs on a malformed update (the caller aborts the stream).
   */
  receiveSync (session: SyncSession, body: SyncBody): SyncBody[] {
    assert(!session.done, 'no frames after a session is done')
    const replies: SyncBody[] = []
    switch (body.kind) {
      case 'step1': {
        if (session.gotStep1) throw new LimitExceededError(`Sync with ${session.peer}: a second step 1 in one exchange`)
        session.gotStep1 = true
        replies.push(...(this.#stepTwo ?? this.#step2.bind(this))(body.stateVector))
        // The responder asks back in the same breath (y-protocols' client/server model).
        if (session.role === 'responder') replies.push({ kind: 'step1', stateVector: Y.encodeStateVector(this.doc) })
        break
      }
      case 'update': {
        // SPEC docs S8: a part of the peer's step 2, before the step 2 that ends it.
        if (session.gotStep2) throw new LimitExceededError(`Sync with ${session.peer}: a step 2 part after the step 2`)
        if (++session.parts > DOCS_SYNC_PARTS_MAX) throw new LimitExceededError(`Sync with ${session.peer}: more than DOCS_SYNC_PARTS_MAX (${DOCS_SYNC_PARTS_MAX}) step 2 parts in one exchange`)
        this.#applyRemote(body.update)
        break
      }
      case 'step2': {
        if (session.gotStep2) throw new LimitExceededError(`Sync with ${session.peer}: a second step 2 in one exchange`)
        this.#applyRemote(body.update)
        session.gotStep2 = true
        const entry = this.#peers.get(session.peer)
        if (entry !== undefined) entry.synced = true
        break
      }
      case 'awareness':
      case 'not-open':
      case 'signed': // checked and applied by the driver before it steps the session (SPEC docs W3)
        break
    }
    session.done = body.kind === 'not-open' || (session.role === 'initiator' ? session.gotStep1 && session.gotStep2 : session.gotStep2)
    if (session.done) this.#closeSession(session)
    this.#statusChanged()
    return replies
  }

  /**
   * The step 2 for a peer at `stateVector` (SPEC docs S8): one frame when it fits
   * `syncUpdateBytesMax`; otherwise one `update` part per writer (client id) with anything to
   * send, then a step 2 holding only the delete set. Each part is a valid Yjs update on its own
   * (the state vector passed for it holds every other writer at its current clock), so the
   * receiver applies parts as they come. A single writer's history over the bound still fails,
   * as LimitExceededError naming it.
   */
  #step2 (stateVector: Uint8Array): SyncBody[] {
    const whole = Y.encodeStateAsUpdate(this.doc, stateVector)
    if (whole.byteLength <= this.#syncUpdateBytesMax) return [{ kind: 'step2', update: whole }]
    const theirs = Y.decodeStateVector(stateVector)
    const ours: Map<number, number> = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    const parts: SyncBody[] = []
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    const flush = (): void => {
      if (pending.length === 0) return
      parts.push({ kind: 'update', update: pending.length === 1 ? pending[0]! : Y.mergeUpdates(pending) })
      pending = []
      pendingBytes = 0
    }
    for (const [client, clock] of ours) {
      if ((theirs.get(client) ?? 0) >= clock) continue
      const only = new Map<number, number>(ours)
      only.set(client, theirs.get(client) ?? 0)
      const part = Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(only))
      if (part.byteLength > this.#syncUpdateBytesMax) throw new SyncTooLargeError(`Cannot sync document "${this.name}": writer ${client}'s history alone is ${part.byteLength} bytes, over the ${this.#syncUpdateBytesMax} one sync frame carries`)
      if (pendingBytes + part.byteLength > this.#syncUpdateBytesMax) flush()
      pending.push(part)
      pendingBytes += part.byteLength
    }
    flush()
    if (parts.length > DOCS_SYNC_PARTS_MAX) throw new SyncTooLargeError(`Cannot sync document "${this.name}": it needs ${parts.length} step 2 parts, over DOCS_SYNC_PARTS_MAX (${DOCS_SYNC_PARTS_MAX})`)
    // The delete set alone: every writer at our clock, so no structs travel twice.
    parts.push({ kind: 'step2', update: Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(ours)) })
    return parts
  }

  /** The exchange broke off (stream error, timeout, peer gone) before it was done. */
  failSync (session: SyncSession): void {
    if (session.done) return
    session.done = true
    this.#closeSession(session)
  }

  /**
   * Apply a live update received on the topic. A malformed update is counted and
   * rethrown; missing dependencies ask for a sync with the sender (SPEC docs D4).
   */
  receiveUpdate (from: string, update: Uint8Array): void {
    this.#applyRemote(update)
    if (this.hasMissingDependencies()) {
      // The publisher may be several mesh hops away; ask a neighbour that has the document.
      const target = this.#peers.has(from) ? from : this.#peers.keys().next().value
      if (target !== undefined && !this.isSyncing(target)) this.#effects.push({ kind: 'sync', peer: target, reason: 'update with missing dependencies' })
    }
    this.#statusChanged()
  }

  /** Take the queued effects, oldest first. */
  drain (): DocEffect[] {
    const effects = this.#effects
    this.#effects = []
    return effects
  }

  /** Stop listening to the document (on close); the Y.Doc stays usable locally. */
  detach (): void {
    if (!this.#attached) return
    this.#attached = false
    this.doc.off('update', this.#onUpdate)
  }

  /** Counters for metrics and tests. */
  stats (): ReplicaStats { return { ...this.#stats } }

  #applyRemote (update: Uint8Array): void {
    // Persist the received bytes themselves (SPEC docs D3): with our 'update' listener off,
    // Yjs skips re-encoding the applied update, which is most of the cost of a big step 2.
    if (this.#attached) this.doc.off('update', this.#onUpdate)
    try {
      Y.applyUpdate(this.doc, update, this.remoteOrigin)
      this.#stats.remoteUpdates++
    } catch (err) {
      this.#stats.rejectedUpdates++
      throw err
    } finally {
      if (this.#attached) this.doc.on('update', this.#onUpdate)
    }
    this.#effects.push({ kind: 'persist', update })
    this.onEffects?.()
  }

  #updated (update: Uint8Array, origin: unknown): void {
    if (origin === this.loadOrigin || origin === this.remoteOrigin) return
    // SPEC docs E1: persist first, then publish, so a published update is never lost locally.
    this.#effects.push({ kind: 'persist', update, local: true })
    this.#stats.localUpdates++
    const frame = encodeGossipUpdate(update)
    if (frame.byteLength <= this.#gossipFrameBytesMax) {
      this.#effects.push({ kind: 'publish', frame })
    } else {
      // SPEC docs D2: too big for the topic; every peer pulls it through a sync exchange.
      this.#stats.oversizedLocalUpdates++
      for (const peer of this.#peers.keys()) this.#effects.push({ kind: 'sync', peer, reason: `local update of ${update.byteLength} bytes exceeds the gossip frame limit` })
    }
    this.onEffects?.()
  }

  #openSession (peer: string, role: SyncSession['role']): SyncSession {
    const entry = this.#peers.get(peer)
    if (entry !== undefined) entry.sessions++
    return { peer, role, gotStep1: false, gotStep2: false, parts: 0, done: false }
  }

  #closeSession (session: SyncSession): void {
    const entry = this.#peers.get(session.peer)
    if (entry !== undefined && entry.sessions > 0) entry.sessions--
  }

  #statusChanged (): void {
    const now = this.caughtUp()
    if (now !== this.#lastCaughtUp) {
      this.#lastCaughtUp = now
      this.#effects.push({ kind: 'status', caughtUp: now })
    }
  }
}
