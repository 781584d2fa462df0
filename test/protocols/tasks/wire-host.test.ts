// The tasks link codec (bounded frames) and a hosted queue's batcher and long-polls, on a
// single-replica group port that applies proposals in order (the port the node fills with raft).

import assert from 'node:assert/strict'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { systemClock } from '../../../protocols/kit/clock.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'
import { logger } from '@libp2p/logger'
import { HostedQueue, taskSignature } from '../../../protocols/tasks/host.ts'
import type { QueueGroup } from '../../../protocols/tasks/host.ts'
import { COMMAND_BYTES_MAX, TASK_OUTPUT_BYTES_MAX, encodeTaskRequest } from '../../../protocols/tasks/messages.ts'
import { StaleLeaseError } from '../../../protocols/tasks/errors.ts'
import { decodeTasksFrame, encodeTasksFrame, WAIT_MS_MAX, DEAD_LETTERS_PAGE_MAX, ENDS_PER_FRAME_MAX, REQUESTS_PER_FRAME_MAX } from '../../../protocols/tasks/wire.ts'
import type { TaskEnd } from '../../../protocols/tasks/wire.ts'

/** One replica: proposals apply in order on the next microtask, like a committed raft entry. */
function singleReplica (apply: (command: unknown, context: { index: number }) => unknown): QueueGroup & { proposals: number } {
  let index = 0
  const g = {
    proposals: 0,
    async propose (command: unknown) { g.proposals++; await Promise.resolve(); return apply(structuredClone(command), { index: ++index }) },
    async read<T> (query: () => T) { return query() },
    isLeader: () => true,
    term: () => 1,
    leader: () => 'me',
    onLeader: () => () => undefined,
    async leave () {}
  }
  return g
}

describe('tasks link frames', () => {
  it('round-trips every frame kind', () => {
    const frames = [
      { k: 'req', id: 1, q: 'q', r: encodeTaskRequest({ op: 'claim', max: 2 }), w: 100 },
      { k: 'read', id: 2, q: 'q', read: { op: 'wait', taskId: '7', sig: 'x', waitMs: 5 } },
      { k: 'read', id: 3, q: 'q', read: { op: 'workers' } },
      { k: 'ok', id: 4, v: { any: 'thing' } },
      { k: 'err', id: 5, name: 'StaleLeaseError', code: 'ERR_STALE_LEASE', msg: 'stale', reason: 'token-mismatch', t: '7' },
      { k: 'cfb', q: 'q', t: '7', a: 1, in: new Uint8Array([1]) },
      { k: 'cancel', id: 6 },
      { k: 'req', id: 7, q: 'q', r: encodeTaskRequest({ op: 'submit', input: new Uint8Array([1]) }), n: true },
      { k: 'reqs', id: 8, q: 'q', rs: [encodeTaskRequest({ op: 'complete', taskId: '1', token: 2, output: new Uint8Array([3]) }), encodeTaskRequest({ op: 'submit', input: new Uint8Array([4]) })], n: true },
      { k: 'end', q: 'q', e: [{ t: '7', s: 'completed', r: new Uint8Array([2]) }, { t: '8', s: 'failed', x: { type: 'E', message: 'boom' } }] }
    ] as const
    for (const f of frames) assert.deepEqual(decodeTasksFrame(encodeTasksFrame(f as never)), f)
  })

  it('refuses malformed and oversized frames naming the limit', () => {
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'nope', id: 1 })), DecodeError)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'req', id: -1, q: 'q', r: new Uint8Array(1) })), DecodeError)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'req', id: 1, q: 'q', r: new Uint8Array(COMMAND_BYTES_MAX + 1) })), /COMMAND_BYTES_MAX/)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'req', id: 1, q: 'q', r: new Uint8Array(1), w: WAIT_MS_MAX + 1 })), /WAIT_MS_MAX/)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'read', id: 1, q: 'q', read: { op: 'dead', limit: DEAD_LETTERS_PAGE_MAX + 1 } })), LimitExceededError)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'req', id: 1, q: 'x'.repeat(200), r: new Uint8Array(1) })), LimitExceededError)
    assert.throws(() => decodeTasksFrame(new Uint8Array([0xff, 0x00])), DecodeError)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'end', q: 'q', e: [{ t: '1', s: 'working' }] })), /terminal state/)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'reqs', id: 1, q: 'q', rs: Array.from({ length: REQUESTS_PER_FRAME_MAX + 1 }, () => new Uint8Array(1)) })), /REQUESTS_PER_FRAME_MAX/)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'reqs', id: 1, q: 'q', rs: [new Uint8Array(COMMAND_BYTES_MAX + 1)] })), /COMMAND_BYTES_MAX/)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'reqs', id: 1, q: 'q', rs: [] })), DecodeError)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'end', q: 'q', e: Array.from({ length: ENDS_PER_FRAME_MAX + 1 }, (_, i) => ({ t: String(i), s: 'completed' })) })), /ENDS_PER_FRAME_MAX/)
    assert.throws(() => decodeTasksFrame(encodeCbor({ k: 'end', q: 'q', e: [{ t: '1', s: 'completed', r: new Uint8Array(TASK_OUTPUT_BYTES_MAX + 1) }] })), /TASK_OUTPUT_BYTES_MAX/)
  })
})

describe('hosted queue (one replica)', () => {
  let h: HostedQueue | undefined
  afterEach(async () => { await h?.stop(); h = undefined })

  it('batches concurrent requests into few proposals; results go back in order', async () => {
    h = new HostedQueue({ name: 'b', self: 'me', options: { members: ['me'] }, clock: systemClock, log: logger('test'), sendCallForBids: () => undefined, tickMs: 60_000 })
    const group = singleReplica(h.apply)
    h.start(group)
    const before = group.proposals
    const submitted = await Promise.all(Array.from({ length: 600 }, async (_, i) => h!.request(`peer${i % 7}`, { op: 'submit', input: new Uint8Array([i % 256]) })))
    assert.equal(new Set(submitted.map((r) => (r as { taskId: string }).taskId)).size, 600)
    const proposals = group.proposals - before
    assert.ok(proposals <= 6, `600 submits in ${proposals} proposals`)
    assert.equal(h.counters.commands - 1, 600) // and the leader-changed
  })

  it('a parked claim wakes on a submit; a stale result is a StaleLeaseError; an aborted claim proposes nothing', async () => {
    h = new HostedQueue({ name: 'c', self: 'me', options: { members: ['me'] }, clock: systemClock, log: logger('test'), sendCallForBids: () => undefined, tickMs: 60_000 })
    const group = singleReplica(h.apply)
    h.start(group)
    const claim = h.claim('w1', { op: 'claim', max: 1 }, 10_000)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const t = await h.request('sub', { op: 'submit', input: new Uint8Array([9]) }) as { taskId: string }
    const [got] = await claim
    assert.equal(got?.lease.taskId, t.taskId)
    assert.deepEqual(got?.input, new Uint8Array([9]))
    await assert.rejects(h.request('w2', { op: 'complete', taskId: t.taskId, token: got!.lease.token, output: new Uint8Array() }), StaleLeaseError)
    await h.request('w1', { op: 'complete', taskId: t.taskId, token: got!.lease.token, output: new Uint8Array([1]) })
    assert.equal(h.machine.get(t.taskId)?.state, 'completed')
    const abort = new AbortController()
    const parked = h.claim('w3', { op: 'claim', max: 1 }, 10_000, abort.signal)
    await new Promise((resolve) => setTimeout(resolve, 20))
    abort.abort()
    assert.deepEqual(await parked, [])
    const t2 = await h.request('sub', { op: 'submit', input: new Uint8Array([2]) }) as { taskId: string }
    assert.equal(h.machine.get(t2.taskId)?.state, 'submitted', 'the aborted claim took nothing')
  })

  it('pushes the ends of tasks submitted with a push asked for: one frame per submitter per entry, an ended task at once', async () => {
    const pushed: Array<{ peer: string, ends: TaskEnd[] }> = []
    h = new HostedQueue({ name: 'p', self: 'me', options: { members: ['me'] }, clock: systemClock, log: logger('test'), sendCallForBids: () => undefined, pushEnds: (peer, ends) => { pushed.push({ peer, ends }) }, tickMs: 60_000 })
    h.start(singleReplica(h.apply))
    const ids = await Promise.all(Array.from({ length: 5 }, async (_, i) => (await h!.request('sub', { op: 'submit', input: new Uint8Array([i]) }) as { taskId: string }).taskId))
    for (const id of ids.slice(0, 4)) h.notifyEnd(id, 'sub')
    const claimed = await h.claim('w', { op: 'claim', max: 5, concurrency: 5 }, 0)
    assert.equal(claimed.length, 5)
    assert.equal(pushed.length, 0, 'nothing ended yet')
    // four results in one batch: one frame with the three completed and the failed one asked for
    await Promise.all(claimed.slice(0, 4).map(async (c, i) => i === 3
      ? h!.request('w', { op: 'fail', taskId: c.lease.taskId, token: c.lease.token, error: { type: 'E', message: 'no' }, retryable: false })
      : h!.request('w', { op: 'complete', taskId: c.lease.taskId, token: c.lease.token, output: new Uint8Array([7]) })))
    // two proposals go out at once (PROPOSALS_IN_FLIGHT_MAX), the other two share the third entry: one frame for both
    assert.equal(pushed.length, 3)
    assert.ok(pushed.every((p) => p.peer === 'sub'))
    const ends = pushed.flatMap((p) => p.ends)
    assert.deepEqual(ends.map((e) => e.s).sort(), ['completed', 'completed', 'completed', 'failed'])
    assert.deepEqual(ends.find((e) => e.s === 'completed')?.r, new Uint8Array([7]))
    assert.equal(ends.find((e) => e.s === 'failed')?.x?.type, 'E')
    // the fifth was not asked for: no push; asked for after it ended: pushed at once
    await h.request('w', { op: 'complete', taskId: claimed[4]!.lease.taskId, token: claimed[4]!.lease.token, output: new Uint8Array([8]) })
    assert.equal(pushed.length, 3)
    h.notifyEnd(claimed[4]!.lease.taskId, 'late')
    assert.equal(pushed.length, 4)
    assert.equal(pushed[3]!.peer, 'late')
    assert.equal(h.counters.endsPushed, 5)
  })

  it('waits that time out leave nothing parked behind', async () => {
    h = new HostedQueue({ name: 'w', self: 'me', options: { members: ['me'] }, clock: systemClock, log: logger('test'), sendCallForBids: () => undefined, tickMs: 60_000 })
    h.start(singleReplica(h.apply))
    const ids = await Promise.all(Array.from({ length: 50 }, async () => ((await h!.request('sub', { op: 'submit', input: new Uint8Array(1) })) as { taskId: string }).taskId))
    const views = await Promise.all(ids.map(async (id) => h!.wait(id, taskSignature(h!.machine.get(id)), 20)))
    assert.ok(views.every((v) => v?.state === 'submitted'))
    assert.deepEqual(h.parked(), { claims: 0, waits: 0, tasks: 0 })
  })
})
