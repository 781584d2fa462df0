// The queue handle (DESIGN `node.tasks.open`): submit, reads, waits and the low-level worker API,
// over a Backend (this node's hosted replica, or a member over the link), and the payload codec.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { LimitExceededError, TimeoutError } from '../kit/errors.ts'
import type { Payload } from '../kit/payload.ts'
import type { QueueWorkerInfo, ClaimOptions, ClaimedTask, GateFunction, RenewResult, SubmitOptions, SubmittedTask, TaskInfo, TaskQueue, TaskUpdateInfo, WaitOptions } from './api.ts'
import { StaleLeaseError, TaskFailedError } from './errors.ts'
import { taskSignature } from './host.ts'
import type { ClaimedWire } from './host.ts'
import type { TaskView } from './machine.ts'
import { CLAIM_TASKS_MAX, INFLIGHT_PER_WORKER_MAX, NAME_CHARS_MAX, TASK_INPUT_BYTES_MAX, TASK_OUTPUT_BYTES_MAX } from './messages.ts'
import type { TaskError, TaskRequest } from './messages.ts'
import type { TaskSuccess } from './results.ts'
import { TERMINAL_STATES } from './state.ts'
import { DEAD_LETTERS_PAGE_MAX, WAIT_MS_MAX } from './wire.ts'
import type { TaskEnd, TaskRead } from './wire.ts'

/** Default deadline of a request (submit, complete, …) across member retries. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 15_000

/** Starts a gate: a worker claiming `validate` leases of this queue. */
export type StartGate = (queue: QueueHandle, fn: GateFunction, options: { concurrency?: number }) => { stop: () => Promise<void> }

/** Encode a payload for the machine, refusing more than `max` bytes naming the limit. */
export function encodePayload (value: Payload, max: number, limit: string, what: string): Uint8Array {
  const bytes = encodeCbor(value)
  if (bytes.byteLength > max) throw new LimitExceededError(`Cannot ${what}: ${bytes.byteLength} bytes encoded exceeds ${limit} (${max}); put large data in docs or state and pass a reference`)
  return bytes
}

export function decodePayload (bytes: Uint8Array, max: number): Payload {
  return decodeCbor(bytes, { bytesMax: max, what: 'task payload' }) as Payload
}

/** Drop undefined fields (a DHT record value is CBOR: no undefined). */
export function definedOnly (value: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>
}

export function info (v: TaskView): TaskInfo {
  const out: TaskInfo = { ...v, input: safePayload(v.input, TASK_INPUT_BYTES_MAX), bids: v.bids, history: v.history } as TaskInfo
  if (v.result !== undefined) out.result = safePayload(v.result, TASK_OUTPUT_BYTES_MAX)
  else delete out.result
  return out
}

export function safePayload (bytes: Uint8Array, max: number): Payload {
  try { return decodePayload(bytes, max) } catch { return bytes } // a raw-bytes input from a non-CBOR client stays bytes
}

/** A request or read frame before its id is set. */
export type CallFrame = { k: 'req', q: string, r: Uint8Array, w?: number, n?: boolean } | { k: 'reqs', q: string, rs: Uint8Array[], n?: boolean } | { k: 'read', q: string, read: TaskRead }

/** Where a queue handle sends its work: this node's hosted replica, or a member over the link. */
export interface Backend {
  request (request: TaskRequest, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<TaskSuccess>
  claim (request: Extract<TaskRequest, { op: 'claim' }>, waitMs: number, signal?: AbortSignal): Promise<ClaimedWire[]>
  read (read: TaskRead, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<unknown>
  /**
   * The end of a task this backend submitted, pushed by the member that accepted it (SPEC "Pushed
   * ends"); undefined when none is expected or it did not come within PUSH_WAIT_MS (ask instead).
   */
  ended? (taskId: string, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<TaskEnd | undefined>
}

/** A handle on one queue (DESIGN `node.tasks.open`), over a Backend. */
export class QueueHandle implements TaskQueue {
  readonly name: string
  readonly members: readonly string[]
  readonly backend: Backend
  readonly #startGate: StartGate
  readonly #gates = new Set<{ stop: () => Promise<void> }>()

  constructor (parts: { name: string, members: string[], backend: Backend, startGate: StartGate }) {
    this.name = parts.name
    this.members = parts.members
    this.backend = parts.backend
    this.#startGate = parts.startGate
  }

  async submit (input: Payload, options: SubmitOptions = {}): Promise<SubmittedTask> {
    const { signal, ...fields } = options
    const request = { op: 'submit', input: encodePayload(input, TASK_INPUT_BYTES_MAX, 'TASK_INPUT_BYTES_MAX', `submit to queue "${this.name}"`) } as Extract<TaskRequest, { op: 'submit' }>
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) (request as unknown as Record<string, unknown>)[k] = v
    const r = await this.backend.request(request, { signal }) as Extract<TaskSuccess, { op: 'submit' }>
    return { id: r.taskId, state: r.state, duplicate: r.duplicate }
  }

  async get (taskId: string, options: WaitOptions = {}): Promise<TaskInfo | undefined> {
    const v = await this.backend.read({ op: 'get', taskId }, options) as TaskView | null
    return v === null ? undefined : info(v)
  }

  async result (taskId: string, options: WaitOptions = {}): Promise<Payload> {
    const startedMs = Date.now()
    const pushed = await this.backend.ended?.(taskId, options)
    if (pushed !== undefined) {
      if (pushed.s === 'completed') return pushed.r === undefined ? null : safePayload(pushed.r, TASK_OUTPUT_BYTES_MAX)
      throw new TaskFailedError(taskId, { state: pushed.s, error: pushed.x })
    }
    if (options.timeoutMs !== undefined) options = { ...options, timeoutMs: Math.max(1, options.timeoutMs - (Date.now() - startedMs)) }
    for await (const update of this.#changes(taskId, options, true)) {
      if (update.state === 'completed') return update.result ?? null
      if (TERMINAL_STATES.has(update.state)) throw new TaskFailedError(taskId, { state: update.state, error: update.error })
    }
    throw new TaskFailedError(taskId, { state: 'unknown (purged or never submitted)' })
  }

  /** The task's changes, one wait each; with `end` each wait answers only once the task ended (or its wait ran out). */
  async * #changes (taskId: string, options: WaitOptions, end = false): AsyncGenerator<TaskInfo> {
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs
    let sig = ''
    for (;;) {
      const left = deadline - Date.now()
      if (left <= 0) throw new TimeoutError(`Task ${taskId} of queue "${this.name}" did not end within ${options.timeoutMs} ms`)
      const waitMs = Math.min(WAIT_MS_MAX / 2, left)
      const read: TaskRead = { op: 'wait', taskId, sig: sig === '' ? 'first' : sig, waitMs }
      if (end) read.end = true
      const v = await this.backend.read(read, { signal: options.signal, timeoutMs: Math.min(left, REQUEST_TIMEOUT_MS_DEFAULT) }) as TaskView | null
      if (v === null) return
      const next = taskSignature(v)
      if (next !== sig) { sig = next; yield info(v) }
      if (TERMINAL_STATES.has(v.state)) return
    }
  }

  async * watch (taskId: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<TaskUpdateInfo> {
    let last: { state: string, atMs: number } | undefined
    for await (const t of this.#changes(taskId, options)) {
      // history holds every transition (up to HISTORY_MAX); yield the ones after the last yielded
      let from = 0
      if (last !== undefined) {
        const i = t.history.findLastIndex((h) => h.state === last!.state && h.atMs === last!.atMs)
        // not found: HISTORY_MAX dropped it, so yield what is newer than it
        const newer = t.history.findIndex((h) => h.atMs > last!.atMs)
        from = i >= 0 ? i + 1 : newer < 0 ? t.history.length : newer
      }
      for (const h of t.history.slice(from)) yield { taskId, state: h.state, attempt: t.attempt, atMs: h.atMs }
      const tail = t.history.at(-1)
      if (tail !== undefined) last = tail
    }
  }

  async cancel (taskId: string): Promise<void> { await this.backend.request({ op: 'cancel', taskId }) }
  async redrive (taskId: string): Promise<void> { await this.backend.request({ op: 'redrive', taskId }) }

  async deadLetters (options: { limit?: number } = {}): Promise<TaskInfo[]> {
    const limit = Math.min(options.limit ?? DEAD_LETTERS_PAGE_MAX, DEAD_LETTERS_PAGE_MAX)
    return (await this.backend.read({ op: 'dead', limit }) as TaskView[]).map(info)
  }

  async workers (): Promise<QueueWorkerInfo[]> { return await this.backend.read({ op: 'workers' }) as QueueWorkerInfo[] }

  /** Slots of this node's running workers on this queue (work() and gates), by worker. */
  readonly #slots = new Map<object, number>()

  /** A local worker announces its slots (0 removes it); claims announce their sum to the queue. */
  announceSlots (worker: object, slots: number): void {
    if (slots > 0) this.#slots.set(worker, slots)
    else this.#slots.delete(worker)
  }

  /** Lease slots this node claims with: its workers' sum, or every slot for bare low-level use (bounded by each claim's max). */
  localConcurrency (): number {
    let sum = 0
    for (const n of this.#slots.values()) sum += n
    return sum > 0 ? sum : INFLIGHT_PER_WORKER_MAX
  }

  gate (fn: GateFunction, options: { concurrency?: number } = {}): { stop: () => Promise<void> } {
    const worker = this.#startGate(this, fn, options)
    const handle = { stop: async () => { this.#gates.delete(handle); await worker.stop() } }
    this.#gates.add(handle)
    return handle
  }

  async claim (options: ClaimOptions = {}): Promise<ClaimedTask[]> {
    const max = options.max ?? 1
    if (!(Number.isInteger(max) && max >= 1 && max <= CLAIM_TASKS_MAX)) throw new RangeError(`Invalid claim max ${String(options.max)}: expected an integer in [1, CLAIM_TASKS_MAX ${CLAIM_TASKS_MAX}]`)
    const waitMs = Math.min(Math.max(0, Math.round(options.waitMs ?? 0)), WAIT_MS_MAX)
    const request: Extract<TaskRequest, { op: 'claim' }> = { op: 'claim', max }
    if (options.kind !== undefined) request.kind = options.kind
    if (options.capability !== undefined) request.capabilities = Array.isArray(options.capability) ? options.capability : [options.capability]
    // one peer id is one worker to the queue: this node's workers share its lease slots
    request.concurrency = Math.min(INFLIGHT_PER_WORKER_MAX, options.concurrency ?? this.localConcurrency())
    const leases = await this.backend.claim(request, waitMs, options.signal)
    return leases.map((c) => {
      const t: ClaimedTask = { taskId: c.lease.taskId, attempt: c.lease.attempt, token: c.lease.token, kind: c.lease.kind, input: safePayload(c.input, TASK_INPUT_BYTES_MAX), leaseMs: c.leaseMs }
      if (c.feedback !== undefined) t.feedback = c.feedback
      if (c.output !== undefined) t.output = safePayload(c.output, TASK_OUTPUT_BYTES_MAX)
      return t
    })
  }

  async renew (taskId: string, token: number): Promise<void> {
    const r = await this.renewAll([{ taskId, token }])
    if (r.canceled.includes(taskId)) throw new StaleLeaseError(`Lease on task ${taskId} ended: the task was canceled`, { reason: 'not-leased', taskId })
    if (r.lost.includes(taskId)) throw new StaleLeaseError(`Lease on task ${taskId} (token ${token}) is no longer held by this worker`, { reason: 'not-leased', taskId })
  }

  async renewAll (held: Array<{ taskId: string, token: number }>): Promise<RenewResult> {
    const r = await this.backend.request({ op: 'renew', held }) as Extract<TaskSuccess, { op: 'renew' }>
    return { lost: r.lost, canceled: r.canceled, leases: r.leases.map((l) => ({ taskId: l.taskId, attempt: l.attempt, token: l.token, kind: l.kind })) }
  }

  async complete (taskId: string, token: number, output: Payload): Promise<void> {
    await this.backend.request({ op: 'complete', taskId, token, output: encodePayload(output, TASK_OUTPUT_BYTES_MAX, 'TASK_OUTPUT_BYTES_MAX', `complete task ${taskId}`) })
  }

  async fail (taskId: string, token: number, error: TaskError | Error, options: { retryable?: boolean } = {}): Promise<void> {
    const e: TaskError = error instanceof Error ? { type: (error.name || 'Error').slice(0, NAME_CHARS_MAX), message: error.message.slice(0, 1024) } : { type: error.type, message: error.message }
    const request: Extract<TaskRequest, { op: 'fail' }> = { op: 'fail', taskId, token, error: e }
    if (options.retryable !== undefined) request.retryable = options.retryable
    await this.backend.request(request)
  }

  async verdict (taskId: string, token: number, verdict: { accept: boolean, feedback?: string, final?: boolean }): Promise<void> {
    const request: Extract<TaskRequest, { op: 'verdict' }> = { op: 'verdict', taskId, token, accept: verdict.accept }
    if (verdict.feedback !== undefined) request.feedback = verdict.feedback
    if (verdict.final !== undefined) request.final = verdict.final
    await this.backend.request(request)
  }

  async close (): Promise<void> { await Promise.all([...this.#gates].map(async (g) => { await g.stop() })) }
}
