// How the node's typed errors look over HTTP: a status per `AgentMeshError.code` and one JSON
// body shape, {error: {code, message}}, for every failure the API returns.

import { AgentMeshError, describeError } from '../../protocols/kit/errors.ts'

/** The body of every error response. */
export interface ErrorBody { error: { code: string, message: string } }

/** An API-level failure (bad input, auth, limits) with its HTTP status. */
export class ApiError extends AgentMeshError {
  override name = 'ApiError'
  readonly status: number
  constructor (status: number, code: string, message: string) {
    super(code, message)
    this.status = status
  }
}

/**
 * Status per node error code. 4xx: the caller can fix the request; 502/503/504: the mesh could
 * not answer now (retry later); 500 only for errors nobody anticipated.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ERR_DECODE: 400,
  ERR_BAD_REQUEST: 400,
  ERR_LIMIT_EXCEEDED: 413,
  ERR_TIMEOUT: 504,
  ERR_ABORTED: 503,
  ERR_NOT_RUNNING: 503,
  ERR_PEER_UNREACHABLE: 502,
  ERR_UNKNOWN_METHOD: 404,
  ERR_REMOTE: 502,
  // The peer refused: over its per-peer request rate (DIRECT_REQUESTS_PER_PEER_PER_S); slow down.
  ERR_RATE_LIMITED: 429,
  ERR_EVENT_NOT_FOUND: 404,
  ERR_SUBSCRIBER_LAGGED: 410,
  ERR_RECORD_REJECTED: 422,
  ERR_NO_REPLICAS: 503,
  ERR_NO_LEADER: 503,
  ERR_GROUP_NOT_JOINED: 404,
  ERR_GROUP_CONFIG: 409,
  ERR_LOCK_UNAVAILABLE: 409,
  ERR_NOT_BUILTIN_KV: 409,
  ERR_BFT_NOT_CONFIGURED: 409,
  ERR_APPLY: 422,
  ERR_BFT_NOT_A_MEMBER: 403,
  ERR_BFT_GROUP_SIZE: 400,
  ERR_BFT_VALIDATION_REJECTED: 422,
  ERR_BFT_ALREADY_JOINED: 409,
  // Task queues: a stale lease means another worker owns the task now (stop; do not retry the call).
  ERR_STALE_LEASE: 409,
  ERR_TASK_REFUSED: 409,
  ERR_TASK_FAILED: 422,
  ERR_TASK_NOT_FOUND: 404,
  ERR_QUEUE_NOT_FOUND: 404,
  ERR_TASK_REQUEST_REFUSED: 503,
  // Writer lists: this node is not on the doc's or topic's list; every restricted node would refuse it.
  ERR_NOT_A_WRITER: 403
}

/** Status per refusal of a queue command (TaskRefusedError.refusal; protocols/tasks RefusalCode). */
const STATUS_BY_REFUSAL: Readonly<Record<string, number>> = {
  'unknown-task': 404,
  'not-allowed': 403,
  'invalid-state': 409,
  'already-applied': 409,
  'limit-exceeded': 413,
  // The queue is at QUEUE_TASKS_MAX / QUEUE_BYTES_MAX until retention frees room: retry later.
  'queue-full': 503,
  'rate-limited': 429,
  malformed: 400,
  oversized: 413
}

/** The status of a refused queue command or request, from its refusal code. */
function refusalStatus (err: AgentMeshError): number | undefined {
  if (err.code !== 'ERR_TASK_REFUSED' && err.code !== 'ERR_TASK_REQUEST_REFUSED') return undefined
  const refusal = (err as AgentMeshError & { refusal?: unknown }).refusal
  return typeof refusal === 'string' ? STATUS_BY_REFUSAL[refusal] : undefined
}

/** The HTTP status and body for any thrown value. */
export function errorResponse (err: unknown): { status: number, body: ErrorBody } {
  if (err instanceof ApiError) return { status: err.status, body: { error: { code: err.code, message: err.message } } }
  if (err instanceof AgentMeshError) {
    return { status: refusalStatus(err) ?? STATUS_BY_CODE[err.code] ?? 500, body: { error: { code: err.code, message: err.message } } }
  }
  // RangeError is what the node throws for an argument out of its allowed range (a caller's fix).
  if (err instanceof RangeError) return { status: 400, body: { error: { code: 'ERR_BAD_REQUEST', message: err.message } } }
  return { status: 500, body: { error: { code: 'ERR_INTERNAL', message: describeError(err) } } }
}
