// The built-in state machine: de-duplication of retried requests, lock leases on the replicated
// clock, fencing tokens that only grow, and snapshot/restore.
import assert from 'node:assert/strict'
import { decodeKvCommand, encodeKvCommand, KvStateMachine } from '../../../protocols/raft/kv.ts'
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
    sm.apply(entry({ op: 'time', nowMs: 1000 }))
    const a = sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 100 }))
    assert.deepEqual(a, { ok: true, granted: true, token: 1, holder: 'A' })
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs: 100 })), { ok: true, granted: false, token: 1, holder: 'A' })
    sm.apply(entry({ op: 'time', nowMs: 1050 }))
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 100 })), { ok: true, granted: true, token: 1, holder: 'A' }, 'renewal keeps the token')
    sm.apply(entry({ op: 'time', nowMs: 1100 }))
    assert.equal((sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs: 100 })) as { granted: boolean }).granted, false, 'renewed lease still runs')
    sm.apply(entry({ op: 'time', nowMs: 900 })) // the clock never goes back
    assert.equal(sm.clockMs, 1100)
    sm.apply(entry({ op: 'time', nowMs: 1150 }))
    const b = sm.apply(entry({ op: 'lock', resource: 'r', owner: 'B', ttlMs: 100 }))
    assert.deepEqual(b, { ok: true, granted: true, token: 2, holder: 'B' })
    assert.equal((sm.apply(entry({ op: 'unlock', resource: 'r', owner: 'A', token: 1 })) as { granted: boolean }).granted, false, 'an expired holder cannot unlock')
    assert.equal((sm.apply(entry({ op: 'unlock', resource: 'r', owner: 'B', token: 2 })) as { granted: boolean }).granted, true)
    assert.deepEqual(sm.apply(entry({ op: 'lock', resource: 'r', owner: 'A', ttlMs: 100 })), { ok: true, granted: true, token: 3, holder: 'A' })
  })

  it('snapshot and restore give the same state, sessions included', () => {
    const sm = new KvStateMachine()
    sm.apply(entry({ op: 'put', key: 'k', value: 'v' }, 'c', 1))
    sm.apply(entry({ op: 'time', nowMs: 5 }))
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
})
