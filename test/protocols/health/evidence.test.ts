// Table and property tests for health membership under hostile relays (SPEC health H10):
// admission by evidence, per-relay bounds, eviction by least evidence, and the member count
// that stretches the announce interval (H9).

import assert from 'node:assert/strict'
import fc from 'fast-check'
import { HealthCore, describeHealthEffect } from '../../../protocols/health/core.ts'
import type { HealthConfig } from '../../../protocols/health/core.ts'
import { corroboratedMemberCount } from '../../../protocols/health/evidence.ts'
import type { Announce } from '../../../protocols/health/messages.ts'

const config: Partial<HealthConfig> = { suspectAfterMs: 3000, deadAfterMs: 10_000, disconnectGraceMs: 1500, forgetAfterMs: 60_000 }

function announce (peerId: string, seq: number, fields: Partial<Announce> = {}): Announce {
  return { kind: 'announce', peerId, intervalMs: 1000, incarnation: 1, seq, name: `n-${peerId}`, capabilities: [], version: '0.1.0', addresses: [`/memory/${peerId}`], ...fields }
}

/** A core that has `relays` connected and announced directly at time 0. */
function coreWith (relays: string[], overrides: Partial<HealthConfig> = {}): HealthCore {
  const core = new HealthCore('self', { ...config, ...overrides })
  for (const relay of relays) {
    core.connected(relay, 0)
    core.step(announce(relay, 1), 0)
  }
  core.drain()
  return core
}

describe('health evidence: corroborated member count (H9, H10)', () => {
  const table: Array<[string, number, number[], number]> = [
    ['no relays: direct peers only', 4, [], 4],
    ['one relay vouching for 1000: counts nothing', 5, [1000], 5],
    ['two relays: still uncorroborated', 5, [1000, 900], 5],
    ['six balanced relays count almost in full', 9, [30, 31, 29, 30, 32, 28], 9 + 30 * 4 + 29 + 28],
    ['the heaviest relays are capped at the third-largest', 3, [500, 400, 10, 9], 3 + 10 + 10 + 10 + 9],
    ['zeros and ones', 1, [1, 1, 1], 4]
  ]
  for (const [what, direct, perRelay, expected] of table) {
    it(what, () => { assert.equal(corroboratedMemberCount(direct, { perRelay, corroborating: 3 }), expected) })
  }

  it('never exceeds the plain count, never drops below the direct count, and ignores any one relay growing alone', () => {
    fc.assert(fc.property(fc.nat(50), fc.array(fc.nat(2000), { maxLength: 20 }), fc.nat(5000), (direct, perRelay, extra) => {
      const count = corroboratedMemberCount(direct, { perRelay, corroborating: 3 })
      assert.ok(count >= direct)
      assert.ok(count <= direct + perRelay.reduce((a, b) => a + b, 0))
      if (perRelay.length === 0) return
      // Inflating the largest relay changes nothing: it is already at or above the cap.
      const largest = perRelay.indexOf(Math.max(...perRelay))
      const inflated = perRelay.map((n, i) => i === largest ? n + extra : n)
      assert.equal(corroboratedMemberCount(direct, { perRelay: inflated, corroborating: 3 }), count)
    }))
  })
})

describe('health core: admission by evidence (H10)', () => {
  it('admits a newcomer relayed by a connected member, and refuses one relayed by a stranger that never announced', () => {
    const core = coreWith(['r'])
    core.connected('stranger', 0)
    assert.equal(core.step(announce('n1', 1), 1, { relay: 'stranger' }), 'unknown-relay')
    assert.equal(core.step(announce('n2', 1), 1, { relay: 'gone' }), 'unknown-relay', 'a relay we have no connection to')
    assert.equal(core.step(announce('n3', 1), 1, { relay: 'r' }), 'accepted')
    assert.equal(core.sponsoredBy('r'), 1)
    assert.deepEqual(core.peers().map(p => p.peerId), ['n3', 'r'])
  })

  it('a relay vouches for at most relayedPerPeerMax newcomers; its surplus is refused', () => {
    const core = coreWith(['s'], { relayedPerPeerMax: 3 })
    const outcomes = ['f1', 'f2', 'f3', 'f4', 'f5'].map(id => core.step(announce(id, 1), 1, { relay: 's' }))
    assert.deepEqual(outcomes, ['accepted', 'accepted', 'accepted', 'relay-full', 'relay-full'])
    assert.equal(core.sponsoredBy('s'), 3)
  })

  it('known peers are accepted whoever relays them; a full relay does not take over their sponsorship', () => {
    const core = coreWith(['r', 's'], { relayedPerPeerMax: 1 })
    core.step(announce('honest', 1), 1, { relay: 'r' })
    core.step(announce('fake', 1), 1, { relay: 's' })
    assert.equal(core.step(announce('honest', 2), 2, { relay: 's' }), 'accepted', 'a relay that wins the race cannot silence a known peer')
    assert.deepEqual([core.sponsoredBy('r'), core.sponsoredBy('s')], [1, 1])
  })

  it('gossip from its own author, or about a connected peer, is direct evidence', () => {
    const core = coreWith(['r'])
    core.step(announce('p', 1), 1, { relay: 'r' })
    assert.equal(core.sponsoredBy('r'), 1)
    core.connected('p', 2)
    assert.equal(core.sponsoredBy('r'), 0, 'a connection replaces the relay\'s word')
    assert.equal(core.step(announce('q', 1), 3, { relay: 'q' }), 'accepted', 'the author relaying itself needs no sponsor')
    assert.equal(core.sponsoredBy('q'), 0)
  })

  it('a full table evicts the heaviest relay\'s entries for a directly connected newcomer, and for a fairer relay', () => {
    const core = coreWith(['r', 's'], { peersMax: 8 })
    for (let i = 0; i < 6; i++) assert.equal(core.step(announce(`fake${i}`, 1), 1, { relay: 's' }), 'accepted')
    assert.equal(core.peers().length, 8)
    core.connected('newcomer', 2)
    assert.equal(core.step(announce('newcomer', 1), 2), 'accepted', 'direct evidence outranks a relayed entry')
    assert.equal(core.step(announce('honest', 1), 3, { relay: 'r' }), 'accepted', 'r vouches for fewer than s')
    assert.deepEqual([core.sponsoredBy('r'), core.sponsoredBy('s')], [1, 4])
    assert.equal(core.peer('fake0'), undefined, 'the longest-silent of the heaviest relay went first')
    // s cannot push out r's entry: it already vouches for more.
    assert.equal(core.step(announce('fake9', 1), 4, { relay: 's' }), 'table-full')
  })

  it('a stranger that floods the table does not stretch the announce interval (H9)', () => {
    const core = coreWith(['a', 'b', 's'], { announcesPerIntervalMax: 4 })
    for (let i = 0; i < 200; i++) core.step(announce(`fake${i}`, 1, { addresses: [] }), 1, { relay: 's' })
    assert.equal(core.corroboratedMembers(), 4, 'self and three direct peers')
    assert.equal(core.announceIntervalMs(), 1000)
  })

  it('a killed peer is dead at deadAfterMs even with a table full of a stranger\'s inventions', () => {
    const core = coreWith(['victim', 's'], { peersMax: 64 })
    for (let i = 0; i < 500; i++) core.step(announce(`fake${i}`, 1, { addresses: [] }), 0, { relay: 's' })
    for (let t = 250; t <= 10_000; t += 250) {
      for (let i = 0; i < 62; i++) core.step(announce(`fake${i}`, 1 + t), t, { relay: 's' })
      core.step(announce('s', 1 + t), t)
      core.tick(t)
    }
    assert.equal(core.peer('victim')?.status, 'dead')
    assert.ok(core.drain().map(describeHealthEffect).includes('leave victim'))
  })

  it('property: no relay exceeds its bound, the table never overflows, and a relay that never announced vouches for no one', () => {
    const step = fc.record({ peer: fc.integer({ min: 0, max: 40 }), relay: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }), connect: fc.boolean(), dtMs: fc.nat(3000) })
    fc.assert(fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
      const core = coreWith(['r0', 'r1', 'r2', 'r3'], { peersMax: 16, relayedPerPeerMax: 5 })
      let nowMs = 0
      let seq = 1
      for (const s of steps) {
        nowMs += s.dtMs
        const id = `p${s.peer}`
        if (s.connect) core.connected(id, nowMs)
        core.step(announce(id, seq++), nowMs, s.relay === undefined ? {} : { relay: `r${s.relay}` })
        core.tick(nowMs)
        core.drain()
        if (s.connect) core.disconnected(id, nowMs)
      }
      assert.ok(core.peers().length <= 16)
      for (const relay of ['r0', 'r1', 'r2', 'r3', 'r4']) assert.ok(core.sponsoredBy(relay) <= 5, `${relay} within its bound`)
      assert.equal(core.peer('r4'), undefined, 'a relay that never announced introduced no one but itself')
    }))
  })
})
