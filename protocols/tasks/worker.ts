// `node.tasks.work()`: claims up to its free slots, runs the handler with a lease context, renews
// every held lease in one request per interval, and completes or fails (SPEC tasks "Node wiring").

import type { Logger } from '@libp2p/interface'
import type { Clock } from '../kit/clock.ts'
import { sleep } from '../kit/clock.ts'
import { AbortedError, describeError } from '../kit/errors.ts'
import type { Payload } from '../kit/payload.ts'
import type { ClaimedTask, GateFunction, WorkContext, WorkHandler, WorkOptions, WorkerHandle } from './api.ts'
import { StaleLeaseError } from './errors.ts'
import { CLAIM_TASKS_MAX, INFLIGHT_PER_WORKER_MAX, TASK_INPUT_BYTES_MAX } from './messages.ts'
import { safePayload } from './queue.ts'
import type { QueueHandle } from './queue.ts'

/** How often a worker checks whether its leases are due for renewal (a renewal goes out every leaseMs/3). */
const RENEW_CHECK_MS = 100
/**
 * Claims one worker keeps in flight: a slot freed while a claim is out is claimed at once rather
 * than after that claim returns (each claim asks only for slots no other claim asked for).
 */
const CLAIMS_IN_FLIGHT_MAX = 4
/**
 * Tasks a pull worker holds claimed beyond its running ones, as a multiple of its concurrency: a
 * finished handler starts the next task at once instead of after a claim's round trip and commit.
 * The held leases are renewed like running ones; a stopped or dead worker's held tasks return to
 * the queue when their leases end, like its running ones. Bid workers and gates hold none (their
 * leases are awarded, or judged one result at a time).
 */
const PREFETCH_PER_SLOT = 1
/** Calls for bids a worker answers at once (each runs the bid function). */
const BIDS_IN_FLIGHT_MAX = 64

interface Running { task: ClaimedTask, abort: AbortController }

/** A running worker (`node.tasks.work`): claims, runs, renews, completes or fails. */
export class WorkerImpl implements WorkerHandle {
  queue: QueueHandle | undefined
  readonly #opening: Promise<QueueHandle>
  readonly #handler: WorkHandler
  readonly #options: WorkOptions
  readonly #clock: Clock
  readonly #log: Logger
  readonly #running = new Map<string, Running>()
  /**
   * Tasks whose handler is done and whose result is not answered yet: a renewal still lists their
   * leases (not adopted again), and keeps them alive until the result lands.
   */
  readonly #finishing = new Map<string, number>()
  /** The lease length of the last task this worker got: an idle worker renews at its pace to learn of leases it never saw. */
  #lastLeaseMs: number | undefined
  /** Claimed tasks waiting for a slot (PREFETCH_PER_SLOT), oldest first. */
  readonly #held: ClaimedTask[] = []
  readonly #stop = new AbortController()
  #loops: Promise<void> | undefined
  #bidsInFlight = 0
  readonly #counters = { completed: 0, failed: 0, lost: 0 }
  /** Set by `queue.gate`: this worker claims validation leases and judges results. */
  validator: GateFunction | undefined
  onStop: (() => void) | undefined

  constructor (queue: Promise<QueueHandle>, handler: WorkHandler, options: WorkOptions, clock: Clock, log: Logger) {
    this.#opening = queue
    this.ready = queue.then(() => undefined)
    this.ready.catch(() => undefined) // reported through `ready` and the log; not an unhandled rejection
    this.#handler = handler
    this.#options = options
    this.#clock = clock
    this.#log = log
    const c = options.concurrency ?? 1
    if (!(Number.isInteger(c) && c >= 1 && c <= CLAIM_TASKS_MAX * 4)) throw new RangeError(`Invalid concurrency ${String(options.concurrency)}: expected an integer in [1, ${CLAIM_TASKS_MAX * 4}]`)
  }

  readonly ready: Promise<void>

  start (): void {
    this.#loops = (async () => {
      try {
        this.queue = await this.#opening
        this.queue.announceSlots(this, this.#capacity)
      } catch (err) {
        this.#log.error('worker could not open its queue: %s', describeError(err))
        return
      }
      await Promise.all([this.#claimLoop(), this.#renewLoop()])
    })()
  }

  stats (): { completed: number, failed: number, lost: number, running: number } { return { ...this.#counters, running: this.#running.size } }

  async stop (): Promise<void> {
    if (!this.#stop.signal.aborted) this.#stop.abort(new AbortedError('worker stopped'))
    for (const r of this.#running.values()) r.abort.abort(new AbortedError('worker stopped'))
    await this.#loops
    this.queue?.announceSlots(this, 0)
    this.onStop?.()
  }

  get #concurrency (): number { return this.#options.concurrency ?? 1 }
  /** Leases this worker may hold: its slots plus the prefetched tasks (bounded by what one worker may hold). */
  get #capacity (): number {
    const prefetch = this.#options.bid === undefined && this.validator === undefined ? PREFETCH_PER_SLOT * this.#concurrency : 0
    return Math.min(INFLIGHT_PER_WORKER_MAX, this.#concurrency + prefetch)
  }

  /** A claimed task runs now when a slot is free, else waits in the held list. */
  #take (q: QueueHandle, task: ClaimedTask): void {
    this.#lastLeaseMs = task.leaseMs
    // a pushed lease may reach this worker twice (from two members): one run per lease
    const known = this.#running.get(task.taskId)?.task ?? this.#held.find((t) => t.taskId === task.taskId)
    if (known !== undefined && known.token === task.token) return
    if (this.#running.size < this.#concurrency && !this.#stop.signal.aborted) this.#run(q, task)
    else this.#held.push(task)
  }

  async #claimLoop (): Promise<void> {
    const q = this.queue!
    const signal = this.#stop.signal
    const inFlight = new Set<Promise<void>>()
    /** Slots asked for by claims in flight: running + reserved never exceeds the concurrency. */
    let reserved = 0
    while (!signal.aborted) {
      const free = this.#capacity - this.#running.size - this.#held.length - reserved
      if (free <= 0 || inFlight.size >= CLAIMS_IN_FLIGHT_MAX) { await Promise.race([this.#slotFreed(), ...inFlight]); continue }
      const max = Math.min(free, CLAIM_TASKS_MAX)
      reserved += max
      const claim = (async () => {
        let tasks: ClaimedTask[] = []
        try {
          tasks = await q.claim({ max, waitMs: this.#options.pollMs ?? 5_000, capability: this.#options.capability, kind: this.validator !== undefined ? 'validate' : 'work', signal })
        } catch (err) {
          reserved -= max
          if (signal.aborted) return
          this.#log('claim on %s failed: %s', q.name, describeError(err))
          await sleep(this.#clock, 250, signal).catch(() => undefined) // stopped: the loop condition ends it
          return
        }
        reserved -= max
        for (const t of tasks) this.#take(q, t)
      })()
      inFlight.add(claim)
      void claim.finally(() => { inFlight.delete(claim) })
    }
    await Promise.all(inFlight)
  }

  #slotWaiters: Array<() => void> = []
  async #slotFreed (): Promise<void> {
    if (this.#stop.signal.aborted) return
    await new Promise<void>((resolve) => {
      const onAbort = (): void => { resolve() }
      this.#slotWaiters.push(() => { this.#stop.signal.removeEventListener('abort', onAbort); resolve() })
      this.#stop.signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  #run (q: QueueHandle, task: ClaimedTask): void {
    const abort = new AbortController()
    this.#running.set(task.taskId, { task, abort })
    const ctx: WorkContext = { taskId: task.taskId, attempt: task.attempt, token: task.token, signal: abort.signal, progress: (note) => { if (note !== undefined) this.#log('task %s: %s', task.taskId, note) } }
    if (task.feedback !== undefined) ctx.feedback = task.feedback
    // The slot frees once the handler is done, not once its result committed: the next claim
    // leaves behind the result on the same link, so the member batches both into one proposal
    // (in order: the result frees the lease the claim may take).
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#running.delete(task.taskId)
      const next = this.#held.shift()
      if (next !== undefined && !this.#stop.signal.aborted) this.#run(q, next)
      for (const w of this.#slotWaiters.splice(0)) w()
    }
    void (async () => {
      try {
        if (this.validator !== undefined) {
          const full = await q.get(task.taskId)
          const verdict = await this.validator(task.output ?? null, full!)
          if (abort.signal.aborted) return
          await q.verdict(task.taskId, task.token, verdict === true ? { accept: true } : verdict === false ? { accept: false, feedback: 'rejected by the gate' } : { accept: false, feedback: verdict.reject, final: verdict.final })
          this.#counters.completed++
          return
        }
        let output: Payload
        try {
          output = await this.#handler(task.input, ctx)
        } catch (err) {
          if (abort.signal.aborted) return
          const e = err instanceof Error ? err : new Error(String(err))
          const retryable = !(this.#options.nonRetryableErrors ?? []).includes(e.name)
          const sent = q.fail(task.taskId, task.token, e, { retryable })
          this.#finishing.set(task.taskId, task.token)
          release()
          await sent
          this.#counters.failed++
          return
        }
        if (abort.signal.aborted) return
        const sent = q.complete(task.taskId, task.token, output ?? null)
        this.#finishing.set(task.taskId, task.token)
        release()
        await sent
        this.#counters.completed++
      } catch (err) {
        if (err instanceof StaleLeaseError) this.#counters.lost++
        this.#log('task %s on %s: %s', task.taskId, q.name, describeError(err))
      } finally {
        if (this.#finishing.get(task.taskId) === task.token) this.#finishing.delete(task.taskId)
        release()
      }
    })()
  }

  /** One renewal per interval carrying every held lease; lost or canceled leases abort their handlers. */
  async #renewLoop (): Promise<void> {
    const q = this.queue!
    const signal = this.#stop.signal
    let lastRenewMs = this.#clock.nowMs()
    while (!signal.aborted) {
      // a short check interval, so a task started while idle is renewed at its own lease's pace
      await sleep(this.#clock, RENEW_CHECK_MS, signal).catch(() => undefined) // stopped: the loop condition ends it
      // an idle worker that has had work renews too: a claim answered by a member that then died
      // leaves leases this worker never saw, and the renewal's answer names them (adopted below)
      if (signal.aborted || (this.#running.size + this.#held.length + this.#finishing.size === 0 && this.#lastLeaseMs === undefined)) { lastRenewMs = this.#clock.nowMs(); continue }
      const leaseMs = Math.min(this.#lastLeaseMs ?? Infinity, ...[...this.#running.values()].map((r) => r.task.leaseMs), ...this.#held.map((t) => t.leaseMs))
      if (this.#clock.nowMs() - lastRenewMs < Math.max(RENEW_CHECK_MS, Math.floor(leaseMs / 3))) continue
      lastRenewMs = this.#clock.nowMs()
      const held = [...this.#running.values()].map((r) => ({ taskId: r.task.taskId, token: r.task.token }))
      for (const t of this.#held) held.push({ taskId: t.taskId, token: t.token })
      for (const [taskId, token] of this.#finishing) if (!this.#running.has(taskId)) held.push({ taskId, token })
      try {
        const r = await q.renewAll(held)
        for (const id of [...r.lost, ...r.canceled]) {
          const waiting = this.#held.findIndex((t) => t.taskId === id)
          if (waiting >= 0) { this.#held.splice(waiting, 1); this.#counters.lost++ }
          const run = this.#running.get(id)
          if (run !== undefined) { this.#counters.lost++; run.abort.abort(new StaleLeaseError(`Lease on task ${id} ${r.canceled.includes(id) ? 'ended: the task was canceled' : 'was lost'}`, { reason: 'not-leased', taskId: id })) }
        }
        this.#adopt(q, r.leases ?? [], held)
      } catch (err) {
        this.#log('renew on %s failed: %s', q.name, describeError(err))
      }
    }
  }

  /**
   * Leases the queue holds for this worker that it never received (their claim's answer was lost
   * with a member): their tasks are read and run like claimed ones, rather than left to expire and
   * count against this worker's breaker.
   */
  #adopt (q: QueueHandle, leases: Array<{ taskId: string, attempt: number, token: number, kind: string }>, listed: Array<{ taskId: string }>): void {
    const known = new Set(listed.map((l) => l.taskId))
    for (const l of leases) {
      if (known.has(l.taskId) || l.kind !== (this.validator !== undefined ? 'validate' : 'work') || this.#stop.signal.aborted) continue
      if (this.#running.has(l.taskId) || this.#finishing.has(l.taskId) || this.#held.some((t) => t.taskId === l.taskId)) continue
      void q.get(l.taskId).then((t) => {
        if (t === undefined || t.lease?.token !== l.token || this.#stop.signal.aborted) return
        const task: ClaimedTask = { taskId: l.taskId, attempt: l.attempt, token: l.token, kind: l.kind as ClaimedTask['kind'], input: t.input, leaseMs: this.#lastLeaseMs ?? 30_000 }
        if (t.feedback !== undefined) task.feedback = t.feedback
        if (t.result !== undefined && l.kind === 'validate') task.output = t.result
        this.#log('adopting a lease on %s this worker never received (token %d)', l.taskId, l.token)
        this.#take(q, task)
      }, (err: unknown) => { this.#log('reading adopted task %s failed: %s', l.taskId, describeError(err)) })
    }
  }

  onCallForBids (taskId: string, attempt: number, input: Uint8Array): void {
    const bid = this.#options.bid
    const q = this.queue
    if (bid === undefined || q === undefined || this.#stop.signal.aborted || this.#bidsInFlight >= BIDS_IN_FLIGHT_MAX) return
    this.#bidsInFlight++
    void (async () => {
      try {
        const offer = await bid(safePayload(input, TASK_INPUT_BYTES_MAX))
        if (offer === undefined) return
        await q.backend.request({ op: 'bid', taskId, attempt, cost: offer.cost, etaMs: Math.max(0, Math.round(offer.etaMs)) })
      } catch (err) {
        this.#log('bid on %s failed: %s', taskId, describeError(err))
      } finally {
        this.#bidsInFlight--
      }
    })()
  }
}
