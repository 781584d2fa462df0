// Raft groups with one OS process per node over loopback TCP: kill -9 of the leader, restart from
// the data dir, SIGSTOP of the leader and its return, a partition made by blocking connections, exclusive locks with growing fencing
// tokens, and a recorded KV history checked for linearizability.

import assert from 'node:assert/strict'
import { ProcessCluster } from '../../../sim/raft/process-cluster.ts'
import { checkPartitioned } from '../../../sim/raft/linearizability.ts'
import type { Operation } from '../../../sim/raft/linearizability.ts'
import { kvRegisterModel } from '../../../sim/raft/models.ts'
import type { KvInput } from '../../../sim/raft/models.ts'

const timing = { heartbeatMs: 50, electionMs: 500 }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * Client `i` (one per process) doing puts and linearizable gets on two keys until `running()` is
 * false, recording each call in `history`; a failed or unknown outcome (the process died or is
 * paused) stays pending forever in the history.
 */
async function kvClient (c: ProcessCluster, i: number, history: Array<Operation<KvInput, string | null>>, running: () => boolean): Promise<void> {
  for (let n = 0; running(); n++) {
    if (!c.workers[i]!.alive) { await sleep(20); continue }
    const key = `k${n % 2}`
    const input: KvInput = n % 3 === 0 ? { op: 'get', key } : { op: 'put', key, value: `${i}-${n}` }
    const op: Operation<KvInput, string | null> = { client: `c${i}`, input, output: undefined, call: performance.now(), ret: Infinity, id: `${i}/${n}` }
    history.push(op)
    try {
      const out = input.op === 'get'
        ? await c.call(i, { op: 'get', group: c.group, key, timeoutMs: 10_000 })
        : (await c.call(i, { op: 'propose', group: c.group, command: input, timeoutMs: 10_000 })).value
      op.output = out
      op.ret = performance.now()
    } catch {
      await sleep(20)
    }
  }
}

describe('raft groups on separate processes (TCP)', function () {
  this.timeout(120_000)

  it('3 nodes: kill -9 of the leader, a new leader takes writes; KV history is linearizable; the victim restarts with its log', async () => {
    const c = await ProcessCluster.start({ nodes: 3, group: 'g', ...timing })
    try {
      const g = c.group
      const history: Array<Operation<KvInput, string | null>> = []
      let stop = false
      const client = async (i: number): Promise<void> => { await kvClient(c, i, history, () => !stop) }
      const leader = await c.waitForLeader()
      const clients = [0, 1, 2].map(async (i) => client(i))
      await sleep(1_000)
      c.kill(leader)
      const newLeader = await c.waitForLeader()
      assert.notEqual(newLeader, leader)
      const survivor = [0, 1, 2].find((i) => i !== leader)!
      const r = await c.call(survivor, { op: 'propose', group: g, command: { op: 'put', key: 'after-kill', value: 'yes' }, timeoutMs: 15_000 })
      assert.equal(r.value, 'yes')
      await sleep(1_000)
      await c.restart(leader)
      await sleep(800)
      stop = true
      await Promise.all(clients)
      assert.equal(await c.call(leader, { op: 'get', group: g, key: 'after-kill', timeoutMs: 15_000 }), 'yes', 'the restarted node catches up')
      const done = history.filter((o) => o.output !== undefined).length
      assert.ok(done > 20, `enough completed operations (${done})`)
      const check = checkPartitioned(kvRegisterModel, history, (o) => o.input.key)
      assert.equal(check.exhausted, false)
      assert.ok(check.ok, `history of ${history.length} operations is linearizable (failed key ${String(check.failedKey)})`)
      const statuses = await c.statuses()
      const applied = statuses.map((s) => s!.applied)
      assert.ok(Math.min(...applied) > 0)
    } finally {
      await c.stop()
    }
  })

  it('3 nodes: SIGSTOP of the leader (no connection reset), survivors take writes; back from the pause it steps down, reads are fresh, and the KV history is linearizable', async () => {
    const c = await ProcessCluster.start({ nodes: 3, group: 'g', ...timing })
    try {
      const g = c.group
      const history: Array<Operation<KvInput, string | null>> = []
      let stop = false
      const client = async (i: number): Promise<void> => { await kvClient(c, i, history, () => !stop) }
      const leader = await c.waitForLeader()
      const termBefore = (await c.statuses())[leader]!.term
      const clients = [0, 1, 2].map(async (i) => client(i))
      await sleep(1_000)
      c.pause(leader) // its connections stay open: nobody sees a disconnect, only silence
      const survivor = [0, 1, 2].find((i) => i !== leader)!
      const r = await c.call(survivor, { op: 'propose', group: g, command: { op: 'put', key: 'during-pause', value: 'new' }, timeoutMs: 15_000 })
      assert.equal(r.value, 'new')
      const newLeader = await c.waitForLeader()
      assert.notEqual(newLeader, leader)
      await sleep(2 * timing.electionMs) // paused for longer than an election timeout
      c.resume(leader)
      // the first thing asked of the old leader: a read of what was written while it was stopped
      assert.equal(await c.call(leader, { op: 'get', group: g, key: 'during-pause', timeoutMs: 15_000 }), 'new', 'a read through the old leader is not stale')
      const back = (await c.statuses())[leader]!
      assert.equal(back.isLeader, false, 'it stepped down')
      assert.ok(back.term > termBefore, `it learned the newer term (${back.term} > ${termBefore})`)
      await sleep(500)
      stop = true
      await Promise.all(clients)
      const done = history.filter((o) => o.output !== undefined).length
      assert.ok(done > 20, `enough completed operations (${done})`)
      const check = checkPartitioned(kvRegisterModel, history, (o) => o.input.key)
      assert.equal(check.exhausted, false)
      assert.ok(check.ok, `history of ${history.length} operations is linearizable (failed key ${String(check.failedKey)})`)
    } finally {
      await c.stop()
    }
  })

  it('3 nodes: concurrent lockers in different processes get exclusive leases with fencing tokens that only grow', async () => {
    const c = await ProcessCluster.start({ nodes: 3, group: 'locks', ...timing })
    try {
      await c.waitForLeader()
      const grants: Array<{ token: number, acquiredAt: number, releasedAt: number, who: number }> = []
      const locker = async (i: number): Promise<void> => {
        for (let n = 0; n < 4; n++) {
          const l = await c.call(i, { op: 'lock', group: c.group, resource: 'printer', ttlMs: 10_000, timeoutMs: 30_000 }) as { owner: string, token: number }
          const grant = { token: l.token, acquiredAt: performance.now(), releasedAt: Infinity, who: i }
          grants.push(grant)
          await sleep(10)
          grant.releasedAt = performance.now()
          assert.equal(await c.call(i, { op: 'unlock', group: c.group, resource: 'printer', owner: l.owner, token: l.token, timeoutMs: 15_000 }), true, `unlock of token ${l.token} by n${i}`)
        }
      }
      await Promise.all([0, 1, 2].map(async (i) => locker(i)))
      assert.equal(grants.length, 12)
      const byTime = [...grants].sort((a, b) => a.acquiredAt - b.acquiredAt)
      const trace = JSON.stringify(byTime)
      for (let i = 1; i < byTime.length; i++) {
        assert.ok(byTime[i]!.token > byTime[i - 1]!.token, `fencing tokens grow in grant order: ${trace}`)
        assert.ok(byTime[i]!.acquiredAt > byTime[i - 1]!.releasedAt, `a lease is granted only after the previous holder released it: ${trace}`)
      }
    } finally {
      await c.stop()
    }
  })

  it('5 nodes: a partition (blocked connections) leaves the minority unable to commit; the majority commits; heal converges', async () => {
    const c = await ProcessCluster.start({ nodes: 5, group: 'p', ...timing })
    try {
      const g = c.group
      const leader = await c.waitForLeader()
      await c.call(leader, { op: 'propose', group: g, command: { op: 'put', key: 'x', value: 'before' }, timeoutMs: 15_000 })
      const minority = [leader, (leader + 1) % 5]
      const majority = [0, 1, 2, 3, 4].filter((i) => !minority.includes(i))
      await c.partition(minority, majority)
      await assert.rejects(c.call(minority[1]!, { op: 'propose', group: g, command: { op: 'put', key: 'x', value: 'minority' }, timeoutMs: 2_000 }), /not committed|no leader/)
      const r = await c.call(majority[0]!, { op: 'propose', group: g, command: { op: 'put', key: 'x', value: 'majority' }, timeoutMs: 20_000 })
      assert.equal(r.value, 'majority')
      const s = await c.statuses()
      const newLeader = s.findIndex((x) => x?.isLeader === true && x.leader !== null && majority.includes(s.indexOf(x)))
      assert.ok(majority.includes(newLeader), 'the majority side elected a leader')
      await c.heal()
      for (const i of minority) assert.equal(await c.call(i, { op: 'get', group: g, key: 'x', timeoutMs: 20_000 }), 'majority', `n${i} converged`)
      // the write the minority tried never took effect: the register holds the majority's value
      assert.equal(await c.call(majority[1]!, { op: 'get', group: g, key: 'x', timeoutMs: 20_000 }), 'majority')
    } finally {
      await c.stop()
    }
  })
})
