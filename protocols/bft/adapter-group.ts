// Driver of one joined BFT group: runs the pure core on a clock's tick timer and on received
// frames, applies its effects in SPEC order (durable write before any message that follows it,
// commits in order) and turns `propose()` calls into items and commits back into decisions.
// It sees only ports (a Clock, a KvStore-backed BftStore, a frame sender, a nonce source), so the
// node runs it on real time and LevelDB and the simulator runs the same code on virtual ones.

import { bytesEqual } from '../kit/bytes.ts'
import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import type { Clock, TimerHandle } from '../kit/clock.ts'
import { LimitExceededError, NotRunningError, TimeoutError, describeError } from '../kit/errors.ts'
import { explainAbort } from '../kit/adapter-abort.ts'
import { BftCore, COMMITTED_HEIGHTS_REMEMBERED, itemId } from './core.ts'
import type { BftTimeouts } from './core.ts'
import { verifyDecision } from './certificate.ts'
import { describeEffect } from './effects.ts'
import type { BftEffect, PersistedState } from './effects.ts'
import { CATCHUP_DECISIONS_MAX, ITEM_BYTES_MAX, SUBMIT_ITEMS_MAX, encodeMessage } from './messages.ts'
import { RECENT_DECISIONS_MAX } from './catch-up.ts'
import type { BftMessage, Block, Certificate, Decision, Evidence } from './messages.ts'
import type { Signer, Verifier } from './signing.ts'
import type { BftStore } from './adapter-store.ts'
import { ValidationRejectedError } from './adapter-errors.ts'
import { timed } from '../kit/timing.ts'

/** Real time of one core tick (10 ms): the core's default timeouts assume it (SPEC bft T10). */
export const BFT_TICK_MS = 10
/** Default deadline of `propose()` (30 s). */
export const BFT_PROPOSE_TIMEOUT_MS = 30_000
/** Random bytes in each item, so two proposals of an equal value stay distinct items. */
export const ITEM_NONCE_BYTES = 16
/**
 * An item is valid in blocks at heights [h, h + ITEM_HEIGHTS_VALID] where h is the proposing
 * member's height when it was made (SPEC bft B3): with the core remembering the items of the last
 * COMMITTED_HEIGHTS_REMEMBERED heights, no committed item can be committed again.
 */
export const ITEM_HEIGHTS_VALID = COMMITTED_HEIGHTS_REMEMBERED
/** Serving old log entries to one lagging member: the same height at most once per 50 ms. */
export const LOG_SERVE_INTERVAL_MS = 50
/** Proposals waiting for their commit on one member. */
export const WAITING_PROPOSALS_MAX = 16_384

/** A proposed value: JSON-serialisable or a Uint8Array (DESIGN "Public API"). */
export type BftValue = unknown

/** A committed value with everything `verify` needs: its block and the block's quorum certificate. */
export interface BftDecision {
  groupId: string
  value: BftValue
  /** Log height of the block holding the value. */
  height: number
  /** Position of the value's item in the block. */
  index: number
  block: Block
  certificate: Certificate
}

/** Options of `node.bft.join(name, options)`. */
export interface BftJoinOptions {
  /** Peer ids of every member (this node included); n ≥ 4. Static for the group's lifetime. */
  members: string[]
  /** Application validity (deterministic, synchronous); honest members never commit a value failing it. */
  validate?: (value: BftValue) => boolean
  /** Core timeouts in ticks (SPEC bft T10). */
  timeouts?: Partial<BftTimeouts>
  /** Milliseconds per tick (default BFT_TICK_MS). */
  tickMs?: number
}

/** Options of one `propose()`. */
export interface ProposeOptions { signal?: AbortSignal, timeoutMs?: number }

/** Where a member is, for tests and dashboards. */
export interface BftGroupStatus { height: number, round: number, step: string, pending: number, committedHeight: number, rejected: number, evidence: number }

/** The API of one joined group (`await node.bft.join(...)`). */
export interface BftGroup {
  readonly name: string
  readonly members: readonly string[]
  /** Agree on `value` with the group; resolves once it is committed (durably, on this member). */
  propose (value: BftValue, options?: ProposeOptions): Promise<BftDecision>
  /** Check a decision of THIS group (its name and members): certificate, block hash and value. */
  verify (decision: BftDecision): boolean
  /** The committed hash-chained log (check it with `verifyChain`), heights [fromHeight, …). */
  log (options?: { fromHeight?: number, limit?: number }): Promise<Decision[]>
  /** Equivocation evidence this member stored (bounded). */
  evidence (): Promise<Evidence[]>
  status (): BftGroupStatus
  /** Stop taking part: pending proposals fail with NotRunningError. */
  leave (): Promise<void>
}

/** A decoded item: the value, and the last height whose block may hold it. */
export interface BftItem { value: BftValue, lastHeight: number }

/** Encode a value as one item: `[nonce, value, lastHeight]` in deterministic CBOR. */
export function encodeItem (value: BftValue, options: { nonce: Uint8Array, lastHeight: number }): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = encodeCbor([options.nonce, value, options.lastHeight])
  } catch (err) {
    throw new TypeError(`Cannot propose value: not JSON-serialisable or Uint8Array (${describeError(err)})`)
  }
  return bytes
}

/** Decode an item back to its value; undefined if it is not a well-formed item. */
export function decodeItem (item: Uint8Array): BftItem | undefined {
  let decoded: unknown
  try {
    decoded = decodeCbor(item, { bytesMax: ITEM_BYTES_MAX, what: 'bft item' })
  } catch (err) {
    if (!(err instanceof Error)) throw err
    return undefined
  }
  if (!Array.isArray(decoded) || decoded.length !== 3 || !(decoded[0] instanceof Uint8Array) || decoded[0].byteLength !== ITEM_NONCE_BYTES) return undefined
  const lastHeight = decoded[2]
  if (typeof lastHeight !== 'number' || !Number.isSafeInteger(lastHeight)) return undefined
  return { value: decoded[1], lastHeight }
}

/** SPEC bft B3: an item may sit in a block at `height` only within its window [lastHeight − ITEM_HEIGHTS_VALID, lastHeight]. */
export function itemInWindow (item: BftItem, height: number): boolean {
  return height <= item.lastHeight && item.lastHeight <= height + ITEM_HEIGHTS_VALID
}

/** Which group a decision must belong to: its name and its members. */
export interface BftGroupRef { group: string, members: readonly string[] }

/**
 * Check a decision of group `ref.group` with just its member list: the group name, the
 * certificate (whose precommits sign the group name), the block hash, and that `value` is the
 * item at `index`. Malformed input is `false`, never a throw.
 */
export function verifyBftDecision (decision: BftDecision, ref: BftGroupRef, verifier: Verifier): boolean {
  try {
    if (typeof decision !== 'object' || decision === null || typeof decision.block !== 'object' || decision.block === null) return false
    if (decision.groupId !== ref.group) return false
    if (decision.block.height !== decision.height || !Array.isArray(decision.block.items)) return false
    const item = decision.block.items[decision.index]
    if (!(item instanceof Uint8Array)) return false
    const decoded = decodeItem(item)
    if (decoded === undefined || !bytesEqual(encodeCbor(decoded.value), encodeCbor(decision.value))) return false
    return verifyDecision({ groupId: decision.groupId, block: decision.block, certificate: decision.certificate }, { members: ref.members, verifier, groupId: ref.group }).ok
  } catch (err) {
    // A structurally broken decision (wrong field types, unencodable value) does not verify.
    if (!(err instanceof Error)) throw err
    return false
  }
}

interface Waiter { resolve: (d: BftDecision) => void, reject: (err: unknown) => void }

/** The driver's log port: a libp2p `Logger` satisfies it. */
export interface BftLog {
  (formatter: string, ...args: unknown[]): void
  error: (formatter: string, ...args: unknown[]) => void
}

/** A Byzantine member running the real core: rewrite what it sends (test doubles and the simulator). */
export type OutboundRewrite = (message: BftMessage, recipients: string[], signer: Signer) => Array<{ to: string, message: BftMessage }>

/**
 * Seams for tests and the simulator; never reachable from the public API (not exported from the
 * package index, not in BftJoinOptions).
 */
export interface GroupDriverSeams {
  /** Rewrite what this member sends (see OutboundRewrite). */
  rewrite?: OutboundRewrite
  /** Called with each effect as the driver applies it (after its durable write). */
  observe?: (effect: BftEffect) => void
  /** Checker self-test: send signed messages BEFORE the write that covers them (breaks SPEC bft E1). */
  signBeforePersist?: boolean
  /** Checker self-test: override the core's quorum (see BftCoreOptions.unsafeQuorum). */
  unsafeQuorum?: number
}

/** What the service (or the simulator) hands a group driver: identity, keys and ports. */
export interface GroupDriverParts {
  name: string
  self: string
  signer: Signer
  verifier: Verifier
  store: BftStore
  /** Frames out (`PeerLinks.send`): queued or dropped, never throws, never waits. */
  send: (to: string, frame: Uint8Array) => void
  clock: Clock
  /** `bytes` unpredictable bytes (crypto randomness on a node, a seeded stream in the simulator). */
  nonce: (bytes: number) => Uint8Array
  log: BftLog
  options: BftJoinOptions
  onLeave: () => void
  seams?: GroupDriverSeams | undefined
}

/** What a restarted member loaded from its store (SPEC bft E4). */
export interface RestoredGroup { state: PersistedState | null, head: { height: number, hash: Uint8Array }, recentDecisions: Decision[] }

/** Runs one group's core on a clock and frames. */
export class GroupDriver implements BftGroup {
  readonly name: string
  readonly members: readonly string[]
  readonly #core: BftCore
  readonly #parts: GroupDriverParts
  readonly #seams: GroupDriverSeams
  readonly #validate: (value: BftValue) => boolean
  readonly #others: string[]
  readonly #memberSet: Set<string>
  #timer: TimerHandle | undefined
  #queue: BftEffect[] = []
  #flushing: Promise<void> | undefined
  #waiters = new Map<string, Waiter>()
  #toSubmit: Uint8Array[] = []
  #submitScheduled = false
  #closed = false
  #committedHeight: number
  #rejected = 0
  #evidenceSeen = 0
  #failure: { cause: unknown, why: string } | undefined
  #servedFromLog = new Map<string, { height: number, at: number }>()

  constructor (parts: GroupDriverParts, restored: RestoredGroup) {
    this.#parts = parts
    this.#seams = parts.seams ?? {}
    this.name = parts.name
    this.members = [...parts.options.members].sort()
    this.#memberSet = new Set(this.members)
    this.#others = this.members.filter(m => m !== parts.self)
    const userValidate = parts.options.validate ?? (() => true)
    this.#validate = (value) => {
      try {
        return userValidate(value) === true
      } catch (err) {
        parts.log('validate threw on a value of group %s: %s', parts.name, describeError(err))
        return false
      }
    }
    this.#core = new BftCore({
      groupId: parts.name,
      signer: parts.signer,
      verifier: parts.verifier,
      members: this.members,
      validate: (item, height) => { const decoded = decodeItem(item); return decoded !== undefined && itemInWindow(decoded, height) && this.#validate(decoded.value) },
      timeouts: parts.options.timeouts,
      restore: restored.state === null ? undefined : { state: restored.state, head: restored.head, recentDecisions: restored.recentDecisions },
      ...(this.#seams.unsafeQuorum !== undefined ? { unsafeQuorum: this.#seams.unsafeQuorum } : {})
    })
    this.#committedHeight = restored.head.height
    this.#queue.push(...this.#core.drain())
    this.#schedule()
    this.#timer = parts.clock.setInterval(() => { this.#input('tick', () => { this.#core.tick() }) }, parts.options.tickMs ?? BFT_TICK_MS)
  }

  /** A message from `from` (the connection's authenticated peer). Non-members are dropped and counted by the core. */
  receive (from: string, message: BftMessage): void {
    const heightBefore = this.#core.height
    this.#input(`${message.type} from ${from}`, () => { this.#core.step(from, message) })
    if (!this.#memberSet.has(from) || from === this.#parts.self) return
    if (message.type === 'status' && message.height <= this.#core.head.height - RECENT_DECISIONS_MAX) this.#serveFromLog(from, message.height)
    // Catch-up made progress: ask the same member for the next batch at once (one round trip per
    // CATCHUP_DECISIONS_MAX heights instead of one idle-status period).
    if (message.type === 'decision' && this.#core.height > heightBefore) this.#sendNow(from, { type: 'status', groupId: this.name, height: this.#core.height })
  }

  /**
   * The core keeps only RECENT_DECISIONS_MAX decisions for catch-up; a member further behind
   * (e.g. restarted after a long outage) is served from the durable log, the same height at
   * most once per LOG_SERVE_INTERVAL_MS per member.
   */
  #serveFromLog (to: string, fromHeight: number): void {
    const now = this.#parts.clock.nowMs()
    const last = this.#servedFromLog.get(to)
    if (last !== undefined && last.height === fromHeight && now - last.at < LOG_SERVE_INTERVAL_MS) return
    this.#servedFromLog.set(to, { height: fromHeight, at: now })
    this.#parts.store.log(fromHeight, CATCHUP_DECISIONS_MAX).then((decisions) => {
      if (decisions.length > 0) this.#sendNow(to, { type: 'decision', groupId: this.name, decisions })
    }, (err: unknown) => { this.#parts.log('bft group %s: reading the log for catch-up failed: %s', this.name, describeError(err)) })
  }

  /** Send an unsigned message (status, catch-up decisions) outside the core's effect order. */
  #sendNow (to: string, message: BftMessage): void {
    if (this.#closed || this.#failure !== undefined) return
    this.#parts.send(to, encodeMessage(message))
  }

  async propose (value: BftValue, options: ProposeOptions = {}): Promise<BftDecision> {
    this.#checkOpen()
    if (!this.#validate(value)) throw new ValidationRejectedError(`Cannot propose to group "${this.name}": the value fails this member's validate hook`)
    if (this.#waiters.size >= WAITING_PROPOSALS_MAX) throw new LimitExceededError(`Cannot propose to group "${this.name}": ${this.#waiters.size} proposals already waiting (WAITING_PROPOSALS_MAX)`)
    const item = encodeItem(value, { nonce: this.#parts.nonce(ITEM_NONCE_BYTES), lastHeight: this.#core.height + ITEM_HEIGHTS_VALID })
    if (item.byteLength > ITEM_BYTES_MAX) throw new RangeError(`Cannot propose to group "${this.name}": value encodes to ${item.byteLength} bytes, ITEM_BYTES_MAX is ${ITEM_BYTES_MAX}`)
    const timeoutMs = options.timeoutMs ?? BFT_PROPOSE_TIMEOUT_MS
    const what = `bft propose to "${this.name}"`
    if (options.signal?.aborted === true) throw explainAbort(options.signal.reason, { what, timeoutMs, signal: options.signal })
    // Waiters are keyed by the item's sha256 (items are up to ITEM_BYTES_MAX; keys stay 64 characters).
    const key = itemId(item)
    const committed = Promise.withResolvers<BftDecision>()
    this.#waiters.set(key, committed)
    this.#toSubmit.push(item)
    if (!this.#submitScheduled) { this.#submitScheduled = true; queueMicrotask(() => { this.#submitNow() }) }
    const giveUp = (reason: unknown): void => {
      if (this.#waiters.get(key) !== committed) return
      this.#waiters.delete(key)
      committed.reject(explainAbort(reason, { what, timeoutMs, signal: options.signal }))
    }
    // The deadline runs on the driver's clock (virtual under simulation).
    const deadline = this.#parts.clock.setTimeout(() => { giveUp(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)) }, timeoutMs)
    const onAbort = (): void => { giveUp(options.signal!.reason) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await timed({ peerId: this.#parts.self, operation: 'bft.decide', group: this.name }, () => this.#parts.clock.nowMs(), () => committed.promise)
    } finally {
      deadline.cancel()
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  verify (decision: BftDecision): boolean {
    return verifyBftDecision(decision, { group: this.name, members: this.members }, this.#parts.verifier)
  }

  async log (options: { fromHeight?: number, limit?: number } = {}): Promise<Decision[]> {
    return await this.#parts.store.log(options.fromHeight, options.limit)
  }

  async evidence (): Promise<Evidence[]> {
    return await this.#parts.store.evidence()
  }

  status (): BftGroupStatus {
    return { height: this.#core.height, round: this.#core.round, step: this.#core.currentStep, pending: this.#core.pendingCount, committedHeight: this.#committedHeight, rejected: this.#rejected, evidence: this.#evidenceSeen }
  }

  async leave (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#timer?.cancel()
    this.#timer = undefined
    await this.#flushing
    this.#failWaiters(new NotRunningError(`bft group "${this.name}" was left before the value committed`))
    this.#parts.onLeave()
  }

  #checkOpen (): void {
    if (this.#closed) throw new NotRunningError(`Cannot use bft group "${this.name}": it was left or the node stopped`)
    if (this.#failure !== undefined) throw this.#failedError()
  }

  #failedError (): NotRunningError {
    const failure = this.#failure!
    return new NotRunningError(`bft group "${this.name}" stopped: ${failure.why}: ${describeError(failure.cause)}`, { cause: failure.cause })
  }

  #failWaiters (err: unknown): void {
    const waiters = [...this.#waiters.values()]
    this.#waiters.clear()
    for (const waiter of waiters) waiter.reject(err)
  }

  /**
   * Stop the group for good: a failed durable write (it may not sign without it, SPEC bft E1) or a
   * core that threw (a broken invariant: carrying on could sign from a corrupt state). Waiting
   * proposals fail with NotRunningError naming the cause; the process carries on.
   */
  #stop (why: string, cause: unknown): void {
    if (this.#failure !== undefined) return
    this.#failure = { cause, why }
    this.#timer?.cancel()
    this.#timer = undefined
    this.#queue = []
    this.#parts.log.error('bft group %s stopped: %s: %s', this.name, why, describeError(cause))
    this.#failWaiters(this.#failedError())
  }

  /** Submit every item proposed in this microtask as one batch (SPEC bft B8). */
  #submitNow (): void {
    this.#submitScheduled = false
    const items = this.#toSubmit
    this.#toSubmit = []
    for (let i = 0; i < items.length; i += SUBMIT_ITEMS_MAX) {
      const chunk = items.slice(i, i + SUBMIT_ITEMS_MAX)
      const refused = this.#input('submit', () => { this.#core.submit(chunk) }, (err) => err instanceof LimitExceededError)
      if (refused === undefined) continue
      for (const item of chunk) {
        const key = itemId(item)
        this.#waiters.get(key)?.reject(refused)
        this.#waiters.delete(key)
      }
    }
  }

  /**
   * Run one core input, then queue its effects for the ordered flush. An error `expected` says is
   * the caller's (a full pool) is returned; any other stops the group (see #stop).
   */
  #input (what: string, fn: () => void, expected?: (err: unknown) => boolean): unknown {
    if (this.#closed || this.#failure !== undefined) return undefined // leave() and #stop() already failed every waiter
    let refused: unknown
    try {
      fn()
    } catch (err) {
      if (expected?.(err) !== true) { this.#stop(`its core threw on ${what}`, err); return err }
      refused = err
    }
    const effects = this.#core.drain()
    if (effects.length > 0) { this.#queue.push(...effects); this.#schedule() }
    return refused
  }

  #schedule (): void {
    this.#flushing ??= this.#flush().finally(() => { this.#flushing = undefined; if (this.#queue.length > 0 && this.#failure === undefined) this.#schedule() })
  }

  /**
   * SPEC bft E1–E3 with group commit: everything queued so far is made durable in ONE fsynced
   * batch (new log entries, the latest signing state, new evidence) before any of its messages
   * leaves or any caller is answered. The latest state covers every message signed before it.
   */
  async #flush (): Promise<void> {
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const effects = this.#queue
      this.#queue = []
      let state: PersistedState | null = null
      const decisions: Decision[] = []
      const evidence: Evidence[] = []
      for (const effect of effects) {
        if (effect.type === 'persist') state = effect.state
        else if (effect.type === 'commit') decisions.push(effect.decision)
        else if (effect.type === 'evidence') evidence.push(effect.evidence)
      }
      // Checker self-test only: sending before the write is the bug the simulator must catch.
      const early = this.#seams.signBeforePersist === true
      if (early) for (const effect of effects) if (effect.type === 'broadcast' || effect.type === 'send') this.#apply(effect)
      try {
        await this.#parts.store.write({ state, decisions, evidence })
      } catch (err) {
        this.#stop('durable write failed', err)
        return
      }
      for (const effect of effects) if (!early || (effect.type !== 'broadcast' && effect.type !== 'send')) this.#apply(effect)
    }
  }

  #apply (effect: BftEffect): void {
    this.#seams.observe?.(effect)
    switch (effect.type) {
      case 'persist': return
      case 'broadcast': this.#send(this.#others, effect.message); return
      case 'send': this.#send([effect.to], effect.message); return
      case 'commit': this.#onCommit(effect.decision); return
      case 'evidence':
        this.#evidenceSeen++
        this.#parts.log('bft group %s: %s', this.name, describeEffect(effect))
        return
      case 'reject':
        this.#rejected++
        this.#parts.log('bft group %s: %s', this.name, describeEffect(effect))
    }
  }

  #send (recipients: string[], message: BftMessage): void {
    if (this.#closed) return
    const rewrite = this.#seams.rewrite
    if (rewrite !== undefined) {
      for (const out of rewrite(message, recipients, this.#parts.signer)) this.#parts.send(out.to, encodeMessage(out.message))
      return
    }
    const frame = encodeMessage(message)
    for (const to of recipients) this.#parts.send(to, frame)
  }

  #onCommit (decision: Decision): void {
    this.#committedHeight = decision.block.height
    if (this.#waiters.size === 0) return
    decision.block.items.forEach((item, index) => {
      const key = itemId(item)
      const waiter = this.#waiters.get(key)
      if (waiter === undefined) return
      this.#waiters.delete(key)
      const decoded = decodeItem(item)
      waiter.resolve({ groupId: decision.groupId, value: decoded?.value, height: decision.block.height, index, block: decision.block, certificate: decision.certificate })
    })
  }
}
