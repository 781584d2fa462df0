// node.tasks on real in-process nodes over loopback TCP: a queue hosted by three members, workers
// on a fourth node that is not a member, leases, retries, dead letters, gate, bids, fork-join.

import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, TaskQueue } from '../../../src/index.ts'
import { QueueNotFoundError, StaleLeaseError, TaskFailedError } from '../../../src/index.ts'
import { LimitExceededError, TASKS_PROTOCOL, TASK_INPUT_BYTES_MAX } from '../../../src/index.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { createLibp2pPeerLinks } from '../../../protocols/kit/libp2p-peer-link.ts'
import { COMMAND_BYTES_MAX } from '../../../protocols/tasks/messages.ts'
import { TASKS_FRAME_BYTES_MAX, decodeTasksFrame } from '../../../protocols/tasks/wire.ts'
import { startMesh, stopAll, tempDir, waitFor } from '../../helpers.ts'
import { startStranger } from '../../stranger.ts'

const timing = { heartbeatMs: 50, electionMs: 500 }

/** Open `name` on the first three nodes (its members); returns their handles. */
async function openQueue (nodes: AgentNode[], name: string, extra: Record<string, unknown> = {}): Promise<TaskQueue[]> {
  const members = nodes.slice(0, 3).map((n) => n.peerId)
  return Promise.all(nodes.slice(0, 3).map(async (n) => n.tasks.open(name, { members, ...timing, ...extra })))
}

describe('node.tasks on real nodes (in-process, TCP)', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  it('submit on a member, work on a non-member, result everywhere; low-level claim/complete with fencing', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'translate')
    const worker = nodes[3]!
    // the non-member opens the queue by members (the DHT record is tested separately)
    const remote = await worker.tasks.open('translate', { members: q0!.members as string[] })
    const seen: Array<{ attempt: number, token: number }> = []
    const handle = worker.tasks.work('translate', async (input, ctx) => {
      seen.push({ attempt: ctx.attempt, token: ctx.token })
      return { text: String((input as { text: string }).text).toUpperCase() }
    }, { concurrency: 2, pollMs: 1000 })
    const task = await q0!.submit({ text: 'hello' })
    assert.equal(task.state, 'submitted')
    assert.deepEqual(await q0!.result(task.id, { timeoutMs: 30_000 }), { text: 'HELLO' })
    const got = await remote.get(task.id)
    assert.equal(got?.state, 'completed')
    assert.equal(got?.worker, worker.peerId, 'the worker id is the authenticated connection')
    assert.deepEqual(got?.input, { text: 'hello' })
    assert.equal(seen.length, 1)
    await handle.stop()
    // the read model: the leader publishes every transition on tasks/<queue>
    const leader = nodes.find((n) => n.peerId === nodes[0]!.groups.get('tasks/translate').leader())!
    await waitFor(async () => (await leader.events.history('tasks/translate')).some((e) => (e.data as Array<{ taskId: string, state: string }>).some((t) => t.taskId === task.id && t.state === 'completed')), 'the completed transition on tasks/translate')
    const states = (await leader.events.history('tasks/translate')).flatMap((e) => e.data as Array<{ taskId: string, state: string }>).filter((t) => t.taskId === task.id).map((t) => t.state)
    assert.deepEqual(states, ['submitted', 'working', 'completed'])

    // low-level API from the non-member: claim, complete, a stale token is refused
    const t2 = await remote.submit('raw')
    const [claimed] = await remote.claim({ waitMs: 5_000 })
    assert.ok(claimed !== undefined)
    assert.equal(claimed.taskId, t2.id)
    assert.equal(claimed.input, 'raw')
    await remote.renew(claimed.taskId, claimed.token)
    await assert.rejects(remote.complete(claimed.taskId, claimed.token + 1000, 'x'), StaleLeaseError)
    await remote.complete(claimed.taskId, claimed.token, 'done')
    assert.equal(await q0!.result(t2.id), 'done')
    await assert.rejects(remote.complete(claimed.taskId, claimed.token, 'again'), StaleLeaseError)
  })

  it('a claimed lease that is never renewed expires: the task is retried, and every member counts the expiry', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'unrenewed', { leaseMs: 1_000 })
    const remote = await nodes[3]!.tasks.open('unrenewed', { members: q0!.members as string[] })
    // keyed: a submit retried at another member under load must not become a second task
    const task = await remote.submit('job', { idempotencyKey: 'unrenewed-job' })
    const [claimed] = await remote.claim({ waitMs: 5_000 })
    assert.equal(claimed?.taskId, task.id)
    // No renewal: the lease runs out on the replicated clock and the attempt ends as lease-expired.
    await waitFor(async () => (await q0!.get(task.id))?.history.some((h) => h.state === 'retrying') === true, 'the attempt to end and the task to be retried', 30_000)
    await assert.rejects(remote.complete(claimed.taskId, claimed.token, 'too late'), StaleLeaseError)
    for (const member of nodes.slice(0, 3)) {
      await waitFor(() => member.tasks.stats().hosted.find((q) => q.name === 'unrenewed')?.leaseExpiries === 1, `${member.name} to count one lease expiry`)
    }
  })

  it('open without members finds the queue in the DHT; an unknown queue is QueueNotFoundError', async () => {
    nodes = await startMesh(4)
    await openQueue(nodes, 'found', { leaseMs: 1_234 })
    const q = await nodes[3]!.tasks.open('found', { timeoutMs: 30_000 })
    // the record carries the policy, so a member reopening by name runs the same machine
    const record = await nodes[3]!.state.get('tasks/found')
    assert.equal((record?.value as { policy: { leaseMs: number } }).policy.leaseMs, 1_234)
    assert.deepEqual([...q.members].sort(), nodes.slice(0, 3).map((n) => n.peerId).sort())
    await assert.rejects(nodes[3]!.tasks.open('nowhere', { timeoutMs: 1_000 }), QueueNotFoundError)
    const orphan = nodes[3]!.tasks.work('nowhere-either', async () => null)
    await assert.rejects(orphan.ready, QueueNotFoundError)
    await orphan.stop()
  })

  it('a worker node stopped mid-task: the lease expires and another worker completes the task once', async () => {
    nodes = await startMesh(5)
    const [q0] = await openQueue(nodes, 'crash', { leaseMs: 1_500 })
    const members = q0!.members as string[]
    let started = 0
    let finishedByB = 0
    const a = nodes[3]!; const b = nodes[4]!
    a.tasks.work('crash', async (_input, ctx) => { started++; await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve) }); return 'from a' }, { pollMs: 500 })
    await a.tasks.open('crash', { members })
    const task = await q0!.submit('job')
    await waitFor(() => started === 1, 'worker A to start the task')
    await a.stop()
    b.tasks.work('crash', async (_input, ctx) => { finishedByB++; return `from b attempt ${ctx.attempt}` }, { pollMs: 500 })
    await b.tasks.open('crash', { members })
    assert.equal(await q0!.result(task.id, { timeoutMs: 60_000 }), 'from b attempt 2')
    const info = await q0!.get(task.id)
    assert.equal(info?.worker, b.peerId)
    assert.equal(info?.history.filter((h) => h.state === 'completed').length, 1)
    assert.equal(finishedByB, 1)
  })

  it('health declares a stopped worker dead: its lease ends at once (a 10-minute lease does not hold the task)', async () => {
    nodes = await startMesh(5)
    const [q0] = await openQueue(nodes, 'dead-worker', { leaseMs: 600_000 })
    const members = q0!.members as string[]
    let started = false
    const a = nodes[3]!; const b = nodes[4]!
    await a.tasks.open('dead-worker', { members })
    a.tasks.work('dead-worker', async (_input, ctx) => { started = true; await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve) }); return 'from a' }, { pollMs: 500 })
    const task = await q0!.submit('job')
    await waitFor(() => started, 'worker A to start the task')
    await a.stop()
    await b.tasks.open('dead-worker', { members })
    b.tasks.work('dead-worker', async () => 'from b', { pollMs: 500 })
    assert.equal(await q0!.result(task.id, { timeoutMs: 60_000 }), 'from b')
    assert.equal((await q0!.get(task.id))?.history.filter((h) => h.state === 'completed').length, 1)
  })

  it("the queue's leader stopped: work goes on", async () => {
    nodes = await startMesh(4)
    const queues = await openQueue(nodes, 'failover')
    const members = queues[0]!.members as string[]
    const worker = nodes[3]!
    worker.tasks.work('failover', async (input) => `ok ${String(input)}`, { pollMs: 500, concurrency: 4 })
    const first = await queues[0]!.submit(1)
    assert.equal(await queues[0]!.result(first.id, { timeoutMs: 30_000 }), 'ok 1')
    const leaderId = await nodes[0]!.groups.get('tasks/failover').waitForLeader()
    const leaderIndex = nodes.findIndex((n) => n.peerId === leaderId)
    assert.ok(leaderIndex >= 0 && leaderIndex < 3)
    await nodes[leaderIndex]!.stop()
    const survivor = queues[(leaderIndex + 1) % 3]!
    const ids = await Promise.all([2, 3, 4].map(async (i) => (await survivor.submit(i)).id))
    const results = await Promise.all(ids.map(async (id) => survivor.result(id, { timeoutMs: 60_000 })))
    assert.deepEqual(results, ['ok 2', 'ok 3', 'ok 4'])
    assert.ok(members.includes(leaderId))
  })

  it('a result wait parked on a leader that is killed moves to another member at once (not after its long-poll)', async () => {
    nodes = await startMesh(5)
    const queues = await openQueue(nodes, 'parked')
    const client = await nodes[4]!.tasks.open('parked', { members: queues[0]!.members as string[] })
    // the first answer names the leader: the client's wait then parks there
    const task = await client.submit('job')
    const leaderId = await nodes[0]!.groups.get('tasks/parked').waitForLeader()
    const leader = nodes.find((n) => n.peerId === leaderId)!
    const waiting = client.result(task.id, { timeoutMs: 20_000 })
    await new Promise((resolve) => setTimeout(resolve, 200)) // let the wait reach the leader and park
    // killed, not stopped: every connection aborts, so the leader never answers the parked wait
    for (const c of leader.libp2p.getConnections()) c.abort(new Error('leader killed (test)'))
    await leader.stop()
    nodes[3]!.tasks.work('parked', async (input) => `done ${String(input)}`, { pollMs: 500 })
    // a wait stuck on the dead leader holds until its long-poll (20 s) plus CALL_TIMEOUT_MS ran out
    const stuck = new Promise((resolve) => { setTimeout(() => { resolve('still parked on the dead leader') }, 15_000).unref() })
    assert.equal(await Promise.race([waiting, stuck]), 'done job')
  })

  it('a submitter that is not a member gets each end pushed by the member that accepted the submit (no wait request)', async () => {
    nodes = await startMesh(4)
    const queues = await openQueue(nodes, 'pushed')
    const members = queues[0]!.members as string[]
    const client = await nodes[3]!.tasks.open('pushed', { members })
    // the worker runs on a member: its claims and results are not requests served for a peer
    nodes[0]!.tasks.work('pushed', async (input) => { if (input === 'bad') throw new TypeError('bad input'); return `done ${String(input)}` }, { pollMs: 500, concurrency: 4, nonRetryableErrors: ['TypeError'] })
    // a first task finds the leader and opens the links, so the counts below are this client's frames alone
    await nodes[0]!.groups.get('tasks/pushed').waitForLeader()
    assert.equal(await client.result((await client.submit('warm')).id, { timeoutMs: 20_000 }), 'done warm')
    const servedBefore = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().served, 0)
    const coalescedBefore = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().coalesced, 0)
    const tasks = await Promise.all(Array.from({ length: 10 }, async (_, i) => client.submit(`job ${i}`)))
    const results = await Promise.all(tasks.map(async (t) => client.result(t.id, { timeoutMs: 20_000 })))
    assert.deepEqual(results, Array.from({ length: 10 }, (_, i) => `done job ${i}`))
    const failing = await client.submit('bad')
    await assert.rejects(client.result(failing.id, { timeoutMs: 20_000 }), (err: unknown) => err instanceof TaskFailedError && err.error?.type === 'TypeError')
    assert.equal(nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().endsPushed, 0), 12)
    // the members served about two frames for this client: the 10 submits made at once in one, then
    // the eleventh (a request retried at another member under load adds one); a wait per result
    // would add eleven more
    const served = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().served, 0) - servedBefore
    assert.ok(served >= 2 && served < 11, `frames served for the 11 submits and their results: ${served}`)
    assert.ok(nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().coalesced, 0) - coalescedBefore >= 2, 'submits made at once shared a frame')
    // a result asked for again (its end was handed out already) is read from a member
    assert.equal(await client.result(tasks[0]!.id, { timeoutMs: 20_000 }), 'done job 0')
  })

  it('results sent together travel in one frame and keep their own outcomes: a stale token among them is refused alone', async () => {
    nodes = await startMesh(4)
    const queues = await openQueue(nodes, 'together')
    const remote = await nodes[3]!.tasks.open('together', { members: queues[0]!.members as string[] })
    const submitted = await Promise.all(['a', 'b', 'c'].map(async (x) => queues[0]!.submit(x)))
    const claimed: Array<{ taskId: string, token: number }> = []
    while (claimed.length < 3) claimed.push(...await remote.claim({ max: 3, waitMs: 5_000 }))
    const coalescedBefore = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().coalesced, 0)
    const outcomes = await Promise.allSettled(claimed.map(async (c, i) => remote.complete(c.taskId, i === 1 ? c.token + 1000 : c.token, `out ${i}`)))
    assert.equal(nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().coalesced, 0) - coalescedBefore, 3, 'the three results rode one frame')
    assert.equal(outcomes[0]!.status, 'fulfilled')
    assert.equal(outcomes[2]!.status, 'fulfilled')
    assert.ok(outcomes[1]!.status === 'rejected' && outcomes[1]!.reason instanceof StaleLeaseError, 'the stale one alone is refused, as a StaleLeaseError')
    const states = await Promise.all(submitted.map(async (t) => (await queues[0]!.get(t.id))?.state))
    assert.equal(states.filter((s) => s === 'completed').length, 2)
  })

  it('a lease the worker never received (its claim answer lost) is adopted from the renewal and run, not left to expire', async () => {
    nodes = await startMesh(4)
    const queues = await openQueue(nodes, 'adopt', { leaseMs: 3_000 })
    const members = queues[0]!.members as string[]
    const handle = await nodes[3]!.tasks.open('adopt', { members })
    const ran: string[] = []
    const worker = nodes[3]!.tasks.work('adopt', async (input) => { ran.push(String(input)); return `done ${String(input)}` }, { capability: 'a', pollMs: 500 })
    assert.equal(await queues[0]!.result((await queues[0]!.submit('first', { capability: 'a' })).id, { timeoutMs: 20_000 }), 'done first')
    // a claim from the same node (the same worker to the queue) whose answer the worker never sees
    const orphan = await queues[0]!.submit('second', { capability: 'b' })
    const [claimed] = await handle.claim({ capability: 'b', waitMs: 5_000 })
    assert.equal(claimed?.taskId, orphan.id)
    assert.equal(await queues[0]!.result(orphan.id, { timeoutMs: 20_000 }), 'done second')
    const info = await queues[0]!.get(orphan.id)
    assert.equal(info?.attempt, 1, 'run on its first lease, not after an expiry')
    assert.deepEqual(ran, ['first', 'second'])
    await worker.stop()
  })

  it('retries, then a dead letter, then redrive', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'flaky', { retry: { initialIntervalMs: 100, maximumAttempts: 2 } })
    let calls = 0
    let healthy = false
    const worker = nodes[3]!.tasks.work('flaky', async (_input, ctx) => {
      calls++
      if (!healthy) throw new Error(`broken on attempt ${ctx.attempt}`)
      return 'fixed'
    }, { pollMs: 500 })
    const task = await q0!.submit('x')
    await assert.rejects(q0!.result(task.id, { timeoutMs: 30_000 }), (err: unknown) => err instanceof TaskFailedError && /broken on attempt 2/.test(err.message))
    assert.equal(calls, 2)
    const dead = await q0!.deadLetters()
    assert.deepEqual(dead.map((t) => t.id), [task.id])
    assert.equal(dead[0]!.error?.type, 'Error')
    healthy = true
    await q0!.redrive(task.id)
    assert.equal(await q0!.result(task.id, { timeoutMs: 30_000 }), 'fixed')
    assert.deepEqual(await q0!.deadLetters(), [])
    await worker.stop()
  })

  it('a non-retryable error fails at once; watch yields every state change in order', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'strict')
    nodes[3]!.tasks.work('strict', async () => { const e = new Error('bad input'); e.name = 'BadInput'; throw e }, { pollMs: 500, nonRetryableErrors: ['BadInput'] })
    const task = await q0!.submit('y')
    const states: string[] = []
    for await (const u of q0!.watch(task.id)) states.push(u.state)
    assert.deepEqual(states, ['submitted', 'working', 'failed'])
  })

  it('gate: a rejected result goes back with feedback that reaches ctx.feedback on the next attempt', async () => {
    nodes = await startMesh(5)
    const [q0] = await openQueue(nodes, 'gated', { gate: true, retry: { initialIntervalMs: 100 } })
    const feedbacks: Array<string | undefined> = []
    nodes[3]!.tasks.work('gated', async (_input, ctx) => { feedbacks.push(ctx.feedback); return ctx.feedback === undefined ? 'draft' : 'final' }, { pollMs: 500 })
    const judged: string[] = []
    const gateQueue = await nodes[4]!.tasks.open('gated', { members: q0!.members as string[] })
    gateQueue.gate(async (result) => { judged.push(String(result)); return result === 'final' ? true : { reject: 'too rough' } })
    const task = await q0!.submit('essay')
    assert.equal(await q0!.result(task.id, { timeoutMs: 60_000 }), 'final')
    assert.deepEqual(feedbacks, [undefined, 'too rough'])
    assert.deepEqual(judged, ['draft', 'final'])
  })

  it('bid dispatch: the lowest cost wins and every bid is recorded', async () => {
    nodes = await startMesh(5)
    const [q0] = await openQueue(nodes, 'auction', { dispatch: 'bid' })
    const members = q0!.members as string[]
    const ran: string[] = []
    for (const [i, cost] of [[3, 5], [4, 2]] as const) {
      await nodes[i]!.tasks.open('auction', { members })
      nodes[i]!.tasks.work('auction', async () => { ran.push(nodes[i]!.peerId); return `by ${i}` }, { pollMs: 500, bid: async () => ({ cost, etaMs: 100 }) })
    }
    // the workers register with their first claim; wait until the queue knows both
    await waitFor(async () => (await q0!.workers()).length === 2, 'both workers registered with the queue')
    const task = await q0!.submit('job')
    assert.equal(await q0!.result(task.id, { timeoutMs: 30_000 }), 'by 4')
    const info = await q0!.get(task.id)
    assert.deepEqual(info?.bids.map((b) => b.cost), [2, 5])
    assert.equal(info?.worker, nodes[4]!.peerId)
  })

  it('fork-join with min: results of all, failures as undefined, fewer than min is an error', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'fan', { retry: { maximumAttempts: 1 } })
    nodes[3]!.tasks.work('fan', async (input) => { if (input === 'bad') throw new Error('no'); return `r-${String(input)}` }, { pollMs: 500, concurrency: 4 })
    assert.deepEqual(await nodes[0]!.tasks.all(q0!, ['a', 'b', 'c']), ['r-a', 'r-b', 'r-c'])
    assert.deepEqual(await nodes[0]!.tasks.all(q0!, ['a', 'bad', 'c'], { min: 2 }), ['r-a', undefined, 'r-c'])
    await assert.rejects(nodes[0]!.tasks.all(q0!, ['bad', 'bad', 'c'], { min: 2 }), TaskFailedError)
  })

  it('cancel aborts the running handler through ctx.signal; round-robin pushes leases to waiting workers', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'cancelme', { leaseMs: 1_500 })
    let aborted = false
    let started = false
    nodes[3]!.tasks.work('cancelme', async (_input, ctx) => {
      started = true
      await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve) })
      aborted = true
      return 'never'
    }, { pollMs: 500 })
    const task = await q0!.submit('long')
    await waitFor(() => started, 'the handler to start')
    await q0!.cancel(task.id)
    await waitFor(() => aborted, 'the handler signal to abort on cancel')
    await assert.rejects(q0!.result(task.id), (err: unknown) => err instanceof TaskFailedError && /canceled/.test(err.message))

    const [r0] = await openQueue(nodes, 'rr', { dispatch: 'round-robin' })
    nodes[3]!.tasks.work('rr', async (input) => `rr ${String(input)}`, { pollMs: 2_000, concurrency: 2 })
    await waitFor(async () => (await r0!.workers()).length === 1, 'the worker registered')
    const ids = await Promise.all([1, 2, 3].map(async (i) => (await r0!.submit(i)).id))
    assert.deepEqual(await Promise.all(ids.map(async (id) => r0!.result(id, { timeoutMs: 30_000 }))), ['rr 1', 'rr 2', 'rr 3'])
  })

  it('every breaker open: the task is forwarded to the fallback queue once', async () => {
    nodes = await startMesh(5)
    const [p0] = await openQueue(nodes, 'primary', { fallbackQueue: 'backup', breaker: { slidingWindowSize: 1, minimumNumberOfCalls: 1, failureRateThreshold: 100, waitDurationInOpenStateMs: 600_000 }, retry: { initialIntervalMs: 100, maximumAttempts: 5 } })
    const [b0] = await openQueue(nodes, 'backup')
    nodes[3]!.tasks.work('primary', async () => { throw new Error('always broken') }, { pollMs: 500 })
    nodes[4]!.tasks.work('backup', async (input) => `backup did ${String(input)}`, { pollMs: 500 })
    const task = await p0!.submit('job')
    await assert.rejects(p0!.result(task.id, { timeoutMs: 30_000 }), TaskFailedError)
    const failed = await p0!.get(task.id)
    assert.equal(failed?.forwardedTo, 'backup')
    const forwarded = await b0!.submit('ignored', { idempotencyKey: `primary/${task.id}` })
    assert.equal(forwarded.duplicate, true)
    assert.equal(await b0!.result(forwarded.id, { timeoutMs: 30_000 }), 'backup did job')
  })

  it('a member restarted from its data dir rejoins the queue with its log', async () => {
    const dirs = await Promise.all([0, 1, 2].map(async () => tempDir()))
    try {
      const first = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dataDir: dirs[0]!.path })
      nodes = [first]
      for (const d of dirs.slice(1)) nodes.push(await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [first.addresses()[0]!], dataDir: d.path }))
      const [q0] = await openQueue(nodes, 'durable')
      const task = await q0!.submit({ keep: 'me' })
      const members = q0!.members as string[]
      await nodes[2]!.stop()
      nodes[2] = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [first.addresses()[0]!], dataDir: dirs[2]!.path })
      const reopened = await nodes[2].tasks.open('durable', { timeoutMs: 30_000 })
      assert.deepEqual([...reopened.members].sort(), [...members].sort())
      assert.deepEqual((await reopened.get(task.id, { timeoutMs: 30_000 }))?.input, { keep: 'me' })
      nodes[2].tasks.work('durable', async () => 'after restart', { pollMs: 500 })
      assert.equal(await q0!.result(task.id, { timeoutMs: 30_000 }), 'after restart')
    } finally {
      await stopAll(nodes); nodes = []
      await Promise.all(dirs.map(async (d) => { await d.remove() }))
    }
  })

  it('an oversized input is refused at submit naming the limit', async () => {
    nodes = await startMesh(3)
    const [q0] = await openQueue(nodes, 'big')
    await assert.rejects(q0!.submit(new Uint8Array(TASK_INPUT_BYTES_MAX + 1)), (err: unknown) => err instanceof LimitExceededError && /TASK_INPUT_BYTES_MAX/.test(err.message))
  })

  it('a forged or oversized request from a peer is refused with a clear error; the node keeps running', async () => {
    nodes = await startMesh(3)
    const [q0] = await openQueue(nodes, 'guarded')
    const stranger = await startStranger()
    try {
      await stranger.libp2p.dial(multiaddr(nodes[0]!.addresses()[0]!))
      const links = createLibp2pPeerLinks({ libp2p: stranger.libp2p, log: stranger.libp2p.logger.forComponent('test') }, { protocol: TASKS_PROTOCOL, frameBytesMax: TASKS_FRAME_BYTES_MAX, queueBytesMax: 2 * TASKS_FRAME_BYTES_MAX, keepAliveTag: 'test' })
      const answers = new Map<number, Record<string, unknown>>()
      links.onFrame((_from, frame) => { const f = decodeTasksFrame(frame) as Record<string, unknown>; answers.set(f.id as number, f) })
      await links.start()
      const target = nodes[0]!.peerId
      // a submit naming its submitter: identity comes from the connection only
      links.send(target, encodeCbor({ k: 'req', id: 1, q: 'guarded', r: encodeCbor({ op: 'submit', input: new Uint8Array(1), by: target }) }))
      // a request larger than one raft entry
      links.send(target, encodeCbor({ k: 'req', id: 2, q: 'guarded', r: new Uint8Array(COMMAND_BYTES_MAX + 1) }))
      // a driver command from a non-member
      links.send(target, encodeCbor({ k: 'req', id: 3, q: 'guarded', r: encodeCbor({ op: 'tick', epoch: 99, elapsedMs: 1 }) }))
      // not CBOR at all
      links.send(target, new Uint8Array([0xff, 0x00, 0x13]))
      await waitFor(() => answers.size === 3, 'three refusals')
      assert.equal(answers.get(1)!.k, 'err'); assert.match(String(answers.get(1)!.msg), /unexpected field "by"/)
      assert.equal(answers.get(2)!.code, 'limit-exceeded'); assert.match(String(answers.get(2)!.msg), /COMMAND_BYTES_MAX/)
      assert.equal(answers.get(3)!.k, 'err'); assert.match(String(answers.get(3)!.msg), /unknown op "tick"/)
      assert.ok(nodes[0]!.tasks.stats().rejected >= 4)
      await links.stop()
    } finally {
      await stranger.libp2p.stop()
    }
    // still serving
    nodes[1]!.tasks.work('guarded', async () => 'fine', { pollMs: 500 })
    const t = await q0!.submit('after')
    assert.equal(await q0!.result(t.id, { timeoutMs: 30_000 }), 'fine')
  })
})

describe('node.tasks with a worker in another process', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  it('kill -9 of a worker process mid-task: the task finishes elsewhere, completed exactly once', async () => {
    nodes = await startMesh(4)
    const [q0] = await openQueue(nodes, 'killed', { leaseMs: 2_000 })
    const members = q0!.members as string[]
    const child = fork(new URL('./worker-process.ts', import.meta.url).pathname, [], { env: { ...process.env, AGENTMESH_TASK_WORKER: JSON.stringify({ peer: nodes[0]!.addresses()[0], queue: 'killed', members }) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    try {
      const messages: Array<{ ready?: string, started?: string }> = []
      child.on('message', (m) => { messages.push(m as { ready?: string, started?: string }) })
      await waitFor(() => messages.some((m) => m.ready !== undefined), 'the worker process to start', 60_000)
      const task = await q0!.submit('work')
      await waitFor(() => messages.some((m) => m.started === task.id), 'the worker process to take the task', 30_000)
      const killedPeer = messages.find((m) => m.ready !== undefined)!.ready!
      assert.equal((await q0!.get(task.id))?.worker, killedPeer)
      child.kill('SIGKILL')
      let runs = 0
      nodes[3]!.tasks.work('killed', async (_input, ctx) => { runs++; return `done on attempt ${ctx.attempt}` }, { pollMs: 500 })
      assert.equal(await q0!.result(task.id, { timeoutMs: 60_000 }), 'done on attempt 2')
      const info = await q0!.get(task.id)
      assert.equal(info?.worker, nodes[3]!.peerId)
      assert.equal(info?.history.filter((h) => h.state === 'completed').length, 1)
      assert.equal(runs, 1)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
