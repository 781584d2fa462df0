// Requests a client or worker sends to a queue member, and the commands a queue's Raft log
// holds, with one bounded codec for both (SPEC tasks "Commands" and "Limits").

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { ENTRY_BYTES_MAX, NODE_ID_CHARS_MAX } from '../raft/messages.ts'

/** Protocol id of the (future) request stream between workers/clients and queue members. */
export const TASKS_PROTOCOL = '/agentmesh/tasks/1.0.0'
/** Bytes of a task's input: a submit must fit one Raft entry (ENTRY_BYTES_MAX 64 KiB) with room for its fields. */
export const TASK_INPUT_BYTES_MAX = 32 * 1024
/** Bytes of a task's output: a complete must fit one Raft entry, like an input. */
export const TASK_OUTPUT_BYTES_MAX = 32 * 1024
/** Characters of gate feedback, a question or an answer: a note for the next attempt, not a payload. */
export const NOTE_CHARS_MAX = 4096
/** Characters of an error message reported by a worker. */
export const ERROR_MESSAGE_CHARS_MAX = 1024
/** Characters of a name: task id, capability, error type, queue name (identifiers, not data). */
export const NAME_CHARS_MAX = 128
/** Characters of an idempotency key: a UUID or a SHA-256 hex with a prefix (the key table is in the snapshot). */
export const IDEMPOTENCY_KEY_CHARS_MAX = 128
/** Tasks one claim may lease: bounds one result and one worker's burst. */
export const CLAIM_TASKS_MAX = 64
/** Capabilities a worker may announce: agents advertise a handful of skills (and the registry is in the snapshot). */
export const CAPABILITIES_MAX = 16
/** Leases a worker may list in one renew (its view of what it holds) = INFLIGHT_PER_WORKER_MAX. */
export const HELD_LEASES_MAX = 256
/** Commands in one batch: a batch fits one Raft entry, and one apply stays short. */
export const BATCH_COMMANDS_MAX = 256
/** Entries of `nonRetryableErrors`: error type names, exact match (Temporal). */
export const NON_RETRYABLE_ERRORS_MAX = 16
/** Highest priority; priorities are integers 0…PRIORITY_MAX, higher runs first. */
export const PRIORITY_MAX = 1000
/** Longest duration (timeouts, intervals): 30 days; anything longer is a mistake, not a policy. */
export const DURATION_MS_MAX = 30 * 86_400_000
/** Largest attempt number: a retry loop has a bound (Temporal's "unlimited" becomes this). */
export const ATTEMPTS_MAX = 100
/** Largest clock value or elapsed time a tick may carry: 2^48 ms is 8,900 years of uptime. */
export const CLOCK_MS_MAX = 2 ** 48
/** Largest bid cost: a finite, comparable number. */
export const BID_COST_MAX = 1e12
/** Concurrency a worker may announce (= HELD_LEASES_MAX). */
export const INFLIGHT_PER_WORKER_MAX = HELD_LEASES_MAX
/** Bytes of one encoded request or command: one Raft entry. */
export const COMMAND_BYTES_MAX = ENTRY_BYTES_MAX

/** Temporal's retry policy, with a hash-based jitter fraction added (0 = none). */
export interface RetryPolicy {
  initialIntervalMs: number
  backoffCoefficient: number
  maximumIntervalMs: number
  /** Attempts in all, first included; 0 means ATTEMPTS_MAX (Temporal's 0 = unlimited). */
  maximumAttempts: number
  /** Error types that fail the task at once, exact match. */
  nonRetryableErrors: string[]
  jitter: number
}

/** An error a worker reports; `type` is what `nonRetryableErrors` matches. */
export interface TaskError { type: string, message: string }

/** Kinds of lease: running the task, or judging its result (the quality gate). */
export type LeaseKind = 'work' | 'validate'

/** Submit options that travel with a task. */
export interface SubmitFields {
  input: Uint8Array
  capability?: string
  priority?: number
  idempotencyKey?: string
  /** Schedule-to-close: the whole task, retries included; then `failed` with `timeout`. */
  timeoutMs?: number
  /** Schedule-to-start: waiting for a worker; then `failed` with `no-healthy-worker`. */
  scheduleToStartMs?: number
  /** Start-to-close: one attempt; then the attempt fails with `start-to-close-timeout`. */
  startToCloseMs?: number
  retry?: Partial<RetryPolicy>
}

/**
 * What a client or worker sends to a queue member. It never names its sender: the member fills
 * `worker`/`by` from the authenticated connection (`commandFromRequest`).
 */
export type TaskRequest =
  | { op: 'submit' } & SubmitFields
  | { op: 'claim', max: number, kind?: LeaseKind, capabilities?: string[], concurrency?: number }
  | { op: 'renew', held?: HeldLease[] }
  | { op: 'complete', taskId: string, token: number, output: Uint8Array }
  | { op: 'fail', taskId: string, token: number, error: TaskError, retryable?: boolean }
  | { op: 'verdict', taskId: string, token: number, accept: boolean, feedback?: string, final?: boolean }
  | { op: 'ask', taskId: string, token: number, question: string }
  | { op: 'answer', taskId: string, answer: string }
  | { op: 'bid', taskId: string, attempt: number, cost: number, etaMs: number }
  | { op: 'cancel', taskId: string }
  | { op: 'redrive', taskId: string }

/** A lease as the worker sees it, listed in a renew so the queue can say which are lost. */
export interface HeldLease { taskId: string, token: number }

/** Commands only a queue member's driver proposes (never accepted from a request). */
export type DriverCommand =
  | { op: 'award', taskId: string, attempt: number }
  | { op: 'worker-dead', worker: string }
  | { op: 'leader-changed', epoch: number }
  | { op: 'tick', epoch: number, elapsedMs: number }

type Identified<R, Field extends string> = R & { [K in Field]: string }
type WorkerOps = 'claim' | 'renew' | 'complete' | 'fail' | 'verdict' | 'ask' | 'bid'
type ByOps = 'submit' | 'answer' | 'cancel' | 'redrive'

/** One command of the log: a request with its sender filled in, or a driver command. */
export type SingleCommand =
  | Identified<Extract<TaskRequest, { op: WorkerOps }>, 'worker'>
  | Identified<Extract<TaskRequest, { op: ByOps }>, 'by'>
  | DriverCommand

/** What a queue's Raft log holds: one command or a batch of them (throughput: one entry, many commands). */
export type TaskCommand = SingleCommand | { op: 'batch', commands: SingleCommand[] }

const WORKER_OPS: ReadonlySet<string> = new Set<WorkerOps>(['claim', 'renew', 'complete', 'fail', 'verdict', 'ask', 'bid'])
const BY_OPS: ReadonlySet<string> = new Set<ByOps>(['submit', 'answer', 'cancel', 'redrive'])
const DRIVER_OPS: ReadonlySet<string> = new Set(['award', 'worker-dead', 'leader-changed', 'tick'])

/** Turn a request into a command, with the sender taken from the authenticated connection. SPEC tasks "Threat model". */
export function commandFromRequest (request: TaskRequest, context: { peer: string }): SingleCommand {
  if (WORKER_OPS.has(request.op)) return { ...request, worker: context.peer } as SingleCommand
  return { ...request, by: context.peer } as SingleCommand
}

/** Encode a request for the wire. */
export function encodeTaskRequest (request: TaskRequest): Uint8Array { return encodeCbor(request) }
/** Encode a command for `group.propose`. */
export function encodeTaskCommand (command: TaskCommand): Uint8Array { return encodeCbor(command) }

/** Decode and validate a request from a peer; it may not carry identity fields or driver ops. */
export function decodeTaskRequest (bytes: Uint8Array): TaskRequest {
  const value = decodeCbor(bytes, { bytesMax: COMMAND_BYTES_MAX, what: 'task request' })
  return validateRequest(value) as TaskRequest
}

/** Decode and validate a command's bytes. */
export function decodeTaskCommand (bytes: Uint8Array): TaskCommand {
  return validateTaskCommand(decodeCbor(bytes, { bytesMax: COMMAND_BYTES_MAX, what: 'task command' }))
}

/** Validate a command already decoded from CBOR (what a Raft group's `apply` receives). */
export function validateTaskCommand (value: unknown): TaskCommand {
  const map = asMap(value, 'task command')
  if (map.op === 'batch') {
    only(map, ['op', 'commands'], 'batch')
    const list = map.commands
    if (!Array.isArray(list)) throw new DecodeError('Cannot decode task command batch: commands is not an array')
    if (list.length > BATCH_COMMANDS_MAX) throw new LimitExceededError(`Cannot decode task command batch: ${list.length} commands exceeds BATCH_COMMANDS_MAX (${BATCH_COMMANDS_MAX})`)
    return { op: 'batch', commands: list.map((c) => validateSingle(c)) }
  }
  return validateSingle(map)
}

function validateSingle (value: unknown): SingleCommand {
  const map = asMap(value, 'task command')
  const op = map.op
  if (typeof op !== 'string') throw new DecodeError('Cannot decode task command: op is not a string')
  if (DRIVER_OPS.has(op)) return validateDriver(map, op)
  const identity = WORKER_OPS.has(op) ? 'worker' : BY_OPS.has(op) ? 'by' : undefined
  if (identity === undefined) throw new DecodeError(`Cannot decode task command: unknown op ${JSON.stringify(op).slice(0, 40)}`)
  name(map, identity, op, NODE_ID_CHARS_MAX)
  // checked in place: a copy per command (on every replica's apply) showed in profiles
  return validateRequest(map, identity) as unknown as SingleCommand
}

function validateDriver (map: Record<string, unknown>, op: string): DriverCommand {
  switch (op) {
    case 'award': only(map, ['op', 'taskId', 'attempt'], op); name(map, 'taskId', op); int(map, 'attempt', op, ATTEMPTS_MAX); break
    case 'worker-dead': only(map, ['op', 'worker'], op); name(map, 'worker', op, NODE_ID_CHARS_MAX); break
    case 'leader-changed': only(map, ['op', 'epoch'], op); int(map, 'epoch', op, CLOCK_MS_MAX); break
    case 'tick': only(map, ['op', 'epoch', 'elapsedMs'], op); int(map, 'epoch', op, CLOCK_MS_MAX); int(map, 'elapsedMs', op, CLOCK_MS_MAX); break
  }
  return map as unknown as DriverCommand
}

/** `extra`: the one identity field (`worker` or `by`) a command may carry beyond its request; a peer's request may carry none. */
function validateRequest (value: unknown, extra?: string): TaskRequest {
  const map = asMap(value, 'task request')
  const op = map.op
  switch (op) {
    case 'submit':
      only(map, ['op', 'input', 'capability', 'priority', 'idempotencyKey', 'timeoutMs', 'scheduleToStartMs', 'startToCloseMs', 'retry'], op, extra)
      bytes(map, 'input', op, TASK_INPUT_BYTES_MAX, 'TASK_INPUT_BYTES_MAX')
      if (map.capability !== undefined) name(map, 'capability', op)
      if (map.priority !== undefined) int(map, 'priority', op, PRIORITY_MAX)
      if (map.idempotencyKey !== undefined) name(map, 'idempotencyKey', op, IDEMPOTENCY_KEY_CHARS_MAX)
      for (const f of ['timeoutMs', 'scheduleToStartMs', 'startToCloseMs']) if (map[f] !== undefined) duration(map, f, op)
      if (map.retry !== undefined) validateRetry(map.retry, 'submit.retry')
      break
    case 'claim':
      only(map, ['op', 'max', 'kind', 'capabilities', 'concurrency'], op, extra)
      int(map, 'max', op, CLAIM_TASKS_MAX)
      if (map.kind !== undefined && map.kind !== 'work' && map.kind !== 'validate') throw new DecodeError('Cannot decode claim: kind is not "work" or "validate"')
      if (map.capabilities !== undefined) list(map, 'capabilities', op, CAPABILITIES_MAX, 'CAPABILITIES_MAX').forEach((_, i, a) => { name({ c: a[i] }, 'c', 'claim.capabilities') })
      if (map.concurrency !== undefined) { int(map, 'concurrency', op, INFLIGHT_PER_WORKER_MAX); positive(map, 'concurrency', op) }
      break
    case 'renew':
      only(map, ['op', 'held'], op, extra)
      if (map.held !== undefined) {
        for (const h of list(map, 'held', op, HELD_LEASES_MAX, 'HELD_LEASES_MAX')) {
          const held = asMap(h, 'renew.held entry'); only(held, ['taskId', 'token'], 'renew.held'); name(held, 'taskId', 'renew.held'); int(held, 'token', 'renew.held', CLOCK_MS_MAX)
        }
      }
      break
    case 'complete':
      only(map, ['op', 'taskId', 'token', 'output'], op, extra); leaseRef(map, op)
      bytes(map, 'output', op, TASK_OUTPUT_BYTES_MAX, 'TASK_OUTPUT_BYTES_MAX')
      break
    case 'fail': {
      only(map, ['op', 'taskId', 'token', 'error', 'retryable'], op, extra); leaseRef(map, op)
      const error = asMap(map.error, 'fail.error'); only(error, ['type', 'message'], 'fail.error')
      name(error, 'type', 'fail.error'); text(error, 'message', 'fail.error', ERROR_MESSAGE_CHARS_MAX, 'ERROR_MESSAGE_CHARS_MAX')
      if (map.retryable !== undefined) bool(map, 'retryable', op)
      break
    }
    case 'verdict':
      only(map, ['op', 'taskId', 'token', 'accept', 'feedback', 'final'], op, extra); leaseRef(map, op); bool(map, 'accept', op)
      if (map.feedback !== undefined) text(map, 'feedback', op, NOTE_CHARS_MAX, 'NOTE_CHARS_MAX')
      if (map.final !== undefined) bool(map, 'final', op)
      break
    case 'ask': only(map, ['op', 'taskId', 'token', 'question'], op, extra); leaseRef(map, op); text(map, 'question', op, NOTE_CHARS_MAX, 'NOTE_CHARS_MAX'); break
    case 'answer': only(map, ['op', 'taskId', 'answer'], op, extra); name(map, 'taskId', op); text(map, 'answer', op, NOTE_CHARS_MAX, 'NOTE_CHARS_MAX'); break
    case 'bid':
      only(map, ['op', 'taskId', 'attempt', 'cost', 'etaMs'], op, extra); name(map, 'taskId', op); int(map, 'attempt', op, ATTEMPTS_MAX)
      if (typeof map.cost !== 'number' || !Number.isFinite(map.cost) || map.cost < 0 || map.cost > BID_COST_MAX) throw new DecodeError(`Cannot decode bid: cost is not a number in [0, ${BID_COST_MAX}]`)
      duration(map, 'etaMs', op)
      break
    case 'cancel': case 'redrive': only(map, ['op', 'taskId'], op, extra); name(map, 'taskId', op); break
    default: throw new DecodeError(`Cannot decode task request: unknown op ${JSON.stringify(op)?.slice(0, 40) ?? 'undefined'}`)
  }
  return map as unknown as TaskRequest
}

/** Validate a (partial) retry policy; used for submit overrides and queue options. */
export function validateRetry (value: unknown, what: string): Partial<RetryPolicy> {
  const map = asMap(value, what)
  only(map, ['initialIntervalMs', 'backoffCoefficient', 'maximumIntervalMs', 'maximumAttempts', 'nonRetryableErrors', 'jitter'], what)
  if (map.initialIntervalMs !== undefined) { duration(map, 'initialIntervalMs', what); positive(map, 'initialIntervalMs', what) }
  if (map.maximumIntervalMs !== undefined) { duration(map, 'maximumIntervalMs', what); positive(map, 'maximumIntervalMs', what) }
  if (map.maximumAttempts !== undefined) int(map, 'maximumAttempts', what, ATTEMPTS_MAX)
  if (map.backoffCoefficient !== undefined && (typeof map.backoffCoefficient !== 'number' || !(map.backoffCoefficient >= 1 && map.backoffCoefficient <= 100))) throw new DecodeError(`Cannot decode ${what}: backoffCoefficient is not a number in [1, 100]`)
  if (map.jitter !== undefined && (typeof map.jitter !== 'number' || !(map.jitter >= 0 && map.jitter <= 1))) throw new DecodeError(`Cannot decode ${what}: jitter is not a number in [0, 1]`)
  if (map.nonRetryableErrors !== undefined) list(map, 'nonRetryableErrors', what, NON_RETRYABLE_ERRORS_MAX, 'NON_RETRYABLE_ERRORS_MAX').forEach((_, i, a) => { name({ e: a[i] }, 'e', `${what}.nonRetryableErrors`) })
  return map as Partial<RetryPolicy>
}

/** One stable line describing a command, for traces and logs. */
export function describeCommand (command: TaskCommand): string {
  const c = command as Record<string, unknown>
  switch (command.op) {
    case 'batch': return `batch(${command.commands.length}) [${command.commands.slice(0, 4).map(describeCommand).join(', ')}${command.commands.length > 4 ? ', …' : ''}]`
    case 'submit': return `submit by=${short(command.by)} bytes=${command.input.byteLength}${command.idempotencyKey !== undefined ? ` key=${command.idempotencyKey}` : ''}${command.priority !== undefined ? ` prio=${command.priority}` : ''}`
    case 'claim': return `claim ${short(command.worker)} max=${command.max}${command.kind === 'validate' ? ' validate' : ''}`
    case 'renew': return `renew ${short(command.worker)} held=${command.held?.length ?? '-'}`
    case 'tick': return `tick epoch=${command.epoch} elapsed=${command.elapsedMs}`
    case 'leader-changed': return `leader-changed epoch=${command.epoch}`
    case 'worker-dead': return `worker-dead ${short(command.worker)}`
    default: {
      const who = typeof c.worker === 'string' ? ` ${short(c.worker)}` : typeof c.by === 'string' ? ` by=${short(c.by)}` : ''
      const token = typeof c.token === 'number' ? ` token=${c.token}` : ''
      return `${command.op} ${String(c.taskId)}${who}${token}`
    }
  }
}

function short (peer: string): string { return peer.length > 12 ? `…${peer.slice(-8)}` : peer }

// ---- field checks: each throws DecodeError or LimitExceededError naming the field and limit ----

function asMap (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new DecodeError(`Cannot decode ${what}: not a map`)
  return value as Record<string, unknown>
}

function only (map: Record<string, unknown>, fields: string[], what: string, extra?: string): void {
  for (const key of Object.keys(map)) {
    if (!fields.includes(key) && key !== extra) throw new DecodeError(`Cannot decode ${what}: unexpected field ${JSON.stringify(key).slice(0, 40)}`)
  }
}

function name (map: Record<string, unknown>, field: string, what: string, charsMax = NAME_CHARS_MAX): string {
  const v = map[field]
  if (typeof v !== 'string' || v.length === 0) throw new DecodeError(`Cannot decode ${what}: ${field} is not a non-empty string`)
  if (v.length > charsMax) throw new LimitExceededError(`Cannot decode ${what}: ${field} of ${v.length} characters exceeds ${charsMax === NAME_CHARS_MAX ? 'NAME_CHARS_MAX' : charsMax === NODE_ID_CHARS_MAX ? 'NODE_ID_CHARS_MAX' : 'IDEMPOTENCY_KEY_CHARS_MAX'} (${charsMax})`)
  return v
}

function text (map: Record<string, unknown>, field: string, what: string, charsMax: number, limit: string): void {
  const v = map[field]
  if (typeof v !== 'string') throw new DecodeError(`Cannot decode ${what}: ${field} is not a string`)
  if (v.length > charsMax) throw new LimitExceededError(`Cannot decode ${what}: ${field} of ${v.length} characters exceeds ${limit} (${charsMax})`)
}

function int (map: Record<string, unknown>, field: string, what: string, max: number): void {
  const v = map[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new DecodeError(`Cannot decode ${what}: ${field} is not a non-negative integer`)
  if (v > max) throw new LimitExceededError(`Cannot decode ${what}: ${field} ${v} exceeds its limit ${max}`)
}

function positive (map: Record<string, unknown>, field: string, what: string): void {
  if (map[field] === 0) throw new DecodeError(`Cannot decode ${what}: ${field} must be positive`)
}

function duration (map: Record<string, unknown>, field: string, what: string): void {
  const v = map[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new DecodeError(`Cannot decode ${what}: ${field} is not a non-negative integer of ms`)
  if (v > DURATION_MS_MAX) throw new LimitExceededError(`Cannot decode ${what}: ${field} ${v} exceeds DURATION_MS_MAX (${DURATION_MS_MAX})`)
}

function bool (map: Record<string, unknown>, field: string, what: string): void {
  if (typeof map[field] !== 'boolean') throw new DecodeError(`Cannot decode ${what}: ${field} is not a boolean`)
}

function bytes (map: Record<string, unknown>, field: string, what: string, max: number, limit: string): void {
  const v = map[field]
  if (!(v instanceof Uint8Array)) throw new DecodeError(`Cannot decode ${what}: ${field} is not bytes`)
  if (v.byteLength > max) throw new LimitExceededError(`Cannot decode ${what}: ${field} of ${v.byteLength} bytes exceeds ${limit} (${max})`)
}

function list (map: Record<string, unknown>, field: string, what: string, max: number, limit: string): unknown[] {
  const v = map[field]
  if (!Array.isArray(v)) throw new DecodeError(`Cannot decode ${what}: ${field} is not an array`)
  if (v.length > max) throw new LimitExceededError(`Cannot decode ${what}: ${field} of ${v.length} entries exceeds ${limit} (${max})`)
  return v
}

function leaseRef (map: Record<string, unknown>, what: string): void {
  name(map, 'taskId', what)
  int(map, 'token', what, CLOCK_MS_MAX)
}
