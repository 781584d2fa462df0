// Driver of one joined BFT group: runs the pure core on a real tick timer and real frames,
// applies its effects in SPEC order (durable write before any message that follows it, commits
// in order) and turns `propose()` calls into items and commits back into decisions.

import { randomBytes } from 'node:crypto'
import type { Logger } from '@libp2p/interface'
import { bytesEqual, toHex } from '../kit/bytes.ts'
import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { NotRunningError, describeError } from '../kit/errors.ts'
import { deadlineSignal, explainAbort } from '../kit/adapter-abort.ts'
import { BftCore } from './core.ts'
import type { BftTimeouts } from './core.ts'
import { verifyDecision } from './certificate.ts'
import { describeEffect } from './effects.ts'
import type { BftEffect, PersistedState } from './effects.ts'
import { CATCHUP_DECISIONS_MAX, ITEM_BYTES_MAX, SUBMIT_ITEMS_MAX, encodeMessage } from './messages.ts'
import { RECENT_DECISIONS_MAX } from './catch-up.ts'
import type { BftMessage, Block, Certificate, Decision, Evidence } from './messages.ts'
import type { Signer, Verifier } from './signing.ts'
import type { BftStore } from './adapter-store.ts'
import type { PeerLinks } from '../kit/peer-link.ts'
import { ValidationRejectedError } from './adapter-errors.ts'

/** Real time of one core tick (10 ms): the core's default timeouts assume it (SPEC bft T10). */
export const BFT_TICK_MS = 10
/** Default deadline of `propose()` (30 s). */
export const BFT_PROPOSE_TIMEOUT_MS = 30_000
/** Random bytes in each item, so two proposals of an equal value stay distinct items. */
export const ITEM_NONCE_BYTES = 16
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

/** Test doubles only: rewrite what this member sends (a Byzantine member running the real core). */
export type OutboundRewrite = (message: BftMessage, recipients: string[], signer: Signer) => Array<{ to: string, message: BftMessage }>

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
  /** Test doubles only: see OutboundRewrite. */
  rewrite?: OutboundRewrite
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
  /** Check a decision against this group's members: certificate, block hash and value. */
  verify (decision: BftDecision): boolean
  /** The committed hash-chained log (check it with `verifyChain`), heights [fromHeight, …). */
  log (options?: { fromHeight?: number, limit?: number }): Promise<Decision[]>
  /** Equivocation evidence this member stored (bounded). */
  evidence (): Promise<Evidence[]>
  status (): BftGroupStatus
  /** Stop taking part: pending proposals fail with NotRunningError. */
  leave (): Promise<void>
}

/** Encode a value as one item: `[nonce, value]` in deterministic CBOR. */
export function encodeItem (value: BftValue): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = encodeCbor([randomBytes(ITEM_NONCE_BYTES), value])
  } catch (err) {
    throw new TypeError(`Cannot propose value: not JSON-serialisable or Uint8Array (${describeError(err)})`)
  }
  return bytes
}

/** Decode an item back to its value; undefined if it is not a well-formed item. */
export function decodeItem (item: Uint8Array): { value: BftValue } | undefined {
  let decoded: unknown
  try {
    decoded = decodeCbor(item, { bytesMax: ITEM_BYTES_MAX, what: 'bft item' })
  } catch (err) {
    if (!(err instanceof Error)) throw err
    return undefined
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || !(decoded[0] instanceof Uint8Array) || decoded[0].byteLength !== ITEM_NONCE_BYTES) return undefined
  return { value: decoded[1] }
}

/** Check a decision with just the member list: certificate, block hash, and that `value` is the item at `index`. Malformed input is `false`, never a throw. */
export function verifyBftDecision (decision: BftDecision, members: readonly string[], verifier: Verifier): boolean {
  try {
    if (typeof decision !== 'object' || decision === null || typeof decision.block !== 'object' || decision.block === null) return false
    if (decision.block.height !== decision.height || !Array.isArray(decision.block.items)) return false
    const item = decision.block.items[decision.index]
    if (!(item instanceof Uint8Array)) return false
    const decoded = decodeItem(item)
    if (decoded === undefined || !bytesEqual(encodeCbor(decoded.value), encodeCbor(decision.value))) return false
    return verifyDecision({ groupId: decision.groupId, block: decision.block, certificate: decision.certificate }, { members, verifier, groupId: decision.groupId }).ok
  } catch (err) {
    // A structurally broken decision (wrong field types, unencodable value) does not verify.
    if (!(err instanceof Error)) throw err
    return false
  }
}

interface Waiter { resolve: (d: BftDecision) => void, reject: (err: unknown) => void }

/** What the service hands a group driver. */
export interface GroupDriverParts {
  name: string
  self: string
  signer: Signer
  verifier: Verifier
  store: BftStore
  links: PeerLinks
  log: Logger
  options: BftJoinOptions
  onLeave: () => void
}

/** Runs one group's core on real time and streams. */
export class GroupDriver implements BftGroup {
  readonly name: string
  readonly members: readonly string[]
  readonly #core: BftCore
  readonly #parts: GroupDriverParts
  readonly #validate: (value: BftValue) => boolean
  readonly #others: string[]
  #timer: NodeJS.Timeout | undefined
  #queue: BftEffect[] = []
  #flushing: Promise<void> | undefined
  #waiters = new Map<string, Waiter>()
  #toSubmit: Uint8Array[] = []
  #submitScheduled = false
  #closed = false
  #committedHeight: number
  #rejected = 0
  #evidenceSeen = 0
  #failure: unknown
  #servedFromLog = new Map<string, { height: number, at: number }>()

  constructor (parts: GroupDriverParts, restored: { state: PersistedState | null, head: { height: number, hash: Uint8Array }, recentDecisions: Decision[] }) {
    this.#parts = parts
    this.name = parts.name
    this.members = [...parts.options.members].sort()
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
      validate: (item) => { const decoded = decodeItem(item); return decoded !== undefined && this.#validate(decoded.value) },
      timeouts: parts.options.timeouts,
      restore: restored.state === null ? undefined : { state: restored.state, head: restored.head, recentDecisions: restored.recentDecisions }
    })
    this.#committedHeight = restored.head.height
    this.#queue.push(...this.#core.drain())
    this.#schedule()
    this.#timer = setInterval(() => { this.#input(() => { this.#core.tick() }) }, parts.options.tickMs ?? BFT_TICK_MS)
  }

  /** A frame from `from` (the connection's authenticated peer). */
  receive (from: string, message: BftMessage): void {
    const heightBefore = this.#core.height
    this.#input(() => { this.#core.step(from, message) })
    if (!this.members.includes(from) || from === this.#parts.self) return
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
    const now = Date.now()
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
    this.#parts.links.send(to, encodeMessage(message))
  }

  async propose (value: BftValue, options: ProposeOptions = {}): Promise<BftDecision> {
    this.#checkOpen()
    if (!this.#validate(value)) throw new ValidationRejectedError(`Cannot propose to group "${this.name}": the value fails this member's validate hook`)
    if (this.#waiters.size >= WAITING_PROPOSALS_MAX) throw new NotRunningError(`Cannot propose to group "${this.name}": ${this.#waiters.size} proposals already waiting (WAITING_PROPOSALS_MAX)`)
    const item = encodeItem(value)
    if (item.byteLength > ITEM_BYTES_MAX) throw new RangeError(`Cannot propose to group "${this.name}": value encodes to ${item.byteLength} bytes, ITEM_BYTES_MAX is ${ITEM_BYTES_MAX}`)
    const timeoutMs = options.timeoutMs ?? BFT_PROPOSE_TIMEOUT_MS
    const signal = deadlineSignal(timeoutMs, options.signal)
    if (signal.aborted) throw explainAbort(signal.reason, { what: `bft propose to "${this.name}"`, timeoutMs, signal: options.signal })
    const key = toHex(item)
    const committed = Promise.withResolvers<BftDecision>()
    this.#waiters.set(key, committed)
    this.#toSubmit.push(item)
    if (!this.#submitScheduled) { this.#submitScheduled = true; queueMicrotask(() => { this.#submitNow() }) }
    const onAbort = (): void => { this.#waiters.delete(key); committed.reject(explainAbort(signal.reason, { what: `bft propose to "${this.name}"`, timeoutMs, signal: options.signal })) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await committed.promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  verify (decision: BftDecision): boolean {
    return typeof decision === 'object' && decision !== null && decision.groupId === this.name && verifyBftDecision(decision, this.members, this.#parts.verifier)
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
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#flushing
    for (const waiter of this.#waiters.values()) waiter.reject(new NotRunningError(`bft group "${this.name}" was left before the value committed`))
    this.#waiters.clear()
    this.#parts.onLeave()
  }

  #checkOpen (): void {
    if (this.#closed) throw new NotRunningError(`Cannot use bft group "${this.name}": it was left or the node stopped`)
    if (this.#failure !== undefined) throw new NotRunningError(`bft group "${this.name}" stopped after a storage failure: ${describeError(this.#failure)}`)
  }

  /** Submit every item proposed in this microtask as one batch (SPEC bft B8). */
  #submitNow (): void {
    this.#submitScheduled = false
    const items = this.#toSubmit
    this.#toSubmit = []
    for (let i = 0; i < items.length; i += SUBMIT_ITEMS_MAX) {
      const chunk = items.slice(i, i + SUBMIT_ITEMS_MAX)
      try {
        this.#input(() => { this.#core.submit(chunk) })
      } catch (err) {
        for (const item of chunk) {
          const key = toHex(item)
          this.#waiters.get(key)?.reject(err)
          this.#waiters.delete(key)
        }
      }
    }
  }

  /** Run one core input, then queue its effects for the ordered flush. */
  #input (fn: () => void): void {
    if (this.#closed || this.#failure !== undefined) return
    try {
      fn()
    } finally {
      const effects = this.#core.drain()
      if (effects.length > 0) { this.#queue.push(...effects); this.#schedule() }
    }
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
    while (this.#queue.length > 0) {
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
      try {
        await this.#parts.store.write({ state, decisions, evidence })
      } catch (err) {
        // Without durable state we may not sign or send: stop this group (SPEC bft E1).
        this.#failure = err
        clearInterval(this.#timer)
        this.#parts.log.error('bft group %s: durable write failed, group stopped: %s', this.name, describeError(err))
        for (const waiter of this.#waiters.values()) waiter.reject(new NotRunningError(`bft group "${this.name}" stopped: durable write failed: ${describeError(err)}`, { cause: err }))
        this.#waiters.clear()
        this.#queue = []
        return
      }
      for (const effect of effects) this.#apply(effect)
    }
  }

  #apply (effect: BftEffect): void {
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
    const rewrite = this.#parts.options.rewrite
    if (rewrite !== undefined) {
      for (const out of rewrite(message, recipients, this.#parts.signer)) this.#parts.links.send(out.to, encodeMessage(out.message))
      return
    }
    const frame = encodeMessage(message)
    for (const to of recipients) this.#parts.links.send(to, frame)
  }

  #onCommit (decision: Decision): void {
    this.#committedHeight = decision.block.height
    if (this.#waiters.size === 0) return
    decision.block.items.forEach((item, index) => {
      const key = toHex(item)
      const waiter = this.#waiters.get(key)
      if (waiter === undefined) return
      this.#waiters.delete(key)
      const decoded = decodeItem(item)
      waiter.resolve({ groupId: decision.groupId, value: decoded?.value, height: decision.block.height, index, block: decision.block, certificate: decision.certificate })
    })
  }
}
