// Properties over random command sequences (fast-check): the invariants T1–T5 hold after every
// command, and a machine restored from a snapshot taken midway ends exactly where one that never
// stopped ends (same results, same bytes).
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeCbor, encodeCbor } from '../../../protocols/kit/cbor.ts'
import { TaskMachine } from '../../../protocols/tasks/machine.ts'
import type { TaskMachineOptions } from '../../../protocols/tasks/machine.ts'
import type { SingleCommand, TaskCommand } from '../../../protocols/tasks/messages.ts'
import type { TaskResult } from '../../../protocols/tasks/results.ts'
import { TasksChecker } from '../../../sim/tasks/checker.ts'

const worker = fc.constantFrom('w0', 'w1', 'w2')
const taskId = fc.integer({ min: 1, max: 10 }).map(String) // small ranges, so random results often name real leases
const token = fc.integer({ min: 1, max: 8 })
const single = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('submit' as const), by: fc.constantFrom('c1', 'c2'), input: fc.uint8Array({ maxLength: 4 }), idempotencyKey: fc.constantFrom('a', 'b', 'c'), capability: fc.constantFrom('x', 'y'), priority: fc.integer({ min: 0, max: 3 }), timeoutMs: fc.integer({ min: 1000, max: 20_000 }) }, { requiredKeys: ['op', 'by', 'input'] }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('claim' as const), worker, max: fc.integer({ min: 1, max: 3 }), kind: fc.constantFrom('work' as const, 'validate' as const), capabilities: fc.constantFrom(['x'], ['x', 'y'], ['y']), concurrency: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('renew' as const), worker }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('complete' as const), worker, taskId, token, output: fc.constant(new Uint8Array([1])) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fail' as const), worker, taskId, token, error: fc.record({ type: fc.constantFrom('Oops', 'Fatal'), message: fc.constant('') }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('verdict' as const), worker, taskId, token, accept: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ask' as const), worker, taskId, token, question: fc.constant('?') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('answer' as const), by: fc.constantFrom('c1', 'm1'), taskId, answer: fc.constant('!') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), by: fc.constantFrom('c1', 'c2', 'm1'), taskId }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('redrive' as const), by: fc.constant('m1'), taskId }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bid' as const), worker, taskId, attempt: fc.integer({ min: 1, max: 3 }), cost: fc.integer({ min: 0, max: 9 }), etaMs: fc.integer({ min: 0, max: 99 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('award' as const), taskId, attempt: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('worker-dead' as const), worker }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('leader-changed' as const), epoch: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('tick' as const), epoch: fc.integer({ min: 1, max: 4 }), elapsedMs: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 200_000 })) }) }
) as fc.Arbitrary<SingleCommand>
const command: fc.Arbitrary<TaskCommand> = fc.oneof({ weight: 12, arbitrary: single }, { weight: 1, arbitrary: fc.array(single, { minLength: 1, maxLength: 4 }).map((commands) => ({ op: 'batch' as const, commands })) })
const options: fc.Arbitrary<TaskMachineOptions> = fc.record({
  dispatch: fc.constantFrom('pull' as const, 'round-robin' as const, 'least-connections' as const, 'bid' as const),
  gate: fc.boolean(),
  leaseMs: fc.integer({ min: 500, max: 5000 }),
  members: fc.constant(['m1']),
  retry: fc.record({ maximumAttempts: fc.integer({ min: 1, max: 4 }), initialIntervalMs: fc.integer({ min: 1, max: 2000 }), nonRetryableErrors: fc.constant(['Fatal']) }),
  breaker: fc.constant({ slidingWindowSize: 4, minimumNumberOfCalls: 2, waitDurationInOpenStateMs: 3000 }),
  deadLetter: fc.record({ maxTasks: fc.integer({ min: 0, max: 5 }), retentionMs: fc.integer({ min: 1000, max: 50_000 }) }),
  retentionMs: fc.integer({ min: 0, max: 20_000 }),
  dedupWindowMs: fc.integer({ min: 0, max: 20_000 }),
  fallbackQueue: fc.constant('spare')
}, { requiredKeys: ['dispatch', 'gate', 'leaseMs', 'members', 'retry', 'breaker', 'deadLetter', 'retentionMs', 'dedupWindowMs'] })

function through (c: TaskCommand): unknown { return decodeCbor(encodeCbor(c), { bytesMax: 1 << 20, what: 'test' }) }

describe('tasks machine properties', function () {
  this.timeout(120_000)

  const invariantsHold = (faults: TaskMachineOptions['faults']): fc.IPropertyWithHooks<[TaskMachineOptions, TaskCommand[]]> =>
    fc.property(options, fc.array(command, { maxLength: 120 }), (opts, commands) => {
      const machine = new TaskMachine({ ...opts, faults })
      const checker = new TasksChecker()
      commands.forEach((c, i) => {
        checker.before(c, machine)
        const result = machine.apply(through(c), { index: i + 1 })
        checker.after(c, result, machine, machine.drainUpdates())
        checker.checkNoLoss(machine)
      })
      assert.deepEqual(checker.failures, [])
    })

  it('T1–T5 hold after every command of random sequences', () => {
    fc.assert(invariantsHold([]), { numRuns: 300 })
  })

  it('the same property fails on a machine with a deliberate bug (stale tokens accepted, tokens reused, keys ignored)', () => {
    const cases = [['accept-stale-token', /T2/], ['reuse-token', /T1|lease token/], ['ignore-idempotency', /T4/]] as const
    for (const [fault, caughtAs] of cases) {
      assert.throws(() => { fc.assert(invariantsHold([fault]), { numRuns: 1000, seed: 7 }) }, (err: Error) => caughtAs.test(String(err.cause)), fault)
    }
  })

  it('snapshot midway, restore, apply the rest: same results and same bytes as never stopping', () => {
    fc.assert(fc.property(options, fc.array(command, { maxLength: 80 }), fc.nat(), (opts, commands, cut) => {
      const split = commands.length === 0 ? 0 : cut % commands.length
      const straight = new TaskMachine(opts)
      const straightResults: TaskResult[] = commands.map((c, i) => straight.apply(through(c), { index: i + 1 }))
      let restarted = new TaskMachine(opts)
      const results: TaskResult[] = []
      commands.forEach((c, i) => {
        if (i === split) {
          const bytes = restarted.snapshot()
          restarted = new TaskMachine() // a replica that knows nothing but the snapshot
          restarted.restore(bytes)
        }
        results.push(restarted.apply(through(c), { index: i + 1 }))
      })
      assert.deepEqual(results, straightResults)
      assert.deepEqual(restarted.snapshot(), straight.snapshot())
    }), { numRuns: 300 })
  })
})
