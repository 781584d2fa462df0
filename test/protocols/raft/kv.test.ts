// The built-in state machine: de-duplication of retried requests, lock leases on the replicated
// clock, fencing tokens that only grow, and snapshot/restore.
import assert from 'node:assert/strict'
import { decodeKvCommand, encodeKvCommand, KvStateMachine, TIME_STEP_MS_MAX } from '../../../protocols/raft/kv.ts'
import { VOTERS_MAX } from '../../../protocols/raft/messages.ts'
import { CLIENTS_PER_MEMBER_MAX, SESSION_EXPIRED, SESSIONS_MAX } from '../../../protocols/raft/sessions.ts'
import type { KvCommand } from '../../../protocols/raft/kv.ts'
import type { Entry } from '../../../protocols/raft/messages.ts'

let index = 0
function entry (c: KvCommand, client = '', seq = 0): Entry {
  return { term: 1, index: ++index, kind: 'normal', data: encodeKvCommand(c), client, seq }
}

describe('raft kv state machine', () => {
  it('applies a retried request once and returns the first result again', () => {
    const sm = new KvStateMachine()
    assert.deepEqual(sm.apply(entry({ op: 'put', key: 'k', value: 'a' }, 'c1', 1)), { ok: true, value: 'a' })
    assert.deepEqual(sm.apply(entry({ op: 'put', key: 'k', value: 'b' }, 'c2', 1)), { ok: true, value: 'b' })
    // c1 retries seq 1 (its first attempt was applied, the reply was lost): no second effect
    assert.deepEqual(sm.apply(entry({ op: 'put', key: 'k', value: 'a' }, 'c1', 1)), { ok: true, value: 'a' })
    assert.equal(sm.read('k'), 'b')
    const stale = sm.apply(entry({ op: 'put', key: 'k', value: 'z' }, 'c2', 0))
    assert.equal(stale.ok, false)
    assert.equal(sm.read('k'), 'b')
  })

  it('locks are exclusive until the lease expires on the replicated clock; tokens only grow', () => {
    const sm = new KvStateMachine()
    sm.apply(entry({ op: 'time', elapsedMs: 1000 }))
    const a = sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 100 }))
    assert.deepEqual(a, { ok: true, granted: true, token: 1, holder: 'A' })
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs: 100 })), { ok: true, granted: false, token: 1, holder: 'A' })
    sm.apply(entry({ op: 'time', elapsedMs: 50 }))
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 100 })), { ok: true, granted: true, token: 1, holder: 'A' }, 'renewal keeps the token')
    sm.apply(entry({ op: 'time', elapsedMs: 50 }))
    assert.equal((sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs: 100 })) as { granted: boolean }).granted, false, 'renewed lease still runs')
    assert.equal(sm.clockMs, 1100)
    sm.apply(entry({ op: 'time', elapsedMs: 50 }))
    const b = sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs: 100 }))
    assert.deepEqual(b, { ok: true, granted: true, token: 2, holder: 'B' })
    assert.equal((sm.apply(entry({ op: 'unlock', resource: 'r', owner: 'A', token: 1 })) as { granted: boolean }).granted, false, 'an expired holder cannot unlock')
    assert.equal((sm.apply(entry({ op: 'unlock', resource: 'r', owner: 'B', token: 2 })) as { granted: boolean }).granted, true)
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 100 })), { ok: true, granted: true, token: 3, holder: 'A' })
  })

  it('a wall-clock jump of +1 h does not expire a lease: the clock moves by elapsed steps, each at most TIME_STEP_MS_MAX', () => {
    const sm = new KvStateMachine()
    const ttlMs = 60_000
    assert.ok(TIME_STEP_MS_MAX < ttlMs)
    sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs }))
    // the leader's monotonic clock measured 100 ms; a leader still measuring with a wall clock that
    // stepped an hour forward would report 3.6e6 ms: the step is cut to TIME_STEP_MS_MAX
    sm.apply(entry({ op: 'time', elapsedMs: 100 }))
    sm.apply(entry({ op: 'time', elapsedMs: 3_600_000 }))
    assert.equal(sm.clockMs, 100 + TIME_STEP_MS_MAX)
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs })), { ok: true, granted: false, token: 1, holder: 'A' }, 'A still holds the lease')
  })

  it('snapshot and restore give the same state, sessions included', () => {
    const sm = new KvStateMachine()
    sm.apply(entry({ op: 'put', key: 'k', value: 'v' }, 'c', 1))
    sm.apply(entry({ op: 'time', elapsedMs: 5 }))
    sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 10 }, 'c', 2))
    const copy = KvStateMachine.restore(sm.snapshot())
    assert.deepEqual(copy.snapshot(), sm.snapshot())
    assert.deepEqual(copy.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 10 }, 'c', 2)), { ok: true, granted: true, token: 1, holder: 'A' })
  })

  it('rejects malformed commands as a result, not a crash', () => {
    const sm = new KvStateMachine()
    const bad: Entry = { term: 1, index: ++index, kind: 'normal', data: new Uint8Array([0xff]), client: '', seq: 0 }
    assert.equal(sm.apply(bad).ok, false)
    assert.throws(() => decodeKvCommand(encodeKvCommand({ op: 'lock', resource: 'r', owner: 'A', ttlMs: -1 })), /ttlMs/)
  })

  describe('sessions (SPEC raft R12)', () => {
    const put = (value: string): KvCommand => ({ op: 'put', key: 'k', value })

    it('a retry whose session was evicted by churn fails with session expired instead of applying twice', () => {
      const sm = new KvStateMachine({ sessionsMax: 4 })
      sm.apply(entry(put('a1'), 'A', 1))
      sm.apply(entry(put('a2'), 'A', 2)) // applied; A's reply is lost and A will retry seq 2
      sm.apply(entry(put('b'), 'B', 1))
      for (let i = 0; i < 10; i++) sm.apply(entry({ op: 'get', key: 'x' }, `churn${i}`, 1))
      const retry = sm.apply(entry(put('a2'), 'A', 2))
      assert.equal(retry.ok, false)
      assert.ok(!retry.ok && retry.error.startsWith(SESSION_EXPIRED), JSON.stringify(retry))
      assert.equal(sm.read('k'), 'b', 'the retried put did not overwrite the later one')
      assert.deepEqual(sm.apply(entry(put('a2'), 'A', 2)), retry, 'a second retry gets the same answer')
      assert.deepEqual(sm.apply(entry(put('a3'), 'A', 3)), { ok: true, value: 'a3' }, 'the client goes on with its next seq')
    })

    it('eviction is least recently used: a hit refreshes the session', () => {
      const sm = new KvStateMachine({ sessionsMax: 4 })
      sm.apply(entry(put('a'), 'A', 1))
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 3; i++) sm.apply(entry({ op: 'get', key: 'x' }, `r${round}c${i}`, 1))
        assert.deepEqual(sm.apply(entry(put('a'), 'A', 1)), { ok: true, value: 'a' }, `round ${round}: A's retry is still a duplicate`)
      }
      // the order of use survives a snapshot: A is still the most recently used after restore
      const copy = KvStateMachine.restore(sm.snapshot(), { sessionsMax: 4 })
      for (let i = 0; i < 3; i++) copy.apply(entry({ op: 'get', key: 'x' }, `late${i}`, 1))
      assert.deepEqual(copy.apply(entry(put('a'), 'A', 1)), { ok: true, value: 'a' })
    })

    it('is sized for every member using all its client ids at once, after earlier incarnations churned', () => {
      assert.equal(SESSIONS_MAX, VOTERS_MAX * CLIENTS_PER_MEMBER_MAX)
      const sm = new KvStateMachine()
      for (let i = 0; i < 8 * CLIENTS_PER_MEMBER_MAX; i++) sm.apply(entry({ op: 'get', key: 'x' }, `dead.${i}`, 1)) // 8 earlier incarnations
      for (let m = 0; m < VOTERS_MAX; m++) for (let c = 0; c < CLIENTS_PER_MEMBER_MAX; c++) sm.apply(entry(put(`${m}.${c}`), `m${m}.${c}`, 1))
      let duplicates = 0
      for (let m = 0; m < VOTERS_MAX; m++) {
        for (let c = 0; c < CLIENTS_PER_MEMBER_MAX; c++) {
          const r = sm.apply(entry(put(`${m}.${c}`), `m${m}.${c}`, 1))
          if (r.ok && 'value' in r && r.value === `${m}.${c}`) duplicates++
        }
      }
      assert.equal(duplicates, SESSIONS_MAX, 'every live retry was recognized')
      assert.equal(sm.read('k'), `${VOTERS_MAX - 1}.${CLIENTS_PER_MEMBER_MAX - 1}`, 'no retry applied a second time')
    })
  })
})

