// The task machine, transition by transition (SPEC tasks): submit, claim, fenced results,
// retries, leases and the replicated clock, cancel, the gate, questions, dead letters.
import assert from 'node:assert/strict'
import { retryDelayMs } from '../../../protocols/tasks/backoff.ts'
import { StaleLeaseError, TaskRefusedError, errorFromRefusal } from '../../../protocols/tasks/errors.ts'
import { RETRY_DEFAULTS } from '../../../protocols/tasks/policy.ts'
import { HISTORY_MAX, QUEUE_BYTES_MAX, QUEUE_TASKS_MAX } from '../../../protocols/tasks/state.ts'
import { TASK_INPUT_BYTES_MAX } from '../../../protocols/tasks/messages.ts'
import { Queue } from './harness.ts'

describe('tasks machine: submit and claim', () => {
  it('a submit creates a task named by its log index, claimable at once', () => {
    const q = new Queue()
    const id = q.submit()
    assert.equal(id, '1')
    assert.equal(q.state(id), 'submitted')
    const [lease] = q.claim('w1')
    assert.deepEqual({ ...lease, expiresAtMs: 0 }, { taskId: id, attempt: 1, token: 1, expiresAtMs: 0, kind: 'work' })
    assert.equal(q.state(id), 'working')
    assert.equal(q.machine.get(id)?.worker, 'w1')
  })

  it('tasks inside a batch get ids "<index>.<i>" and results in order', () => {
    const q = new Queue()
    const r = q.apply({ op: 'batch', commands: [{ op: 'submit', by: 'c', input: new Uint8Array() }, { op: 'submit', by: 'c', input: new Uint8Array() }] })
    assert.ok(r.ok && r.op === 'batch')
    assert.deepEqual(r.results.map((x) => x.ok && x.op === 'submit' ? x.taskId : ''), ['1.0', '1.1'])
  })

  it('an idempotency key within its window returns the first task; after it, a new one (T4)', () => {
    const q = new Queue({ dedupWindowMs: 10_000 })
    const first = q.submit({ idempotencyKey: 'order-7' })
    const again = q.apply({ op: 'submit', by: 'client', input: new Uint8Array(), idempotencyKey: 'order-7' })
    assert.deepEqual(again, { ok: true, op: 'submit', taskId: first, state: 'submitted', duplicate: true })
    assert.equal(q.machine.tasks().length, 1)
    q.advance(10_001)
    assert.notEqual(q.submit({ idempotencyKey: 'order-7' }), first)
  })

  it('claims take the highest priority first, then submit order, and only capabilities the worker serves', () => {
    const q = new Queue()
    const low = q.submit()
    const high = q.submit({ priority: 5 })
    const other = q.submit({ capability: 'translate', priority: 9 })
    const low2 = q.submit()
    assert.deepEqual(q.claim('w1', { max: 3 }).map((l) => l.taskId), [high])
    assert.deepEqual(q.claim('w2', { max: 3, capabilities: ['translate'], concurrency: 3 }).map((l) => l.taskId), [other, low, low2])
  })

  it('a claim never exceeds the worker\'s concurrency', () => {
    const q = new Queue()
    for (let i = 0; i < 5; i++) q.submit()
    assert.equal(q.claim('w1', { max: 5, concurrency: 2 }).length, 2)
    assert.equal(q.claim('w1', { max: 5 }).length, 0)
  })

  it('a full queue refuses submits (queue-full) but makes room by purging the oldest ended task, never a live one', () => {
    const q = new Queue()
    const batch = (n: number): void => { q.apply({ op: 'batch', commands: Array.from({ length: n }, () => ({ op: 'submit' as const, by: 'c', input: new Uint8Array() })) }) }
    for (let i = 0; i < QUEUE_TASKS_MAX / 256; i++) batch(256)
    const refused = q.apply({ op: 'submit', by: 'c', input: new Uint8Array() })
    assert.ok(!refused.ok && refused.code === 'queue-full', JSON.stringify(refused))
    const [lease] = q.claim('w')
    q.complete('w', lease!)
    const id = q.submit()
    assert.equal(q.machine.get(lease!.taskId), undefined, 'the completed task made room')
    assert.equal(q.state(id), 'submitted')
  })

  it('inputs are bounded in total by QUEUE_BYTES_MAX', () => {
    const q = new Queue()
    const input = new Uint8Array(TASK_INPUT_BYTES_MAX)
    let submitted = 0
    for (;;) {
      const r = q.apply({ op: 'submit', by: 'c', input })
      if (!r.ok) { assert.ok(r.code === 'queue-full' && /QUEUE_BYTES_MAX/.test(r.message)); break }
      submitted++
    }
    assert.equal(submitted, Math.floor(QUEUE_BYTES_MAX / (TASK_INPUT_BYTES_MAX + 800)))
    assert.ok(q.machine.snapshot().byteLength < 5 * 1024 * 1024)
  })

  it('an already-applied index is refused and changes nothing', () => {
    const q = new Queue()
    q.submit()
    const r = q.machine.apply({ op: 'submit', by: 'c', input: new Uint8Array() }, { index: 1 })
    assert.equal(r.ok, false)
    assert.equal(q.machine.tasks().length, 1)
  })
})

describe('tasks machine: fenced results (T2)', () => {
  it('the current holder completes once; every other result is a typed stale refusal', () => {
    const q = new Queue()
    const id = q.submit()
    const [lease] = q.claim('w1')
    assert.deepEqual(q.apply({ op: 'complete', worker: 'w1', taskId: id, token: lease!.token + 1, output: new Uint8Array() }), { ok: false, code: 'stale-lease', reason: 'token-mismatch', taskId: id, message: `Stale lease on task ${id}: token-mismatch (token ${lease!.token + 1}, current ${lease!.token})` })
    const r = q.apply({ op: 'complete', worker: 'w2', taskId: id, token: lease!.token, output: new Uint8Array() })
    assert.ok(!r.ok && r.code === 'stale-lease' && r.reason === 'not-holder')
    assert.deepEqual(q.complete('w1', lease!), { ok: true, op: 'task', taskId: id, state: 'completed' })
    const twice = q.complete('w1', lease!)
    assert.ok(!twice.ok && twice.code === 'stale-lease' && twice.reason === 'not-leased')
    assert.deepEqual(q.machine.get(id)?.result, new Uint8Array([7]))
  })

  it('a worker whose lease expired loses the task; its late result is refused; the new holder\'s token is higher', () => {
    const q = new Queue({ leaseMs: 1000, retry: { initialIntervalMs: 100, jitter: 0 } })
    const id = q.submit()
    const [old] = q.claim('slow')
    q.advance(1000)
    assert.equal(q.state(id), 'retrying')
    assert.equal(q.machine.get(id)?.error?.type, 'lease-expired')
    q.advance(100)
    const [fresh] = q.claim('fast')
    assert.ok(fresh!.token > old!.token)
    assert.equal(fresh!.attempt, 2)
    const late = q.complete('slow', old!)
    assert.ok(!late.ok && late.code === 'stale-lease')
    assert.equal(q.complete('fast', fresh!).ok, true)
  })

  it('refusals map to typed errors: StaleLeaseError with its reason, TaskRefusedError otherwise', () => {
    const q = new Queue()
    const id = q.submit()
    const [lease] = q.claim('w1')
    const r = q.apply({ op: 'complete', worker: 'w1', taskId: id, token: lease!.token + 5, output: new Uint8Array() })
    assert.ok(!r.ok)
    const err = errorFromRefusal(r)
    assert.ok(err instanceof StaleLeaseError && err.reason === 'token-mismatch' && err.taskId === id && err.code === 'ERR_STALE_LEASE')
    const c = q.apply({ op: 'cancel', by: 'stranger', taskId: id })
    assert.ok(!c.ok && errorFromRefusal(c) instanceof TaskRefusedError)
    assert.match(errorFromRefusal(c).message, /only its submitter or a queue member/)
  })

  it('updates come out in apply order: states with the replicated clock, leases with their tokens', () => {
    const q = new Queue()
    q.advance(50)
    const id = q.submit()
    const [lease] = q.claim('w1')
    q.complete('w1', lease!)
    const updates = q.machine.drainUpdates()
    assert.deepEqual(updates.map((u) => u.kind === 'state' ? `${u.state}@${u.atMs}` : u.kind === 'lease' ? `lease#${u.token}` : u.kind), ['submitted@50', 'working@50', `lease#${lease!.token}`, 'completed@50'])
    assert.ok(updates.every((u) => u.taskId === id))
    assert.deepEqual(q.machine.drainUpdates(), [])
  })

  it('a result for an unknown task is a stale refusal', () => {
    const q = new Queue()
    const r = q.apply({ op: 'fail', worker: 'w', taskId: '99', token: 1, error: { type: 'x', message: '' } })
    assert.ok(!r.ok && r.code === 'stale-lease' && r.reason === 'unknown-task')
  })
})

describe('tasks machine: leases and the replicated clock', () => {
  it('one renew extends every lease of the worker and names lost and canceled ones', () => {
    const q = new Queue({ leaseMs: 1000 })
    const a = q.submit()
    const b = q.submit()
    const leases = q.claim('w1', { max: 2, concurrency: 2 })
    q.advance(900)
    q.apply({ op: 'cancel', by: 'client', taskId: b })
    const r = q.apply({ op: 'renew', worker: 'w1', held: [...leases.map((l) => ({ taskId: l.taskId, token: l.token })), { taskId: '77', token: 3 }] })
    assert.ok(r.ok && r.op === 'renew')
    assert.equal(r.renewed, 1)
    assert.deepEqual(r.canceled, [b])
    assert.deepEqual(r.lost, ['77'])
    q.advance(900)
    assert.equal(q.state(a), 'working', 'the renewed lease still runs')
  })

  it('ticks: duplicates and reorders change nothing, a deposed leader is ignored, a new epoch continues the clock', () => {
    const q = new Queue()
    q.apply({ op: 'tick', epoch: 2, elapsedMs: 500 })
    q.apply({ op: 'tick', epoch: 2, elapsedMs: 500 })
    q.apply({ op: 'tick', epoch: 2, elapsedMs: 300 })
    assert.equal(q.machine.clockMs, 500)
    q.apply({ op: 'tick', epoch: 1, elapsedMs: 9_999 })
    assert.equal(q.machine.clockMs, 500)
    q.apply({ op: 'tick', epoch: 3, elapsedMs: 200 })
    assert.equal(q.machine.clockMs, 700)
  })

  it('leader-changed extends live leases to a full lease once per epoch', () => {
    const q = new Queue({ leaseMs: 1000 })
    const id = q.submit()
    q.claim('w1')
    q.advance(800)
    assert.deepEqual(q.apply({ op: 'leader-changed', epoch: 2 }), { ok: true, op: 'leader-changed', extended: 1 })
    assert.equal(q.machine.get(id)?.lease?.expiresAtMs, 1800)
    assert.deepEqual(q.apply({ op: 'leader-changed', epoch: 2 }), { ok: true, op: 'leader-changed', extended: 0 }, 'a duplicate does nothing')
    q.epoch = 2; q.elapsedMs = 0
    q.advance(999)
    assert.equal(q.state(id), 'working')
    q.advance(1)
    assert.equal(q.state(id), 'retrying')
  })

  it('worker-dead ends every lease of the worker at once', () => {
    const q = new Queue()
    const a = q.submit()
    const b = q.submit()
    q.claim('w1', { max: 2, concurrency: 2 })
    assert.deepEqual(q.apply({ op: 'worker-dead', worker: 'w1' }), { ok: true, op: 'worker-dead', expired: 2 })
    assert.equal(q.state(a), 'retrying')
    assert.equal(q.state(b), 'retrying')
    assert.equal(q.machine.get(a)?.error?.type, 'worker-dead')
    assert.deepEqual(q.machine.workers().map((w) => w.id), [])
  })

  it('a big clock step expires many leases, at most EXPIRIES_PER_APPLY_MAX per apply, and results stay fenced meanwhile', () => {
    const q = new Queue({ leaseMs: 1000 })
    const ids: string[] = []
    for (let i = 0; i < 300; i++) ids.push(q.submit({ input: new Uint8Array() }))
    const leases = q.claim('w', { max: 64, concurrency: 256 })
    for (let i = 0; i < 4; i++) leases.push(...q.claim('w', { max: 64 }))
    assert.equal(leases.length, 256)
    q.advance(50_000)
    const late = q.complete('w', leases[255]!)
    assert.ok(!late.ok && late.code === 'stale-lease', 'judged on the clock even before its timer ran')
    q.advance(1)
    assert.ok(ids.every((id) => q.state(id) !== 'working'))
  })
})

describe('tasks machine: retries, timeouts, dead letters', () => {
  it('a retryable failure waits its backoff in retrying, then is claimable; the delay is Temporal\'s with hash jitter', () => {
    const q = new Queue()
    const id = q.submit()
    q.fail('w1', q.claim('w1')[0]!)
    assert.equal(q.state(id), 'retrying')
    const delay = retryDelayMs(RETRY_DEFAULTS, { taskId: id, failedAttempt: 1 })
    assert.ok(delay <= 1000 && delay >= 800, `delay ${delay}`)
    q.advance(delay - 1)
    assert.equal(q.state(id), 'retrying')
    q.advance(1)
    assert.equal(q.state(id), 'submitted')
  })

  it('non-retryable errors, retryable: false and spent attempts end in failed, listed as dead letters', () => {
    const q = new Queue({ retry: { maximumAttempts: 2, nonRetryableErrors: ['Fatal'], initialIntervalMs: 10, jitter: 0 } })
    const fatal = q.submit()
    q.fail('w', q.claim('w')[0]!, 'Fatal')
    const refused = q.submit()
    q.fail('w', q.claim('w')[0]!, 'Oops', false)
    const spent = q.submit()
    q.fail('w', q.claim('w')[0]!)
    q.advance(10)
    q.fail('w', q.claim('w')[0]!)
    assert.deepEqual([fatal, refused, spent].map((id) => q.state(id)), ['failed', 'failed', 'failed'])
    assert.deepEqual(q.machine.deadLetters().map((t) => t.id), [fatal, refused, spent])
    assert.equal(q.machine.get(spent)?.attempt, 2)
  })

  it('a per-task retry override wins over the queue\'s', () => {
    const q = new Queue({ retry: { maximumAttempts: 5 } })
    const id = q.submit({ retry: { maximumAttempts: 1 } })
    q.fail('w', q.claim('w')[0]!)
    assert.equal(q.state(id), 'failed')
  })

  it('redrive sends a dead letter back with a fresh attempt series; only its submitter or a member may', () => {
    const q = new Queue({ retry: { maximumAttempts: 1 }, members: ['m1'] })
    const id = q.submit()
    q.fail('w', q.claim('w')[0]!)
    assert.equal(q.apply({ op: 'redrive', by: 'stranger', taskId: id }).ok, false)
    assert.deepEqual(q.apply({ op: 'redrive', by: 'm1', taskId: id }), { ok: true, op: 'task', taskId: id, state: 'submitted' })
    assert.deepEqual(q.machine.deadLetters(), [])
    assert.equal(q.claim('w')[0]!.attempt, 1)
  })

  it('dead letters are bounded by count and age', () => {
    const q = new Queue({ retry: { maximumAttempts: 1 }, deadLetter: { maxTasks: 2, retentionMs: 5000 } })
    const ids = [q.submit(), q.submit(), q.submit()]
    for (let i = 0; i < 3; i++) q.fail('w', q.claim('w')[0]!)
    q.advance(1)
    assert.deepEqual(q.machine.deadLetters().map((t) => t.id), ids.slice(1))
    assert.equal(q.machine.get(ids[0]!), undefined)
    q.advance(5000)
    assert.deepEqual(q.machine.deadLetters(), [])
  })

  it('schedule-to-start fails a task nobody takes with no-healthy-worker; schedule-to-close with timeout; start-to-close retries', () => {
    const q = new Queue({ retry: { initialIntervalMs: 10, jitter: 0 } })
    const waiting = q.submit({ scheduleToStartMs: 1000, capability: 'x' })
    q.claim('busy', { capabilities: ['w'] }) // nobody serves x
    const total = q.submit({ timeoutMs: 2000, capability: 'y' })
    const slow = q.submit({ startToCloseMs: 500, capability: 'z' })
    q.claim('z-worker', { capabilities: ['z'] })
    q.advance(500)
    assert.equal(q.machine.get(slow)?.error?.type, 'start-to-close-timeout')
    q.advance(500)
    assert.equal(q.state(waiting), 'failed')
    assert.equal(q.machine.get(waiting)?.error?.type, 'no-healthy-worker')
    q.advance(1000)
    assert.equal(q.state(total), 'failed')
    assert.equal(q.machine.get(total)?.error?.type, 'timeout')
  })

  it('history is bounded and stamped with the replicated clock', () => {
    const q = new Queue({ retry: { initialIntervalMs: 10, jitter: 0, maximumAttempts: 50 } })
    const id = q.submit()
    for (let i = 0; i < 20; i++) { q.fail(`w${i}`, q.claim(`w${i}`)[0]!); q.advance(10_000) } // one worker each: its breaker would open
    const history = q.machine.get(id)!.history
    assert.equal(history.length, HISTORY_MAX)
    assert.ok(history.every((h, i) => i === 0 || h.atMs >= history[i - 1]!.atMs))
  })
})

describe('tasks machine: cancel, gate, questions', () => {
  it('cancel ends a live task (submitter or member only) and a canceled task stays canceled', () => {
    const q = new Queue({ members: ['m1'] })
    const id = q.submit()
    const [lease] = q.claim('w')
    assert.ok(!q.apply({ op: 'cancel', by: 'stranger', taskId: id }).ok)
    assert.deepEqual(q.apply({ op: 'cancel', by: 'client', taskId: id }), { ok: true, op: 'task', taskId: id, state: 'canceled' })
    assert.ok(!q.complete('w', lease!).ok)
    assert.ok(!q.apply({ op: 'cancel', by: 'm1', taskId: id }).ok)
  })

  it('the gate: complete → validating; another worker validates under its own fenced lease; accept → completed', () => {
    const q = new Queue({ gate: true })
    const id = q.submit()
    const [work] = q.claim('w1')
    q.complete('w1', work!)
    assert.equal(q.state(id), 'validating')
    assert.deepEqual(q.claim('w1', { kind: 'validate' }), [], 'nobody judges their own work')
    const [check] = q.claim('v1', { kind: 'validate' })
    assert.ok(check!.token > work!.token)
    assert.ok(!q.apply({ op: 'verdict', worker: 'v1', taskId: id, token: work!.token, accept: true }).ok)
    assert.deepEqual(q.apply({ op: 'verdict', worker: 'v1', taskId: id, token: check!.token, accept: true }), { ok: true, op: 'task', taskId: id, state: 'completed' })
  })

  it('the gate rejects with feedback (a new attempt that sees it), or for good (rejected); an expired validation lease goes back', () => {
    const q = new Queue({ gate: true, leaseMs: 1000, retry: { initialIntervalMs: 10, jitter: 0 } })
    const id = q.submit()
    q.complete('w1', q.claim('w1')[0]!)
    q.claim('v1', { kind: 'validate' })
    q.advance(1000)
    assert.equal(q.state(id), 'validating')
    const [check] = q.claim('v2', { kind: 'validate' })
    q.apply({ op: 'verdict', worker: 'v2', taskId: id, token: check!.token, accept: false, feedback: 'cite sources' })
    assert.equal(q.state(id), 'retrying')
    q.advance(10)
    const [again] = q.claim('w1')
    assert.equal(again!.attempt, 2)
    assert.equal(q.machine.get(id)?.feedback, 'cite sources')
    q.complete('w1', again!)
    const [check2] = q.claim('v2', { kind: 'validate' })
    q.apply({ op: 'verdict', worker: 'v2', taskId: id, token: check2!.token, accept: false, final: true })
    assert.equal(q.state(id), 'rejected')
  })

  it('ask pauses a task as input-required; the answer makes it claimable with the answer as feedback', () => {
    const q = new Queue()
    const id = q.submit()
    const [lease] = q.claim('w')
    q.apply({ op: 'ask', worker: 'w', taskId: id, token: lease!.token, question: 'which language?' })
    assert.equal(q.state(id), 'input-required')
    assert.equal(q.machine.get(id)?.question, 'which language?')
    assert.ok(!q.apply({ op: 'answer', by: 'stranger', taskId: id, answer: 'x' }).ok)
    q.apply({ op: 'answer', by: 'client', taskId: id, answer: 'French' })
    assert.equal(q.state(id), 'submitted')
    assert.equal(q.machine.get(id)?.feedback, 'French')
  })
})
