// The simulated cluster runs the real driver and RaftStorage on the simulated disk: storage is kept
// the way SPEC raft E1 says, and the restart check sees what the disk kept.
import assert from 'node:assert/strict'
import { RaftStorage } from '../../../protocols/raft/storage.ts'
import { SimCluster } from '../../../sim/raft/cluster.ts'

function leaderOf (c: SimCluster): string {
  const l = c.leader()
  assert.ok(l !== undefined, 'a leader is elected')
  return l.id
}

/** Indexes of the entries a node's disk holds durably past its durable snapshot. */
async function durableSuffix (c: SimCluster, id: string): Promise<{ snapshotTerm: number | undefined, entriesAfter: number }> {
  const disk = c.node(id).disk
  const state = await new RaftStorage(disk).load()
  const snapshotIndex = state?.snapshot?.index ?? 0
  const entryIndexes = disk.durableKeys().filter((k) => k.startsWith('e/')).map((k) => Number(k.slice(2)))
  return { snapshotTerm: state?.snapshot?.term, entriesAfter: entryIndexes.filter((i) => i > snapshotIndex).length }
}

describe('sim raft cluster: real drivers on the simulated disk', () => {
  it('installing a leader snapshot drops the whole stored log, so a restart never resurrects a divergent suffix', async () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5']
    const c = new SimCluster({ seed: 3, nodeIds: ids, voters: ids, compactEvery: 1, trace: true })
    await c.runUntil(600)
    const l1 = leaderOf(c)
    const f = ids.find((id) => id !== l1)!
    const rest = ids.filter((id) => id !== l1 && id !== f)
    // l1 reaches only f: four entries of its term land on l1 and f only
    for (const b of rest) c.blocked.add(`${l1}>${b}`)
    for (let i = 0; i < 4; i++) c.withCore(l1, (core) => { core.propose(new TextEncoder().encode(`lost${i}`)) })
    await c.runUntil(c.now + 50)
    const suffixEnd = c.node(f).core!.log.lastIndex()
    // cut l1 and f off; the other three elect a leader, whose no-op overwrites the start of that suffix
    c.crash(l1)
    for (const b of rest) { c.blocked.add(`${f}>${b}`); c.blocked.add(`${b}>${f}`) }
    await c.runUntil(c.now + 600)
    const l2 = leaderOf(c)
    assert.ok(rest.includes(l2))
    const l2Term = c.node(l2).core!.term
    const snapIndex = c.node(l2).core!.log.snapshotIndex
    assert.ok(snapIndex < suffixEnd, `the new leader's snapshot (${snapIndex}) ends inside f's divergent suffix (${suffixEnd})`)
    // f hears from l2 again and gets the snapshot; then l2 goes quiet (no further append), the
    // install's fsync completes, and f crashes
    c.blocked.clear()
    let installed = false
    for (let t = 0; t < 400 && !installed; t++) {
      await c.runUntil(c.now + 1)
      installed = c.node(f).core?.snapshot?.term === l2Term
    }
    assert.ok(installed, 'f installed the snapshot')
    for (const b of ids) c.blocked.add(`${b}>${f}`)
    await c.runUntil(c.now + 30)
    c.crash(f)
    const stored = await durableSuffix(c, f)
    assert.equal(stored.snapshotTerm, l2Term, 'the installed snapshot is durable')
    assert.equal(stored.entriesAfter, 0, 'no stored entry survives past the snapshot')
    c.start(f)
    await c.runUntil(c.now + 10)
    assert.ok(c.node(f).up, 'f restarted from its disk')
    assert.deepEqual(c.checker.violations, [])
    assert.equal(c.crashError, null)
  })
})
