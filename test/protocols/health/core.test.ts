// Table tests for the pure health core: statuses over time, join/leave, ordering of
// sequence numbers, goodbye, table bounds and discovery dial planning.

import assert from 'node:assert/strict'
import { HealthCore, describeHealthEffect, dialRank } from '../../../protocols/health/core.ts'
import type { HealthConfig } from '../../../protocols/health/core.ts'
import type { Announce, Goodbye } from '../../../protocols/health/messages.ts'

const config: Partial<HealthConfig> = { suspectAfterMs: 3000, deadAfterMs: 10_000, disconnectGraceMs: 1500, forgetAfterMs: 60_000 }

function announce (peerId: string, seq: number, fields: Partial<Announce> = {}): Announce {
  return { kind: 'announce', peerId, intervalMs: 1000, incarnation: 1, seq, name: `n-${peerId}`, capabilities: ['x'], version: '0.1.0', addresses: [`/memory/${peerId}`], ...fields }
}
function goodbye (peerId: string, seq: number): Goodbye {
  return { kind: 'goodbye', peerId, incarnation: 1, seq }
}
function lines (core: HealthCore): string[] { return core.drain().map(describeHealthEffect) }

describe('health core: failure detector', () => {
  it('a first announcement makes the peer alive and emits join', () => {
    const core = new HealthCore('self', config)
    assert.equal(core.step(announce('a', 1), 0), 'accepted')
    assert.deepEqual(lines(core), ['status a unknown->alive', 'join a'])
    assert.deepEqual(core.peers().map(p => [p.peerId, p.status, p.name, p.lastHeardMs]), [['a', 'alive', 'n-a', 0]])
  })

  const timeline: Array<[number, string, string[]]> = [
    [2999, 'alive', []],
    [3000, 'suspect', ['status a alive->suspect']],
    [9999, 'suspect', []],
    [10_000, 'dead', ['status a suspect->dead', 'leave a']],
    [69_999, 'dead', []]
  ]
  it('goes alive -> suspect at suspectAfterMs -> dead at deadAfterMs of silence', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 1, { addresses: [] }), 0)
    core.drain()
    for (const [nowMs, status, effects] of timeline) {
      core.tick(nowMs)
      assert.equal(core.peer('a')?.status, status, `status at ${nowMs} ms`)
      assert.deepEqual(lines(core), effects, `effects at ${nowMs} ms`)
    }
    core.tick(70_000)
    assert.equal(core.peer('a'), undefined, 'dead peers are forgotten after forgetAfterMs')
  })

  it('jumps straight to dead when a tick comes late, emitting status and leave once', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 1), 0)
    core.drain()
    core.tick(50_000)
    assert.deepEqual(lines(core), ['status a alive->dead', 'leave a'])
  })

  it('a new announcement brings a suspect peer back to alive without a second join', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 1), 0)
    core.tick(4000)
    core.drain()
    core.step(announce('a', 2), 4100)
    assert.deepEqual(lines(core), ['status a suspect->alive'])
  })

  it('a dead peer that announces again rejoins', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 1), 0)
    core.tick(10_000)
    core.drain()
    core.step(announce('a', 2), 11_000)
    assert.deepEqual(lines(core), ['status a dead->alive', 'join a'])
  })

  it('ignores stale and duplicate sequence numbers, but a new incarnation restarts them', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 5), 0)
    assert.equal(core.step(announce('a', 5), 1000), 'stale')
    assert.equal(core.step(announce('a', 4, { name: 'old' }), 1000), 'stale')
    assert.equal(core.peer('a')?.lastHeardMs, 0, 'a stale message is not proof of life')
    assert.equal(core.step(announce('a', 1, { incarnation: 2, name: 'restarted' }), 1000), 'accepted')
    assert.equal(core.peer('a')?.name, 'restarted')
    assert.equal(core.step(announce('a', 99, { incarnation: 1 }), 1000), 'stale')
  })

  it('updates name, capabilities, version and addresses from newer announcements', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 1), 0)
    core.step(announce('a', 2, { name: 'renamed', capabilities: ['plan', 'code'], version: '0.2.0', addresses: ['/ip4/127.0.0.1/tcp/9'] }), 10)
    const a = core.peer('a')
    assert.deepEqual([a?.name, a?.capabilities, a?.version, a?.addresses], ['renamed', ['plan', 'code'], '0.2.0', ['/ip4/127.0.0.1/tcp/9']])
  })

  it('ignores its own announcements', () => {
    const core = new HealthCore('self', config)
    assert.equal(core.step(announce('self', 1), 0), 'self')
    assert.deepEqual(core.peers(), [])
  })

  it('a goodbye marks the peer dead at once; older announcements cannot revive it', () => {
    const core = new HealthCore('self', config)
    core.step(announce('a', 1), 0)
    core.drain()
    assert.equal(core.step(goodbye('a', 2), 500), 'accepted')
    assert.deepEqual(lines(core), ['status a alive->dead', 'leave a'])
    assert.equal(core.step(announce('a', 1), 600), 'stale')
    core.tick(600)
    assert.equal(core.peer('a')?.status, 'dead')
    assert.equal(core.step(goodbye('b', 1), 600), 'stale', 'a goodbye from a stranger is ignored')
    assert.equal(core.peer('b'), undefined)
  })

  it('a closed connection makes a silent peer suspect after disconnectGraceMs, not before', () => {
    const core = new HealthCore('self', config)
    core.connected('a', 0)
    core.step(announce('a', 1), 0)
    core.disconnected('a', 500)
    core.tick(1999)
    assert.equal(core.peer('a')?.status, 'alive')
    core.tick(2000)
    assert.equal(core.peer('a')?.status, 'suspect')
    core.tick(9999)
    assert.equal(core.peer('a')?.status, 'suspect', 'dead still needs deadAfterMs of silence')
    core.tick(10_000)
    assert.equal(core.peer('a')?.status, 'dead')
  })

  it('an announcement relayed after the disconnect keeps the peer alive', () => {
    const core = new HealthCore('self', config)
    core.connected('a', 0)
    core.step(announce('a', 1), 0)
    core.disconnected('a', 500)
    core.step(announce('a', 2), 1000)
    core.tick(2500)
    assert.equal(core.peer('a')?.status, 'alive')
    assert.equal(core.peer('a')?.connected, false)
  })

  it('keeps at most peersMax peers, evicting the longest-silent dead one first', () => {
    const core = new HealthCore('self', { ...config, peersMax: 2 })
    core.step(announce('a', 1), 0)
    core.step(announce('b', 1), 1)
    assert.equal(core.step(announce('c', 1), 2), 'table-full')
    core.tick(10_001)
    core.step(announce('b', 2), 10_001)
    assert.equal(core.peer('a')?.status, 'dead')
    assert.equal(core.step(announce('c', 1), 10_002), 'accepted')
    assert.deepEqual(core.peers().map(p => p.peerId), ['b', 'c'])
  })

  it('rejects unusable thresholds with a message naming the option', () => {
    assert.throws(() => new HealthCore('self', { suspectAfterMs: 5000, deadAfterMs: 5000 }), /deadAfterMs: 5000 must exceed suspectAfterMs/)
    assert.throws(() => new HealthCore('self', { suspectAfterMs: -1 }), /suspectAfterMs/)
  })

  it('refuses time that goes backwards', () => {
    const core = new HealthCore('self', config)
    core.tick(100)
    assert.throws(() => core.tick(99), /time never goes backwards/)
  })
})

describe('health core: interval scaling (H9)', () => {
  it('stretches its own interval once the mesh outgrows announcesPerIntervalMax', () => {
    const core = new HealthCore('self', { ...config, announcesPerIntervalMax: 4, intervalScaleMax: 3 })
    const table: Array<[number, number]> = [[3, 1000], [4, 2000], [7, 2000], [8, 3000], [20, 3000]]
    let added = 0
    for (const [peers, expectedMs] of table) {
      while (added < peers) core.step(announce(`p${added++}`, 1, { addresses: [] }), 0)
      assert.equal(core.announceIntervalMs(), expectedMs, `${peers} peers + self`)
    }
    core.tick(10_000)
    assert.equal(core.announceIntervalMs(), 1000, 'dead peers do not count')
  })

  it('scales a peer\'s thresholds to the interval it declares, up to intervalScaleMax', () => {
    const core = new HealthCore('self', { ...config, intervalScaleMax: 4 })
    core.step(announce('slow', 1, { intervalMs: 3000, addresses: [] }), 0)
    core.step(announce('liar', 1, { intervalMs: 600_000, addresses: [] }), 0)
    const statuses = (t: number): string[] => { core.tick(t); return [core.peer('slow')!.status, core.peer('liar')!.status] }
    assert.deepEqual(statuses(8999), ['alive', 'alive'])
    assert.deepEqual(statuses(9000), ['suspect', 'alive'])
    assert.deepEqual(statuses(12_000), ['suspect', 'suspect'])
    assert.deepEqual(statuses(30_000), ['dead', 'suspect'])
    assert.deepEqual(statuses(40_000), ['dead', 'dead'], 'a declared interval cannot stretch thresholds past 4x')
  })
})

describe('health core: discovery dials', () => {
  it('dials alive, unconnected peers with addresses, up to the connections target', () => {
    const core = new HealthCore('self', { ...config, connectionsTarget: 3, dialsInFlightMax: 10 })
    core.connected('a', 0)
    for (const id of ['a', 'b', 'c', 'd']) core.step(announce(id, 1), 0)
    core.step(announce('e', 1, { addresses: [] }), 0)
    core.drain()
    core.tick(1)
    const dials = core.drain().filter(e => e.type === 'dial')
    assert.equal(dials.length, 2, 'one connection + two dials reach the target of 3')
    assert.ok(dials.every(d => ['b', 'c', 'd'].includes(d.peerId)))
    core.tick(2)
    assert.deepEqual(core.drain(), [], 'no duplicate dials while in flight')
  })

  it('orders candidates by dialRank so nodes spread their dials', () => {
    const core = new HealthCore('self', { ...config, connectionsTarget: 1 })
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5']
    for (const id of ids) core.step(announce(id, 1), 0)
    core.drain()
    core.tick(1)
    const best = [...ids].sort((x, y) => dialRank('self', x) - dialRank('self', y))[0]
    assert.deepEqual(core.drain().map(describeHealthEffect), [`dial ${best} [/memory/${best}]`])
  })

  it('caps dials in flight at dialsInFlightMax', () => {
    const core = new HealthCore('self', { ...config, connectionsTarget: 100, dialsInFlightMax: 2 })
    for (let i = 0; i < 10; i++) core.step(announce(`p${i}`, 1), 0)
    core.drain()
    core.tick(1)
    assert.equal(core.drain().length, 2)
  })

  it('backs off exponentially after failed dials and does not dial suspect peers', () => {
    const core = new HealthCore('self', { ...config, dialBackoffMinMs: 1000, dialBackoffMaxMs: 4000 })
    core.step(announce('a', 1), 0)
    const dialTimes: number[] = []
    for (let t = 0; t <= 20_000; t += 100) {
      if (t % 2000 === 0) core.step(announce('a', t + 2), t)
      core.tick(t)
      for (const effect of core.drain()) {
        if (effect.type !== 'dial') continue
        dialTimes.push(t)
        core.dialFinished({ peerId: 'a', ok: false }, t)
      }
    }
    assert.deepEqual(dialTimes, [0, 1000, 3000, 7000, 11_000, 15_000, 19_000])
    const quiet = new HealthCore('self', config)
    quiet.step(announce('b', 1), 0)
    quiet.tick(3000)
    assert.deepEqual(quiet.drain().filter(e => e.type === 'dial'), [], 'a peer that went suspect before the first tick is not dialled')
  })

  it('stops dialling a peer once connected, and redials after its connection closes', () => {
    const core = new HealthCore('self', { ...config, dialBackoffMinMs: 500 })
    core.step(announce('a', 1), 0)
    core.tick(0)
    assert.equal(core.drain().filter(e => e.type === 'dial').length, 1)
    core.connected('a', 10)
    core.dialFinished({ peerId: 'a', ok: true }, 10)
    core.tick(1000)
    assert.deepEqual(core.drain(), [])
    core.disconnected('a', 1000)
    core.step(announce('a', 2), 1100)
    core.tick(1100)
    assert.deepEqual(core.drain().map(describeHealthEffect), ['dial a [/memory/a]'])
  })
})
