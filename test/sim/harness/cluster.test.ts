import assert from 'node:assert/strict'
import { Cluster } from '../../../sim/harness/cluster.ts'
import { allConnectedToBootstrap } from '../../../sim/harness/connectivity.ts'

async function exercise (transport: 'memory' | 'tcp'): Promise<void> {
  const plugin = new URL('../fixtures/plugin.ts', import.meta.url).href
  const cluster = await Cluster.start({ nodes: 4, transport, seed: 9, persist: true, plugins: [plugin] })
  try {
    assert.notEqual(await cluster.waitUntil(async () => await allConnectedToBootstrap(cluster), { timeoutMs: 20_000 }), null, 'all reach the bootstrap node')
    await cluster.introduce()
    const who = await cluster.nodes[2]!.invoke('whoami', null) as { peerId: string, name: string, pid: number }
    assert.deepEqual([who.peerId, who.name], [cluster.nodes[2]!.peerId, 'n2'])
    assert.equal(who.pid === process.pid, transport === 'memory', 'tcp nodes run in their own process')
    assert.equal(await cluster.nodes[1]!.invoke('add', [1, 2, 3]), 6)
    await assert.rejects(cluster.nodes[1]!.invoke('fail', null), { name: 'RangeError', message: 'plug-in op failed on purpose' })
    await assert.rejects(cluster.nodes[1]!.invoke('nope', null), { code: 'ERR_UNKNOWN_OP' })
    const [, b, c] = cluster.nodes as [never, typeof cluster.nodes[0], typeof cluster.nodes[0]]
    b.handle('echo', p => p)
    assert.equal(await c.request(b.peerId, 'echo', 'before'), 'before')

    await cluster.partition([[0, 1], [2, 3]])
    const started = performance.now()
    await assert.rejects(c.request(b.peerId, 'echo', 'across', { timeoutMs: 10_000 }), (err: { code?: string }) => err.code === 'ERR_PEER_UNREACHABLE')
    assert.ok(performance.now() - started < 5_000, 'a gated dial fails fast rather than timing out')
    assert.ok(!(await c.snapshot()).connections.includes(b.peerId), 'the existing connection was closed')
    await cluster.heal()
    assert.equal(await c.request(b.peerId, 'echo', 'healed'), 'healed')

    const id = b.peerId
    await cluster.kill(1)
    await assert.rejects(c.request(id, 'echo', 'dead', { timeoutMs: 10_000 }))
    await cluster.restart(1)
    assert.equal(b.peerId, id, 'identity survives the restart (data dir)')
    await cluster.introduce()
    assert.equal(await c.request(id, 'echo', 'back'), 'back', 'handlers are re-registered after restart')
    assert.deepEqual(cluster.timeline.entries().map(e => e.kind).filter(k => k !== 'join'), ['partition', 'heal', 'kill', 'restart'])
  } finally {
    await cluster.stop()
  }
}

describe('sim cluster', () => {
  it('flaps links on a seeded schedule and restores them all when stopped', async () => {
    const cluster = await Cluster.start({ nodes: 3, transport: 'memory', seed: 4 })
    try {
      cluster.startFlapping({ periodMs: 40, downMs: 30 })
      const downs = (): number => cluster.timeline.entries().filter(e => e.kind === 'link-down').length
      assert.notEqual(await cluster.waitUntil(() => downs() >= 3, { timeoutMs: 10_000, pollMs: 10 }), null, 'links went down repeatedly')
      cluster.stopFlapping()
      const ids = cluster.nodes.map(n => n.peerId)
      // links whose restore timer was cancelled by stopFlapping are restored too
      assert.ok(ids.every(a => ids.every(b => !cluster.links.isCut(a, b))), 'every link is back')
    } finally {
      await cluster.stop()
    }
  })

  it('partitions, heals, kills and restarts in-process nodes', async () => { await exercise('memory') })
  it('does the same with one process per node over TCP', async () => { await exercise('tcp') })
})
