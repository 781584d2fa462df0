// Dispatch decided inside apply (round-robin, least-connections, contract-net bids) and the
// per-worker circuit breaker with its fallback (SPEC tasks "Dispatch", "Retries, …, breaker").
import assert from 'node:assert/strict'
import { retryDelayFloorMs, retryDelayMs, jitterFraction } from '../../../protocols/tasks/backoff.ts'
import { breakerPermits, closedBreaker, recordOutcome } from '../../../protocols/tasks/breaker.ts'
import { BREAKER_DEFAULTS, RETRY_DEFAULTS } from '../../../protocols/tasks/policy.ts'
import { Queue } from './harness.ts'

function holders (q: Queue): string[] {
  return q.machine.tasks().map((t) => t.lease?.worker ?? '-')
}

describe('tasks dispatch', () => {
  it('round-robin pushes ready tasks to registered workers in turn', () => {
    const q = new Queue({ dispatch: 'round-robin' })
    for (const w of ['a', 'b', 'c']) q.claim(w, { concurrency: 5 })
    for (let i = 0; i < 6; i++) q.submit()
    assert.deepEqual(holders(q), ['a', 'b', 'c', 'a', 'b', 'c'])
  })

  it('least-connections pushes to the worker with the fewest leases', () => {
    const q = new Queue({ dispatch: 'least-connections' })
    q.claim('a', { concurrency: 5 })
    q.submit(); q.submit() // both to a: the only worker
    q.claim('b', { concurrency: 5 })
    for (let i = 0; i < 3; i++) q.submit()
    assert.deepEqual(holders(q), ['a', 'a', 'b', 'b', 'a'])
  })

  it('pushes skip a worker not heard from within a lease period (crashed workers stop renewing)', () => {
    const q = new Queue({ dispatch: 'round-robin', leaseMs: 1000 })
    q.claim('quiet', { concurrency: 5 })
    q.claim('alive', { concurrency: 5 })
    q.advance(600)
    q.apply({ op: 'renew', worker: 'alive' })
    q.advance(600)
    q.submit(); q.submit()
    assert.deepEqual(holders(q), ['alive', 'alive'])
  })

  it('a pushed lease reaches its worker through renew', () => {
    const q = new Queue({ dispatch: 'round-robin' })
    q.claim('a')
    const id = q.submit()
    const r = q.apply({ op: 'renew', worker: 'a' })
    assert.ok(r.ok && r.op === 'renew')
    assert.deepEqual(r.leases.map((l) => l.taskId), [id])
  })

  it('bid: the award goes to the lowest cost, then the earliest eta; the bids are recorded', () => {
    const q = new Queue({ dispatch: 'bid' })
    const id = q.submit()
    assert.deepEqual(q.claim('a'), [], 'a bid queue does not hand out tasks on claim')
    q.apply({ op: 'bid', worker: 'a', taskId: id, attempt: 1, cost: 5, etaMs: 100 })
    q.apply({ op: 'bid', worker: 'b', taskId: id, attempt: 1, cost: 3, etaMs: 900 })
    q.apply({ op: 'bid', worker: 'c', taskId: id, attempt: 1, cost: 3, etaMs: 200 })
    assert.equal(q.apply({ op: 'bid', worker: 'c', taskId: id, attempt: 2, cost: 1, etaMs: 1 }).ok, false, 'only the open attempt takes bids')
    const r = q.apply({ op: 'award', taskId: id, attempt: 1 })
    assert.ok(r.ok && r.op === 'award')
    assert.equal(q.machine.get(id)?.lease?.worker, 'c')
    assert.deepEqual(q.machine.get(id)?.bids.map((b) => b.worker), ['c', 'b', 'a'])
    assert.equal(q.apply({ op: 'award', taskId: id, attempt: 1 }).ok, false, 'an attempt is awarded once')
  })

  it('bid: no bids → the attempt fails no-bidder; once attempts are spent the task is rejected', () => {
    const q = new Queue({ dispatch: 'bid', retry: { maximumAttempts: 2, initialIntervalMs: 10, jitter: 0 } })
    const id = q.submit()
    q.apply({ op: 'award', taskId: id, attempt: 1 })
    assert.equal(q.state(id), 'retrying')
    q.advance(10)
    q.apply({ op: 'award', taskId: id, attempt: 2 })
    assert.equal(q.state(id), 'rejected')
    assert.equal(q.machine.get(id)?.error?.type, 'no-bidder')
  })

  it('a worker that keeps failing opens its breaker (no claims), half-opens after the wait, and closes on a success', () => {
    const q = new Queue({ breaker: { slidingWindowSize: 4, minimumNumberOfCalls: 2, failureRateThreshold: 50, waitDurationInOpenStateMs: 5000 }, retry: { maximumAttempts: 10, initialIntervalMs: 1, jitter: 0 } })
    for (let i = 0; i < 4; i++) q.submit()
    q.fail('bad', q.claim('bad')[0]!)
    q.fail('bad', q.claim('bad')[0]!)
    assert.equal(q.machine.workers().find((w) => w.id === 'bad')?.breaker, 'open')
    q.advance(10)
    assert.deepEqual(q.claim('bad'), [])
    q.advance(5000)
    const trial = q.claim('bad', { max: 3 })
    assert.equal(trial.length, 1, 'half-open permits one trial call')
    assert.deepEqual(q.claim('bad'), [])
    q.complete('bad', trial[0]!)
    assert.equal(q.machine.workers().find((w) => w.id === 'bad')?.breaker, 'closed')
  })

  it('when every worker\'s breaker is open, tasks go to the fallback queue (ended, not dead letters)', () => {
    const q = new Queue({ fallbackQueue: 'cheap', breaker: { slidingWindowSize: 2, minimumNumberOfCalls: 1 }, retry: { initialIntervalMs: 1, jitter: 0 } })
    const id = q.submit()
    q.fail('only', q.claim('only')[0]!)
    q.advance(1)
    assert.equal(q.state(id), 'failed')
    assert.equal(q.machine.get(id)?.forwardedTo, 'cheap')
    assert.equal(q.machine.get(id)?.error?.type, 'no-healthy-worker')
    assert.deepEqual(q.machine.deadLetters(), [])
    assert.equal(q.apply({ op: 'redrive', by: 'client', taskId: id }).ok, false)
  })
})

describe('tasks backoff and breaker maths', () => {
  it('retry delays follow min(initial·coef^(n−1), max), shortened by at most the jitter fraction', () => {
    const noJitter = { ...RETRY_DEFAULTS, jitter: 0 }
    assert.deepEqual([1, 2, 3, 8, 20].map((n) => retryDelayMs(noJitter, { taskId: 't', failedAttempt: n })), [1000, 2000, 4000, 100_000, 100_000])
    for (let n = 1; n < 30; n++) {
      const d = retryDelayMs(RETRY_DEFAULTS, { taskId: `t${n}`, failedAttempt: n })
      const base = Math.min(1000 * 2 ** (n - 1), 100_000)
      assert.ok(d <= base && d >= retryDelayFloorMs(RETRY_DEFAULTS, n) && d >= base * 0.8 - 1, `attempt ${n}: ${d}`)
    }
    assert.equal(jitterFraction('a', 1), jitterFraction('a', 1))
    assert.notEqual(jitterFraction('a', 1), jitterFraction('a', 2))
  })

  it('the breaker needs minimumNumberOfCalls before the failure rate counts', () => {
    const b = closedBreaker()
    const policy = { ...BREAKER_DEFAULTS, minimumNumberOfCalls: 5, slidingWindowSize: 10 }
    for (let i = 0; i < 4; i++) recordOutcome(b, policy, { failed: true, nowMs: 0 })
    assert.equal(b.state, 'closed')
    recordOutcome(b, policy, { failed: true, nowMs: 0 })
    assert.equal(b.state, 'open')
    assert.equal(breakerPermits(b, policy, policy.waitDurationInOpenStateMs - 1), false)
    assert.equal(breakerPermits(b, policy, policy.waitDurationInOpenStateMs), true)
    assert.equal(b.state, 'half-open')
  })

  it('the breaker\'s window slides: old failures age out', () => {
    const b = closedBreaker()
    const policy = { ...BREAKER_DEFAULTS, minimumNumberOfCalls: 4, slidingWindowSize: 4, failureRateThreshold: 75 }
    for (const failed of [true, true, false, false, false, true, false]) recordOutcome(b, policy, { failed, nowMs: 0 })
    assert.equal(b.state, 'closed')
    assert.deepEqual(b.window, [false, false, true, false])
  })
})
