// The queue's whole replicated state as CBOR, for a Raft snapshot (SnapshotHooks), and back.
// Maps are written in insertion order, which is part of the state (FIFO, oldest-first purges).

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { LimitExceededError } from '../kit/errors.ts'
import { SNAPSHOT_BYTES_MAX } from '../raft/messages.ts'
import type { Breaker } from './breaker.ts'
import type { QueuePolicy } from './policy.ts'
import { QueueState } from './state.ts'
import type { Task, TaskFault } from './state.ts'

/** Bytes of a queue snapshot: one Raft snapshot, less 1 MiB for the request de-duplication table wrapped around it. */
export const TASKS_SNAPSHOT_BYTES_MAX = SNAPSHOT_BYTES_MAX - 1024 * 1024

const VERSION = 1

interface Encoded {
  v: number
  policy: QueuePolicy
  tasks: Task[]
  ready: string[]
  workers: Array<{ id: string, capabilities: string[], concurrency: number, lastSeenMs: number, breaker: Breaker }>
  idempotency: Array<[string, string, number]>
  deadLetters: Array<[string, number]>
  ended: Array<[string, number]>
  counters: number[]
  cursor: string
}

/** Encode the state; throws LimitExceededError past TASKS_SNAPSHOT_BYTES_MAX (the limits keep it under). */
export function encodeQueueState (s: QueueState): Uint8Array {
  const value: Encoded = {
    v: VERSION,
    policy: withoutUndefined(s.policy),
    tasks: [...s.tasks.values()].map((t) => withoutUndefined(t)),
    ready: s.ready,
    workers: [...s.workers.values()].map((w) => ({ id: w.id, capabilities: w.capabilities, concurrency: w.concurrency, lastSeenMs: w.lastSeenMs, breaker: w.breaker })),
    idempotency: [...s.idempotency].map(([k, e]) => [k, e.taskId, e.atMs]),
    deadLetters: [...s.deadLetters],
    ended: [...s.ended],
    counters: [s.clockMs, s.epoch, s.epochBaseMs, s.extendedEpoch, s.token, s.seq, s.appliedIndex, s.storedBytes, Number.isFinite(s.nextDueMs) ? s.nextDueMs : -1],
    cursor: s.cursor
  }
  const bytes = encodeCbor(value)
  if (bytes.byteLength > TASKS_SNAPSHOT_BYTES_MAX) throw new LimitExceededError(`Cannot snapshot task queue: ${bytes.byteLength} bytes exceeds TASKS_SNAPSHOT_BYTES_MAX (${TASKS_SNAPSHOT_BYTES_MAX})`)
  return bytes
}

/** Rebuild the state from snapshot bytes (the leases per worker are derived from the tasks). */
export function decodeQueueState (bytes: Uint8Array, faults?: ReadonlySet<TaskFault>): QueueState {
  const v = decodeCbor(bytes, { bytesMax: TASKS_SNAPSHOT_BYTES_MAX, what: 'task queue snapshot' }) as Encoded
  if (v.v !== VERSION) throw new LimitExceededError(`Cannot restore task queue snapshot: version ${String(v.v)} is not ${VERSION}`)
  const s = new QueueState(v.policy, faults)
  for (const t of v.tasks) s.tasks.set(t.id, t)
  s.ready = v.ready
  for (const w of v.workers) s.workers.set(w.id, { ...w, leases: new Set() })
  for (const t of s.tasks.values()) if (t.lease !== undefined) s.workers.get(t.lease.worker)?.leases.add(t.id)
  for (const [key, taskId, atMs] of v.idempotency) s.idempotency.set(key, { taskId, atMs })
  for (const [id, at] of v.deadLetters) s.deadLetters.set(id, at)
  for (const [id, at] of v.ended) s.ended.set(id, at)
  const [clockMs, epoch, epochBaseMs, extendedEpoch, token, seq, appliedIndex, storedBytes, nextDueMs] = v.counters as [number, number, number, number, number, number, number, number, number]
  Object.assign(s, { clockMs, epoch, epochBaseMs, extendedEpoch, token, seq, appliedIndex, storedBytes, nextDueMs: nextDueMs < 0 ? Infinity : nextDueMs, cursor: v.cursor })
  return s
}

/** CBOR refuses `undefined`; optional fields that are unset are left out. */
function withoutUndefined<T extends object> (value: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(value)) {
    if (x === undefined) continue
    out[k] = typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array) ? withoutUndefined(x) : x
  }
  return out as T
}
