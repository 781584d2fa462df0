// node.tasks on real in-process nodes over loopback TCP: a queue hosted by three members, workers
// on a fourth node that is not a member, leases, retries, dead letters, gate, bids, fork-join.

import assert from 'node:assert/strict'
import type { AgentNode, TaskQueue } from '../../../src/index.ts'
import { QueueNotFoundError, StaleLeaseError, TaskFailedError } from '../../../src/index.ts'
import { startMesh, stopAll, waitFor } from '../../helpers.ts'

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
})
