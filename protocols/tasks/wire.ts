// Frames of the tasks protocol (TASKS_PROTOCOL) between any node and a queue's members, carried
// by a PeerLinks link set: requests (TaskRequest bytes, decoded by the bounded request codec),
// reads, calls for bids, and answers matched by request id. SPEC tasks "Wire".

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { CLAIM_TASKS_MAX, COMMAND_BYTES_MAX, ERROR_MESSAGE_CHARS_MAX, NAME_CHARS_MAX, NOTE_CHARS_MAX, TASK_INPUT_BYTES_MAX, TASK_OUTPUT_BYTES_MAX } from './messages.ts'
import { TERMINAL_STATES } from './state.ts'
import type { TaskState } from './state.ts'

/**
 * Largest frame: a claim's answer carries up to CLAIM_TASKS_MAX inputs (and, for validation
 * leases, outputs) with their notes: 64 × (32 + 32 KiB + 12 KiB of notes) < 5 MiB. Requests are far
 * smaller (COMMAND_BYTES_MAX), and their own codec refuses more.
 */
export const TASKS_FRAME_BYTES_MAX = CLAIM_TASKS_MAX * (TASK_INPUT_BYTES_MAX + TASK_OUTPUT_BYTES_MAX + 3 * NOTE_CHARS_MAX) + 64 * 1024
/** Longest long-poll a peer may ask for (claim, wait): a parked request holds memory on the member. */
export const WAIT_MS_MAX = 60_000
/** Dead letters one read returns: DEAD_LETTERS_MAX bounds what a queue holds; a page is enough for a screen. */
export const DEAD_LETTERS_PAGE_MAX = 256
/**
 * Ended tasks one `end` frame carries: 64 outputs of TASK_OUTPUT_BYTES_MAX with their error notes
 * stay under TASKS_FRAME_BYTES_MAX; a member with more for one submitter sends several frames.
 */
export const ENDS_PER_FRAME_MAX = CLAIM_TASKS_MAX
/**
 * Requests one `reqs` frame carries: results and submits a caller sends within one timer turn go
 * in one frame (each is still its own command); a claim's burst is as many.
 */
export const REQUESTS_PER_FRAME_MAX = CLAIM_TASKS_MAX
/** Largest request id: ids are counters. */
const REQUEST_ID_MAX = 2 ** 48

/** A read a peer asks a member for. */
export type TaskRead =
  | { op: 'get', taskId: string }
  /**
   * Answer once the task's signature differs from `sig` (or it ended), or after `waitMs`; with
   * `end`, only once it ended (or after `waitMs`): `result` needs one round trip, not one per state.
   */
  | { op: 'wait', taskId: string, sig: string, waitMs: number, end?: boolean }
  | { op: 'dead', limit: number }
  | { op: 'workers' }

/** A task that ended, as a member pushes it to its submitter: id, terminal state, output or error. */
export interface TaskEnd { t: string, s: string, r?: Uint8Array, x?: { type: string, message: string } }

/** Everything on the wire. */
export type TasksFrame =
  /** `n`: (submit) push the task's end to the sender when it ends (an `end` frame), so it need not wait for it. */
  | { k: 'req', id: number, q: string, r: Uint8Array, w?: number, n?: boolean }
  /** Several requests (not claims) answered together: `ok` with one `{v}` or `{e}` per request, in order. */
  | { k: 'reqs', id: number, q: string, rs: Uint8Array[], n?: boolean }
  | { k: 'read', id: number, q: string, read: TaskRead }
  /** `l`: the queue's leader when the answering member is not it (the caller asks the leader next: no forwarding hop). */
  | { k: 'ok', id: number, v: unknown, l?: string }
  | { k: 'err', id: number, name: string, code: string, msg: string, reason?: string, t?: string }
  | { k: 'cfb', q: string, t: string, a: number, in: Uint8Array }
  /** The caller gave up on request `id`: a parked claim or wait ends without proposing. */
  | { k: 'cancel', id: number }
  /** Tasks submitted with `n` that ended, pushed by the member that accepted the submit. */
  | { k: 'end', q: string, e: TaskEnd[] }

export function encodeTasksFrame (frame: TasksFrame): Uint8Array { return encodeCbor(frame) }

/** Decode and check a frame's envelope; the request inside is checked by `decodeTaskRequest`. */
export function decodeTasksFrame (bytes: Uint8Array): TasksFrame {
  const v = decodeCbor(bytes, { bytesMax: TASKS_FRAME_BYTES_MAX, what: 'tasks frame' })
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new DecodeError('Cannot decode tasks frame: not a map')
  const m = v as Record<string, unknown>
  const id = (): number => {
    if (typeof m.id !== 'number' || !Number.isSafeInteger(m.id) || m.id < 0 || m.id > REQUEST_ID_MAX) throw new DecodeError('Cannot decode tasks frame: id is not a request id')
    return m.id
  }
  const queue = (): string => str(m.q, 'q', NAME_CHARS_MAX)
  switch (m.k) {
    case 'req': {
      id(); queue()
      if (!(m.r instanceof Uint8Array)) throw new DecodeError('Cannot decode tasks request frame: r is not bytes')
      if (m.r.byteLength > COMMAND_BYTES_MAX) throw new LimitExceededError(`Cannot decode tasks request frame: request of ${m.r.byteLength} bytes exceeds COMMAND_BYTES_MAX (${COMMAND_BYTES_MAX})`)
      if (m.w !== undefined) waitMs(m.w)
      if (m.n !== undefined && typeof m.n !== 'boolean') throw new DecodeError('Cannot decode tasks request frame: n is not a boolean')
      return m as TasksFrame
    }
    case 'reqs': {
      id(); queue()
      if (!Array.isArray(m.rs) || m.rs.length === 0) throw new DecodeError('Cannot decode tasks requests frame: rs is not a non-empty array')
      if (m.rs.length > REQUESTS_PER_FRAME_MAX) throw new LimitExceededError(`Cannot decode tasks requests frame: ${m.rs.length} requests exceed REQUESTS_PER_FRAME_MAX (${REQUESTS_PER_FRAME_MAX})`)
      for (const r of m.rs as unknown[]) {
        if (!(r instanceof Uint8Array)) throw new DecodeError('Cannot decode tasks requests frame: a request is not bytes')
        if (r.byteLength > COMMAND_BYTES_MAX) throw new LimitExceededError(`Cannot decode tasks requests frame: request of ${r.byteLength} bytes exceeds COMMAND_BYTES_MAX (${COMMAND_BYTES_MAX})`)
      }
      if (m.n !== undefined && typeof m.n !== 'boolean') throw new DecodeError('Cannot decode tasks requests frame: n is not a boolean')
      return m as TasksFrame
    }
    case 'read': {
      id(); queue()
      const r = m.read as Record<string, unknown> | undefined
      if (typeof r !== 'object' || r === null) throw new DecodeError('Cannot decode tasks read: not a map')
      if (r.op === 'get') str(r.taskId, 'taskId', NAME_CHARS_MAX)
      else if (r.op === 'wait') {
        str(r.taskId, 'taskId', NAME_CHARS_MAX); str(r.sig, 'sig', 4 * NAME_CHARS_MAX); waitMs(r.waitMs)
        if (r.end !== undefined && typeof r.end !== 'boolean') throw new DecodeError('Cannot decode tasks read: end is not a boolean')
      }
      else if (r.op === 'workers') { /* no fields */ } else if (r.op === 'dead') { if (typeof r.limit !== 'number' || !Number.isSafeInteger(r.limit) || r.limit < 0 || r.limit > DEAD_LETTERS_PAGE_MAX) throw new LimitExceededError(`Cannot decode tasks read: limit is not an integer in [0, DEAD_LETTERS_PAGE_MAX ${DEAD_LETTERS_PAGE_MAX}]`) } else throw new DecodeError('Cannot decode tasks read: unknown op')
      return m as TasksFrame
    }
    case 'ok': id(); if (m.l !== undefined) str(m.l, 'l', NAME_CHARS_MAX); return m as TasksFrame
    case 'cancel': id(); return m as TasksFrame
    case 'end': {
      queue()
      if (!Array.isArray(m.e)) throw new DecodeError('Cannot decode tasks end frame: e is not an array')
      if (m.e.length > ENDS_PER_FRAME_MAX) throw new LimitExceededError(`Cannot decode tasks end frame: ${m.e.length} ends exceed ENDS_PER_FRAME_MAX (${ENDS_PER_FRAME_MAX})`)
      for (const e of m.e as unknown[]) {
        if (typeof e !== 'object' || e === null || Array.isArray(e) || e instanceof Uint8Array) throw new DecodeError('Cannot decode tasks end: not a map')
        const end = e as Record<string, unknown>
        str(end.t, 't', NAME_CHARS_MAX)
        if (typeof end.s !== 'string' || !TERMINAL_STATES.has(end.s as TaskState)) throw new DecodeError('Cannot decode tasks end: s is not a terminal state')
        if (end.r !== undefined && (!(end.r instanceof Uint8Array) || end.r.byteLength > TASK_OUTPUT_BYTES_MAX)) throw new DecodeError('Cannot decode tasks end: r is not an output within TASK_OUTPUT_BYTES_MAX')
        if (end.x !== undefined) {
          const x = end.x as Record<string, unknown>
          if (typeof x !== 'object' || x === null) throw new DecodeError('Cannot decode tasks end: x is not an error')
          str(x.type, 'x.type', NAME_CHARS_MAX)
          if (typeof x.message !== 'string' || x.message.length > ERROR_MESSAGE_CHARS_MAX) throw new DecodeError(`Cannot decode tasks end: x.message is not a string within ERROR_MESSAGE_CHARS_MAX (${ERROR_MESSAGE_CHARS_MAX})`)
        }
      }
      return m as TasksFrame
    }
    case 'err': id(); str(m.name, 'name', NAME_CHARS_MAX); str(m.code, 'code', NAME_CHARS_MAX); if (typeof m.msg !== 'string') throw new DecodeError('Cannot decode tasks error: msg is not a string'); return m as TasksFrame
    case 'cfb':
      queue(); str(m.t, 't', NAME_CHARS_MAX)
      if (typeof m.a !== 'number' || !Number.isSafeInteger(m.a) || m.a < 0) throw new DecodeError('Cannot decode call for bids: a is not an attempt')
      if (!(m.in instanceof Uint8Array) || m.in.byteLength > TASK_INPUT_BYTES_MAX) throw new DecodeError('Cannot decode call for bids: in is not an input within TASK_INPUT_BYTES_MAX')
      return m as TasksFrame
    default: throw new DecodeError(`Cannot decode tasks frame: unknown kind ${JSON.stringify(m.k)?.slice(0, 20) ?? 'undefined'}`)
  }
}

function str (v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0) throw new DecodeError(`Cannot decode tasks frame: ${field} is not a non-empty string`)
  if (v.length > max) throw new LimitExceededError(`Cannot decode tasks frame: ${field} of ${v.length} characters exceeds ${max}`)
  return v
}

function waitMs (v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > WAIT_MS_MAX) throw new LimitExceededError(`Cannot decode tasks frame: wait is not an integer of ms in [0, WAIT_MS_MAX ${WAIT_MS_MAX}]`)
}
