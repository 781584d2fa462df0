// Worst cases: every table filled to its limit with the largest fields still snapshots within
// TASKS_SNAPSHOT_BYTES_MAX (a queue that cannot snapshot would keep its Raft log forever).
import assert from 'node:assert/strict'
import type { SingleCommand } from '../../../protocols/tasks/messages.ts'
import { CAPABILITIES_MAX, IDEMPOTENCY_KEY_CHARS_MAX, NAME_CHARS_MAX, NON_RETRYABLE_ERRORS_MAX, TASK_INPUT_BYTES_MAX, TASK_OUTPUT_BYTES_MAX } from '../../../protocols/tasks/messages.ts'
import { NODE_ID_CHARS_MAX } from '../../../protocols/raft/messages.ts'
import { TASKS_SNAPSHOT_BYTES_MAX } from '../../../protocols/tasks/snapshot.ts'
import { HISTORY_MAX, IDEMPOTENCY_KEYS_MAX, QUEUE_TASKS_MAX, WORKERS_MAX } from '../../../protocols/tasks/state.ts'
import { Queue } from './harness.ts'

const long = (prefix: string, chars: number): string => (prefix + 'x'.repeat(chars)).slice(0, chars)

function registerWorkers (q: Queue): void {
  for (let i = 0; i < WORKERS_MAX; i++) {
    const capabilities = Array.from({ length: CAPABILITIES_MAX }, (_, c) => long(`cap${c}-`, NAME_CHARS_MAX))
    q.apply({ op: 'claim', worker: long(`worker${i}-`, NODE_ID_CHARS_MAX), max: 0, capabilities, concurrency: 256 })
  }
}

describe('tasks limits: the snapshot fits at every limit', function () {
  this.timeout(120_000)

  it('long names everywhere, idempotency keys to IDEMPOTENCY_KEYS_MAX, workers to WORKERS_MAX', () => {
    const q = new Queue({ retentionMs: 86_400_000 })
    registerWorkers(q)
    const by = long('client-', NODE_ID_CHARS_MAX)
    for (let i = 0; i < IDEMPOTENCY_KEYS_MAX; i += 16) {
      const commands: SingleCommand[] = []
      for (let k = i; k < i + 16; k++) {
        commands.push({ op: 'submit', by, input: new Uint8Array(), capability: long('cap0-', NAME_CHARS_MAX), idempotencyKey: long(`key${k}-`, IDEMPOTENCY_KEY_CHARS_MAX), retry: { nonRetryableErrors: Array.from({ length: NON_RETRYABLE_ERRORS_MAX }, (_, e) => long(`E${e}`, NAME_CHARS_MAX)) } })
      }
      q.apply({ op: 'batch', commands })
      for (const t of q.machine.tasks()) if (t.state === 'submitted') q.apply({ op: 'cancel', by, taskId: t.id })
    }
    const bytes = q.machine.snapshot()
    assert.ok(bytes.byteLength < TASKS_SNAPSHOT_BYTES_MAX, `${bytes.byteLength} bytes`)
  })

  it('QUEUE_TASKS_MAX small tasks, each with a full history and an error', () => {
    const q = new Queue({ retry: { maximumAttempts: 100, initialIntervalMs: 1, jitter: 0 }, breaker: { minimumNumberOfCalls: 20, failureRateThreshold: 100 } })
    registerWorkers(q)
    for (let i = 0; i < QUEUE_TASKS_MAX; i += 256) q.apply({ op: 'batch', commands: Array.from({ length: 256 }, () => ({ op: 'submit' as const, by: 'c', input: new Uint8Array() })) })
    assert.equal(q.machine.tasks().length, QUEUE_TASKS_MAX)
    for (let round = 0; round < HISTORY_MAX / 2; round++) { // each round: working, retrying (then submitted)
      q.apply({ op: 'batch', commands: Array.from({ length: 64 }, (_, w) => ({ op: 'claim' as const, worker: `w${round}-${w}`, max: 64, concurrency: 256 })) })
      q.apply({ op: 'worker-dead', worker: 'none' })
      for (let w = 0; w < 64; w++) q.apply({ op: 'worker-dead', worker: `w${round}-${w}` })
      q.advance(10)
    }
    assert.ok(q.machine.tasks().every((t) => t.history.length === HISTORY_MAX && t.error !== undefined))
    const bytes = q.machine.snapshot()
    assert.ok(bytes.byteLength < TASKS_SNAPSHOT_BYTES_MAX, `${bytes.byteLength} bytes`)
  })

  it('inputs and outputs to QUEUE_BYTES_MAX, with the worker registry full', () => {
    const q = new Queue()
    registerWorkers(q)
    const input = new Uint8Array(TASK_INPUT_BYTES_MAX)
    for (;;) if (!q.apply({ op: 'submit', by: 'c', input: input.subarray(0, TASK_INPUT_BYTES_MAX / 2) }).ok) break
    const leases = q.claim('w', { max: 64, concurrency: 256 })
    for (const lease of leases) q.complete('w', lease, new Uint8Array(TASK_OUTPUT_BYTES_MAX)) // refused once full
    const bytes = q.machine.snapshot()
    assert.ok(bytes.byteLength < TASKS_SNAPSHOT_BYTES_MAX, `${bytes.byteLength} bytes`)
    assert.ok(bytes.byteLength > 5_000_000, 'the queue really is full')
  })
})
