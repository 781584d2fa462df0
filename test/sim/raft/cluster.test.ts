// The simulated raft driver keeps storage the way SPEC raft E1 says, and its restart check sees
// a restored log that no longer matches the logs that wrote its entries.
import assert from 'node:assert/strict'
import { SimCluster } from '../../../sim/raft/cluster.ts'

function leaderOf (c: SimCluster): string {
  const l = c.leader()
  assert.ok(l !== undefined, 'a leader is elected')
  return l.id
}

describe('sim raft cluster: storage', () => {
  it('installing a leader snapshot drops the whole stored log, so a restart never resurrects a divergent suffix', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5']
    const c = new SimCluster({ seed: 3, nodeIds: ids, voters: ids, compactEvery: 1, trace: true })
    c.runUntil(600)
    const l1 = leaderOf(c)
    const f = ids.find((id) => id !== l1)!
    const rest = ids.filter((id) => id !== l1 && id !== f)
    // l1 reaches only f: four entries of its term land on l1 and f only
    for (const b of rest) c.blocked.add(`${l1}>${b}`)
    for (let i = 0; i < 4; i++) c.withCore(l1, (core) => core.propose(new TextEncoder().encode(`lost${i}`)))
    c.runUntil(c.now + 50)
    const suffixEnd = c.node(f).core!.log.lastIndex()
    // cut l1 and f off; the other three elect a leader, whose no-op overwrites the start of that suffix
    c.crash(l1)
    for (const b of rest) { c.blocked.add(`${f}>${b}`); c.blocked.add(`${b}>${f}`) }
    c.runUntil(c.now + 600)
    const l2 = leaderOf(c)
    assert.ok(rest.includes(l2))
    const l2Term = c.node(l2).core!.term
    const snapIndex = c.node(l2).core!.log.snapshotIndex
    assert.ok(snapIndex < suffixEnd, `the new leader's snapshot (${snapIndex}) ends inside f's divergent suffix (${suffixEnd})`)
    // f hears from l2 again: it gets the snapshot, and crashes before any further append
    c.blocked.clear()
    let installed = false
    for (let t = 0; t < 400 && !installed; t++) {
      c.runUntil(c.now + 1)
      installed = c.node(f).storage.snapshot?.term === l2Term
    }
    assert.ok(installed, 'f installed the snapshot')
    c.crash(f)
    assert.deepEqual(c.node(f).storage.entries.filter((e) => e.index > c.node(f).storage.snapshot!.index).length, 0, 'no stored entry survives past the snapshot')
    c.start(f)
    assert.deepEqual(c.checker.violations, [])
  })
})
