// Raft groups on real in-process nodes over loopback TCP: election, propose from any member,
// same apply order everywhere, reads, locks, jobs, restart with the same data dir.

import assert from 'node:assert/strict'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, RaftGroup } from '../../../src/index.ts'
import { AbortedError, BftNotConfiguredError, GroupConfigError, GroupNotJoinedError, LockUnavailableError, NoLeaderError, NotBuiltInKvError } from '../../../src/index.ts'
import { startMesh, stopAll, tempDir, waitFor } from '../../helpers.ts'

const timing = { heartbeatMs: 50, electionMs: 500 }

async function joinAll (nodes: AgentNode[], name: string, extra: Record<string, unknown> = {}): Promise<RaftGroup[]> {
  const members = nodes.map((n) => n.peerId)
  return Promise.all(nodes.map(async (n) => n.groups.join(name, { members, ...timing, ...extra })))
}

describe('raft groups on real nodes (in-process, TCP)', function () {
  this.timeout(60_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  it('elects one leader; proposals from every member apply in the same order everywhere', async () => {
    nodes = await startMesh(3)
    const logs: string[][] = [[], [], []]
    const members = nodes.map((n) => n.peerId)
    const groups = await Promise.all(nodes.map(async (n, i) => n.groups.join('g', {
      members, ...timing, apply: (command: unknown, { index }: { index: number }) => { logs[i]!.push(`${index}:${String(command)}`); return `applied ${String(command)} at ${index}` }
    })))
    const leader = await groups[0]!.waitForLeader({ timeoutMs: 20_000 })
    assert.ok(members.includes(leader))
    await waitFor(() => groups.every((g) => g.leader() === leader), 'every member to know the leader')
    assert.equal(groups.filter((g) => g.isLeader()).length, 1)
    const results = await Promise.all(groups.flatMap((g, i) => [0, 1, 2].map(async (k) => g.propose(`c${i}-${k}`))))
    for (const r of results) assert.match(String(r), /^applied c\d-\d at \d+$/)
    await waitFor(() => logs.every((l) => l.length === 9), 'every member to apply 9 commands')
    assert.deepEqual(logs[1], logs[0])
    assert.deepEqual(logs[2], logs[0])
    await assert.rejects(groups[0]!.kv.get('x'), NotBuiltInKvError)
    await assert.rejects(groups[0]!.propose('v', { bft: true }), BftNotConfiguredError)
    assert.throws(() => groups[0]!.verify({}), BftNotConfiguredError)
    // the seam: a BFT service given to the node receives flagged proposals and verifications
    const seen: unknown[] = []
    nodes[0]!.groups.useBft({ propose: async (value) => { seen.push(value); return { value, height: 7, certificate: { signers: [] } } }, verify: (d) => (d as { height: number }).height === 7 })
    const decision = await groups[0]!.propose('flagged', { bft: true })
    assert.deepEqual(seen, ['flagged'])
    assert.equal(groups[0]!.verify(decision), true)
    assert.ok(logs[0]!.every((l) => !l.includes('flagged')), 'a BFT proposal does not enter the raft log')
  })

  it('built-in KV: put on one member, linearizable get on another; locks and fencing tokens', async () => {
    nodes = await startMesh(3)
    const groups = await joinAll(nodes, 'kv')
    await groups[0]!.waitForLeader({ timeoutMs: 20_000 })
    await groups[1]!.kv.put('a', '1')
    assert.equal(await groups[2]!.kv.get('a'), '1')
    await groups[2]!.kv.delete('a')
    assert.equal(await groups[0]!.kv.get('a'), null)
    const l1 = await groups[0]!.lock('res', { ttlMs: 5_000 })
    await assert.rejects(groups[1]!.lock('res', { ttlMs: 5_000, timeoutMs: 600 }), /held by/)
    // waitMs: 0 asks once and fails at once with the typed error, well before the TTL
    await assert.rejects(groups[1]!.lock('res', { ttlMs: 5_000, waitMs: 0 }), (err: Error) => err instanceof LockUnavailableError && /held by .* after waiting 0 ms \(waitMs\)/.test(err.message))
    assert.equal(await l1.release(), true)
    const l2 = await groups[1]!.lock('res', { ttlMs: 5_000 })
    assert.ok(l2.token > l1.token, 'fencing tokens grow')
    await assert.rejects(nodes[0]!.groups.join('kv', { members: nodes.map((n) => n.peerId) }), GroupConfigError)
    // a second group on the same nodes is independent
    const other = await joinAll(nodes, 'kv2')
    await other[2]!.kv.put('a', 'other')
    assert.equal(await other[0]!.kv.get('a'), 'other')
    assert.equal(await groups[0]!.kv.get('a'), null)
    assert.deepEqual(nodes[1]!.groups.list().sort(), ['kv', 'kv2'])
  })

  it('a wall-clock jump of +1 h does not expire a lock lease (the replicated clock moves by monotonic steps)', async () => {
    nodes = await startMesh(3)
    const groups = await joinAll(nodes, 'lease')
    await groups[0]!.waitForLeader({ timeoutMs: 20_000 })
    const held = await groups[0]!.lock('res', { ttlMs: 30_000 })
    const realNow = Date.now
    Date.now = () => realNow() + 3_600_000 // every member's wall clock steps an hour forward
    try {
      await new Promise((resolve) => setTimeout(resolve, 10 * timing.heartbeatMs)) // the leader proposes `time` every heartbeat meanwhile
      await assert.rejects(groups[1]!.lock('res', { ttlMs: 30_000, timeoutMs: 600 }), /held by/)
    } finally {
      Date.now = realNow
    }
    assert.equal(await held.release(), true, 'the holder still holds its lease')
  })

  it('runOnLeader runs a job only on the leader', async () => {
    nodes = await startMesh(3)
    const groups = await joinAll(nodes, 'jobs')
    const runs = new Map<string, number>()
    const jobs = groups.map((g, i) => g.runOnLeader('tick', 20, () => { runs.set(nodes[i]!.peerId, (runs.get(nodes[i]!.peerId) ?? 0) + 1) }))
    const leader = await groups[0]!.waitForLeader({ timeoutMs: 20_000 })
    await waitFor(() => (runs.get(leader) ?? 0) >= 3, 'the job to run on the leader')
    assert.deepEqual([...runs.keys()], [leader])
    for (const j of jobs) j.cancel()
  })

  it('a single-member group commits alone; without a quorum a proposal waits and leave() ends it with a typed error', async () => {
    nodes = await startMesh(2)
    const solo = await nodes[0]!.groups.join('solo', { members: [nodes[0]!.peerId], ...timing })
    assert.equal((await solo.propose({ op: 'put', key: 'a', value: 'b' })).value, 'b')
    assert.deepEqual(nodes[0]!.groups.list(), ['solo'])
    assert.throws(() => nodes[0]!.groups.get('nope'), GroupNotJoinedError)
    // two members, only one joined: no quorum, so nothing commits
    const half = await nodes[0]!.groups.join('half', { members: nodes.map((n) => n.peerId), ...timing })
    await assert.rejects(half.propose({ op: 'put', key: 'a', value: 'b' }, { timeoutMs: 800 }), NoLeaderError)
    const pending = half.propose({ op: 'put', key: 'a', value: 'c' })
    const controller = new AbortController()
    const aborted = half.read(undefined, { signal: controller.signal })
    controller.abort()
    await assert.rejects(aborted, AbortedError)
    await half.leave()
    // left: the documented GroupNotJoinedError, for a wait in flight and for every later call
    await assert.rejects(pending, GroupNotJoinedError)
    await assert.rejects(half.propose('x'), GroupNotJoinedError)
    await assert.rejects(half.kv.get('a'), GroupNotJoinedError)
    assert.deepEqual(nodes[0]!.groups.list(), ['solo'])
  })

  it('a member restarted with the same data dir rejoins with its log; one that fell behind a compaction gets a snapshot', async () => {
    const dirs = await Promise.all([0, 1, 2].map(async () => tempDir()))
    try {
      const first = await createAgentNode({ dataDir: dirs[0]!.path, listen: ['/ip4/127.0.0.1/tcp/0'] })
      nodes = [first]
      for (let i = 1; i < 3; i++) nodes.push(await createAgentNode({ dataDir: dirs[i]!.path, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [first.addresses()[0]!] }))
      const members = nodes.map((n) => n.peerId)
      let groups = await joinAll(nodes, 'r', { compactEntries: 16 })
      await groups[0]!.waitForLeader({ timeoutMs: 20_000 })
      for (let i = 0; i < 5; i++) await groups[i % 3]!.kv.put(`k${i}`, `v${i}`)
      const victim = groups.findIndex((g) => !g.isLeader())
      const applied = groups[victim]!.appliedIndex()
      await nodes[victim]!.stop()
      const other = nodes[victim === 0 ? 1 : 0]!
      nodes[victim] = await createAgentNode({ dataDir: dirs[victim]!.path, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [other.addresses()[0]!] })
      assert.equal(nodes[victim]!.peerId, members[victim])
      // while the victim is down the others write past several compactions
      const survivor = groups[(victim + 1) % 3]!
      for (let i = 0; i < 40; i++) await survivor.kv.put(`m${i % 4}`, `w${i}`)
      const again = await nodes[victim]!.groups.join('r', { members, ...timing, compactEntries: 16 })
      groups = groups.map((g, i) => i === victim ? again : g)
      await survivor.kv.put('after', 'restart')
      assert.equal(await again.kv.get('m3'), 'w39')
      assert.equal(await again.kv.get('k4'), 'v4')
      assert.equal(await again.kv.get('after'), 'restart')
      assert.ok(again.appliedIndex() > applied)
      assert.ok(again.status().snapshotIndex > 0, 'the log was compacted')
      assert.ok(survivor.status().snapshotIndex > applied, 'the others compacted past what the victim had')
    } finally {
      await stopAll(nodes); nodes = []
      await Promise.all(dirs.map(async (d) => d.remove()))
    }
  })
})
