// The tasks codec: every command round-trips; malformed and oversized input gets a typed error
// naming the field and limit; requests cannot name their sender or carry driver commands.
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'
import {
  BATCH_COMMANDS_MAX, CLAIM_TASKS_MAX, COMMAND_BYTES_MAX, HELD_LEASES_MAX, NOTE_CHARS_MAX, TASK_INPUT_BYTES_MAX, TASK_OUTPUT_BYTES_MAX,
  commandFromRequest, decodeTaskCommand, decodeTaskRequest, describeCommand, encodeTaskCommand, encodeTaskRequest, validateTaskCommand
} from '../../../protocols/tasks/messages.ts'
import type { SingleCommand, TaskCommand, TaskRequest } from '../../../protocols/tasks/messages.ts'
import { queuePolicy } from '../../../protocols/tasks/policy.ts'

const bytes = (n: number): Uint8Array => new Uint8Array(n)

export const SAMPLE_REQUESTS: TaskRequest[] = [
  { op: 'submit', input: bytes(3), capability: 'translate', priority: 7, idempotencyKey: 'k', timeoutMs: 1000, scheduleToStartMs: 10, startToCloseMs: 20, retry: { maximumAttempts: 3, nonRetryableErrors: ['Fatal'] } },
  { op: 'submit', input: bytes(0) },
  { op: 'claim', max: 4, kind: 'validate', capabilities: ['a', 'b'], concurrency: 2 },
  { op: 'renew', held: [{ taskId: '1', token: 3 }] },
  { op: 'complete', taskId: '1', token: 3, output: bytes(5) },
  { op: 'fail', taskId: '1', token: 3, error: { type: 'Oops', message: 'no' }, retryable: false },
  { op: 'verdict', taskId: '1', token: 4, accept: false, feedback: 'more', final: true },
  { op: 'ask', taskId: '1', token: 3, question: '?' },
  { op: 'answer', taskId: '1', answer: '!' },
  { op: 'bid', taskId: '1', attempt: 1, cost: 2.5, etaMs: 100 },
  { op: 'cancel', taskId: '1' },
  { op: 'redrive', taskId: '1' }
]

const DRIVER: TaskCommand[] = [
  { op: 'award', taskId: '1', attempt: 1 },
  { op: 'worker-dead', worker: 'peer' },
  { op: 'leader-changed', epoch: 3 },
  { op: 'tick', epoch: 3, elapsedMs: 12_345 }
]

function throwsNamed (fn: () => unknown, type: typeof DecodeError | typeof LimitExceededError, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof type && pattern.test((err as Error).message))
}

describe('tasks messages', () => {
  it('every request round-trips, and becomes a command with the sender from the connection', () => {
    for (const request of SAMPLE_REQUESTS) {
      assert.deepEqual(decodeTaskRequest(encodeTaskRequest(request)), request)
      const command = commandFromRequest(request, { peer: 'peer-A' })
      const who = (command as { worker?: string, by?: string })
      assert.equal(who.worker ?? who.by, 'peer-A')
      assert.deepEqual(decodeTaskCommand(encodeTaskCommand(command)), command)
      assert.ok(describeCommand(command).startsWith(request.op))
    }
  })

  it('driver commands and batches round-trip', () => {
    for (const c of DRIVER) assert.deepEqual(decodeTaskCommand(encodeTaskCommand(c)), c)
    const batch: TaskCommand = { op: 'batch', commands: SAMPLE_REQUESTS.map((r) => commandFromRequest(r, { peer: 'p' })) }
    assert.deepEqual(decodeTaskCommand(encodeTaskCommand(batch)), batch)
    assert.match(describeCommand(batch), /^batch\(12\)/)
  })

  it('a request cannot name its sender, nor carry a driver command or a batch', () => {
    throwsNamed(() => decodeTaskRequest(encodeCbor({ op: 'claim', max: 1, worker: 'someone-else' })), DecodeError, /unexpected field "worker"/)
    throwsNamed(() => decodeTaskRequest(encodeCbor({ op: 'cancel', taskId: '1', by: 'member' })), DecodeError, /unexpected field "by"/)
    for (const c of [...DRIVER, { op: 'batch', commands: [] }]) throwsNamed(() => decodeTaskRequest(encodeCbor(c)), DecodeError, /unknown op/)
  })

  it('a command without its sender, or with a nested batch, is refused', () => {
    throwsNamed(() => validateTaskCommand({ op: 'claim', max: 1 }), DecodeError, /worker is not a non-empty string/)
    throwsNamed(() => validateTaskCommand({ op: 'batch', commands: [{ op: 'batch', commands: [] }] }), DecodeError, /unknown op/)
  })

  it('oversized fields name their limit', () => {
    const peer = { peer: 'p' }
    throwsNamed(() => validateTaskCommand(commandFromRequest({ op: 'submit', input: bytes(TASK_INPUT_BYTES_MAX + 1) }, peer)), LimitExceededError, /TASK_INPUT_BYTES_MAX/)
    throwsNamed(() => validateTaskCommand(commandFromRequest({ op: 'complete', taskId: '1', token: 1, output: bytes(TASK_OUTPUT_BYTES_MAX + 1) }, peer)), LimitExceededError, /TASK_OUTPUT_BYTES_MAX/)
    throwsNamed(() => validateTaskCommand({ op: 'claim', worker: 'w', max: CLAIM_TASKS_MAX + 1 }), LimitExceededError, /max/)
    throwsNamed(() => validateTaskCommand({ op: 'renew', worker: 'w', held: Array.from({ length: HELD_LEASES_MAX + 1 }, () => ({ taskId: '1', token: 1 })) }), LimitExceededError, /HELD_LEASES_MAX/)
    throwsNamed(() => validateTaskCommand({ op: 'answer', by: 'b', taskId: '1', answer: 'x'.repeat(NOTE_CHARS_MAX + 1) }), LimitExceededError, /NOTE_CHARS_MAX/)
    throwsNamed(() => validateTaskCommand({ op: 'batch', commands: Array.from({ length: BATCH_COMMANDS_MAX + 1 }, () => DRIVER[2]) }), LimitExceededError, /BATCH_COMMANDS_MAX/)
    throwsNamed(() => validateTaskCommand({ op: 'cancel', by: 'b', taskId: 'x'.repeat(129) }), LimitExceededError, /NAME_CHARS_MAX/)
    throwsNamed(() => decodeTaskCommand(bytes(COMMAND_BYTES_MAX + 1)), LimitExceededError, /exceeds limit/)
  })

  it('malformed fields are refused with the field named', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /not a map/],
      [[1, 2], /not a map/],
      [{ op: 7 }, /op is not a string/],
      [{ op: 'submit', by: 'c', input: 'text' }, /input is not bytes/],
      [{ op: 'submit', by: 'c', input: bytes(1), priority: -1 }, /priority/],
      [{ op: 'submit', by: 'c', input: bytes(1), retry: { backoffCoefficient: 0.5 } }, /backoffCoefficient/],
      [{ op: 'submit', by: 'c', input: bytes(1), retry: { jitter: 2 } }, /jitter/],
      [{ op: 'claim', worker: 'w', max: 1, kind: 'steal' }, /kind/],
      [{ op: 'claim', worker: 'w', max: 1, concurrency: 0 }, /concurrency must be positive/],
      [{ op: 'complete', worker: 'w', taskId: '1', token: 1.5, output: bytes(1) }, /token/],
      [{ op: 'fail', worker: 'w', taskId: '1', token: 1, error: { type: '', message: '' } }, /type/],
      [{ op: 'bid', worker: 'w', taskId: '1', attempt: 1, cost: Infinity, etaMs: 1 }, /cost/],
      [{ op: 'tick', epoch: 1, elapsedMs: -5 }, /elapsedMs/],
      [{ op: 'tick', epoch: 1, elapsedMs: 5, extra: 1 }, /unexpected field/]
    ]
    for (const [value, pattern] of cases) {
      assert.throws(() => validateTaskCommand(value), (err: unknown) => (err instanceof DecodeError || err instanceof LimitExceededError) && pattern.test((err as Error).message), JSON.stringify(value, (_, v: unknown) => v instanceof Uint8Array ? 'bytes' : v))
    }
  })

  it('queue policy: defaults are Temporal\'s and Resilience4j\'s names; bad options are named', () => {
    const p = queuePolicy()
    assert.deepEqual(p.retry, { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 100_000, maximumAttempts: 0, nonRetryableErrors: [], jitter: 0.2 })
    assert.equal(queuePolicy({ retry: { initialIntervalMs: 50 } }).retry.maximumIntervalMs, 5000, 'maximum defaults to 100 × initial')
    assert.deepEqual(Object.keys(p.breaker).sort(), ['failureRateThreshold', 'minimumNumberOfCalls', 'permittedNumberOfCallsInHalfOpenState', 'slidingWindowSize', 'waitDurationInOpenStateMs'])
    assert.throws(() => queuePolicy({ breaker: { failureRateThreshold: 0 } }), /failureRateThreshold/)
    assert.throws(() => queuePolicy({ dispatch: 'random' as 'pull' }), /dispatch/)
    assert.throws(() => queuePolicy({ leaseMs: 0 }), /leaseMs/)
  })

  it('fuzz: arbitrary bytes and arbitrary maps decode to a command or a typed error, never anything else', () => {
    const typed = (fn: () => unknown): void => {
      try { fn() } catch (err) { if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => { typed(() => decodeTaskCommand(b)); typed(() => decodeTaskRequest(b)) }), { numRuns: 3000 })
    const ops = ['submit', 'claim', 'renew', 'complete', 'fail', 'verdict', 'ask', 'answer', 'bid', 'cancel', 'redrive', 'award', 'worker-dead', 'leader-changed', 'tick', 'batch']
    const field = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double(), fc.boolean(), fc.uint8Array({ maxLength: 8 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }))
    const map = fc.record({ op: fc.constantFrom(...ops) }).chain((base) => fc.dictionary(fc.constantFrom('worker', 'by', 'taskId', 'token', 'max', 'input', 'output', 'epoch', 'elapsedMs', 'attempt', 'commands', 'error', 'held', 'cost', 'etaMs', 'accept'), field, { maxKeys: 6 }).map((d) => ({ ...d, ...base })))
    fc.assert(fc.property(map, (m) => { typed(() => validateTaskCommand(m)); typed(() => decodeTaskRequest(encodeCbor(m))) }), { numRuns: 5000 })
  })

  it('sample commands cover every single op', () => {
    const ops = new Set([...SAMPLE_REQUESTS.map((r) => commandFromRequest(r, { peer: 'p' })), ...DRIVER].map((c) => (c as SingleCommand).op))
    assert.equal(ops.size, 15)
  })
})
