// The `--exec` line protocol (DESIGN "Agents in any language"): one JSON object per line on the
// child's stdin (node → child) and stdout (child → node). Parsing checks every field and bound and
// says what is wrong; the supervisor logs, counts and drops a bad line. Pure: no I/O.

import { AgentMeshError } from '../../protocols/kit/errors.ts'

/** Most queues one child may work: a worker program serves a few kinds of work, not a catalogue. */
export const EXEC_QUEUES_MAX = 16
/** Highest concurrency a child may ask for: the task layer's bound on leases one worker holds. */
export const EXEC_CONCURRENCY_MAX = 256
/** Longest queue name, task id or topic (the task layer's NAME_CHARS_MAX). */
export const EXEC_NAME_CHARS_MAX = 128
/** Longest error message kept from a `fail` line (the task layer's ERROR_MESSAGE_CHARS_MAX). */
export const EXEC_ERROR_CHARS_MAX = 1024

/** A line from the child that is not valid protocol: bad JSON, unknown type, a missing or bad field. */
export class ExecProtocolError extends AgentMeshError {
  override name = 'ExecProtocolError'
  constructor (message: string) { super('ERR_EXEC_PROTOCOL', message) }
}

/** A task's failure as the child reports it. */
export interface ExecTaskError { type: string, message: string }

/** What the child writes. */
export type ChildMessage =
  | { type: 'ready', queues: string[], concurrency?: number }
  | { type: 'result', taskId: string, token: number, output: unknown }
  | { type: 'fail', taskId: string, token: number, error: ExecTaskError, retryable?: boolean }
  | { type: 'progress', taskId: string, note?: string }
  | { type: 'publish', topic: string, event: { type: string, data?: unknown } }

/** What the node writes. */
export type NodeMessage =
  | { type: 'task', taskId: string, attempt: number, token: number, input: unknown, feedback?: string }
  | { type: 'cancel', taskId: string }

/** One node → child line, with its newline. */
export function encodeNodeLine (message: NodeMessage): string {
  return `${JSON.stringify(message)}\n`
}

/** Parse and check one child → node line. Throws ExecProtocolError saying what is wrong. */
export function parseChildLine (text: string): ChildMessage {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ExecProtocolError(`not JSON (${err instanceof Error ? err.message : String(err)}): ${preview(text)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ExecProtocolError(`expected a JSON object per line, got ${preview(text)}`)
  const map = value as Record<string, unknown>
  switch (map.type) {
    case 'ready': {
      const queues = map.queues ?? []
      if (!Array.isArray(queues) || queues.length > EXEC_QUEUES_MAX) throw new ExecProtocolError(`ready.queues must be an array of at most ${EXEC_QUEUES_MAX} queue names (EXEC_QUEUES_MAX)`)
      for (const queue of queues) checkName(queue, 'ready.queues[]')
      const concurrency = map.concurrency
      if (concurrency !== undefined && (!Number.isInteger(concurrency) || (concurrency as number) < 1 || (concurrency as number) > EXEC_CONCURRENCY_MAX)) {
        throw new ExecProtocolError(`ready.concurrency must be an integer from 1 to ${EXEC_CONCURRENCY_MAX} (EXEC_CONCURRENCY_MAX), got ${JSON.stringify(concurrency)}`)
      }
      return { type: 'ready', queues: [...new Set(queues as string[])], ...(concurrency !== undefined ? { concurrency: concurrency as number } : {}) }
    }
    case 'result':
      checkName(map.taskId, 'result.taskId'); checkToken(map.token, 'result.token')
      if (!('output' in map)) throw new ExecProtocolError('result.output is missing (use null for no output)')
      return { type: 'result', taskId: map.taskId as string, token: map.token as number, output: map.output }
    case 'fail': {
      checkName(map.taskId, 'fail.taskId'); checkToken(map.token, 'fail.token')
      if (map.retryable !== undefined && typeof map.retryable !== 'boolean') throw new ExecProtocolError('fail.retryable must be true or false')
      return { type: 'fail', taskId: map.taskId as string, token: map.token as number, error: taskError(map.error), ...(map.retryable !== undefined ? { retryable: map.retryable as boolean } : {}) }
    }
    case 'progress':
      checkName(map.taskId, 'progress.taskId')
      if (map.note !== undefined && typeof map.note !== 'string') throw new ExecProtocolError('progress.note must be a string')
      return { type: 'progress', taskId: map.taskId as string, ...(map.note !== undefined ? { note: (map.note as string).slice(0, EXEC_ERROR_CHARS_MAX) } : {}) }
    case 'publish': {
      checkName(map.topic, 'publish.topic')
      const event = map.event
      if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') throw new ExecProtocolError('publish.event must be an object {"type": "...", "data": ...}')
      const { type, data } = event as { type: string, data?: unknown }
      return { type: 'publish', topic: map.topic as string, event: { type, ...(data !== undefined ? { data } : {}) } }
    }
    default:
      throw new ExecProtocolError(`unknown line type ${JSON.stringify(map.type)}; expected ready, result, fail, progress or publish`)
  }
}

function checkName (value: unknown, field: string): void {
  if (typeof value !== 'string' || value === '' || value.length > EXEC_NAME_CHARS_MAX) {
    throw new ExecProtocolError(`${field} must be a string of 1 to ${EXEC_NAME_CHARS_MAX} characters (EXEC_NAME_CHARS_MAX), got ${preview(JSON.stringify(value) ?? 'nothing')}`)
  }
}

function checkToken (value: unknown, field: string): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new ExecProtocolError(`${field} must be the task's token as the node sent it (a non-negative integer), got ${preview(JSON.stringify(value) ?? 'nothing')}`)
}

/** `"error"` may be a message or `{type, message}`; both become an ExecTaskError. */
function taskError (value: unknown): ExecTaskError {
  if (typeof value === 'string') return { type: 'Error', message: value.slice(0, EXEC_ERROR_CHARS_MAX) }
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
    const { type, message } = value as { type?: unknown, message: string }
    return { type: typeof type === 'string' && type !== '' ? type.slice(0, EXEC_NAME_CHARS_MAX) : 'Error', message: message.slice(0, EXEC_ERROR_CHARS_MAX) }
  }
  throw new ExecProtocolError('fail.error must be a message string or {"type": "...", "message": "..."}')
}

/** The start of a line, for error messages that must stay one short line. */
function preview (text: string): string {
  return text.length > 80 ? `${JSON.stringify(text.slice(0, 80))}…` : JSON.stringify(text)
}
