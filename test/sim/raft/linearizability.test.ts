// The linearizability checker accepts linearizable histories and rejects known bad ones.
import assert from 'node:assert/strict'
import { checkLinearizable, checkPartitioned } from '../../../sim/raft/linearizability.ts'
import type { Operation } from '../../../sim/raft/linearizability.ts'
import { kvRegisterModel, lockModel } from '../../../sim/raft/models.ts'
import type { KvInput, LockInput, LockOutput } from '../../../sim/raft/models.ts'

type KvOp = Operation<KvInput, string | null>
const put = (client: string, value: string, call: number, ret: number): KvOp => ({ client, input: { op: 'put', key: 'k', value }, output: ret === Infinity ? undefined : value, call, ret })
const get = (client: string, output: string | null, call: number, ret: number): KvOp => ({ client, input: { op: 'get', key: 'k' }, output, call, ret })

describe('linearizability checker', () => {
  it('accepts a sequential history and concurrent overlaps that can be ordered', () => {
    assert.ok(checkLinearizable(kvRegisterModel, [put('a', '1', 1, 2), get('b', '1', 3, 4)]).ok)
    // the get overlaps the put: it may see the old or the new value
    assert.ok(checkLinearizable(kvRegisterModel, [put('a', '1', 1, 4), get('b', null, 2, 3)]).ok)
    assert.ok(checkLinearizable(kvRegisterModel, [put('a', '1', 1, 4), get('b', '1', 2, 3)]).ok)
  })

  it('rejects a stale read after a completed write', () => {
    const r = checkLinearizable(kvRegisterModel, [put('a', '1', 1, 2), get('b', null, 3, 4)])
    assert.equal(r.ok, false)
    assert.equal(r.exhausted, false)
  })

  it('rejects reads that see values go back in time', () => {
    const history = [put('a', '1', 1, 10), put('b', '2', 2, 11), get('c', '2', 3, 4), get('c', '1', 5, 6), get('d', '2', 7, 8)]
    assert.equal(checkLinearizable(kvRegisterModel, history).ok, false)
  })

  it('an operation that never returned may or may not have happened', () => {
    assert.ok(checkLinearizable(kvRegisterModel, [put('a', '1', 1, Infinity), get('b', null, 2, 3), get('b', '1', 4, 5)]).ok)
    assert.ok(checkLinearizable(kvRegisterModel, [put('a', '1', 1, Infinity), get('b', null, 2, 3)]).ok)
    assert.equal(checkLinearizable(kvRegisterModel, [put('a', '1', 1, Infinity), get('b', '1', 2, 3), get('b', null, 4, 5)]).ok, false)
  })

  it('checks partitions independently and names the bad key', () => {
    const good: KvOp = { client: 'a', input: { op: 'put', key: 'x', value: '1' }, output: '1', call: 1, ret: 2 }
    const bad: KvOp = { client: 'b', input: { op: 'get', key: 'y' }, output: 'never-written', call: 3, ret: 4 }
    const r = checkPartitioned(kvRegisterModel, [good, bad], (op) => op.input.key)
    assert.equal(r.ok, false)
    assert.equal(r.failedKey, 'y')
  })

  it('rejects two owners holding the lock at once, and fencing tokens that go backwards', () => {
    type L = Operation<LockInput, LockOutput>
    const time: L = { client: 'clock', input: { op: 'time', elapsedMs: 0 }, output: { granted: true, token: 0 }, call: 0, ret: 1 }
    const lockA: L = { client: 'A', input: { op: 'lock', owner: 'A', ttlMs: 100 }, output: { granted: true, token: 1 }, call: 2, ret: 3 }
    const lockB: L = { client: 'B', input: { op: 'lock', owner: 'B', ttlMs: 100 }, output: { granted: true, token: 2 }, call: 4, ret: 5 }
    assert.equal(checkLinearizable(lockModel, [time, lockA, lockB]).ok, false, 'double grant')
    const expire: L = { client: 'clock', input: { op: 'time', elapsedMs: 500 }, output: { granted: true, token: 0 }, call: 3.5, ret: 3.8 }
    assert.ok(checkLinearizable(lockModel, [time, lockA, expire, lockB]).ok, 'after the lease expires B may take it with a larger token')
    const backwards: L = { ...lockB, output: { granted: true, token: 1 } }
    assert.equal(checkLinearizable(lockModel, [time, lockA, expire, backwards]).ok, false, 'token reuse')
  })
})
