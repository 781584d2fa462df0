import assert from 'node:assert/strict'
import fc from 'fast-check'
import { EventsCore, planSyncReply, sortCanonical, HELD_EVENTS_MAX } from '../../../protocols/events/core.ts'
import type { Effect } from '../../../protocols/events/core.ts'
import type { Envelope } from '../../../protocols/events/messages.ts'
import { createRng } from '../../../protocols/kit/rng.ts'

function ev (author: string, seq: number, wallMs = seq * 10, topic = 't'): Envelope {
  return { id: `${author}-${seq}`, topic, type: 'x', data: seq, author, hlc: { wallMs, logical: 0 }, seq, bodyBytes: new Uint8Array(), signature: new Uint8Array(), wire: new Uint8Array() }
}

function persisted (effects: Effect[]): string[] {
  return effects.flatMap(e => e.kind === 'persist' ? e.events.map(x => x.id) : [])
}

describe('events core', () => {
  it('holds back a later event and releases it when the gap is filled, asking the forwarder', () => {
    const core = new EventsCore()
    core.step({ kind: 'join', topic: 't' })
    core.step({ kind: 'peer-up', topic: 't', peer: 'p' })
    core.drain()
    core.step({ kind: 'event', event: ev('a', 2), from: 'q' })
    const first = core.drain()
    assert.deepEqual(persisted(first), [])
    assert.deepEqual(first.filter(e => e.kind === 'sync').map(e => (e as { peer: string }).peer), ['q'])
    assert.equal(core.caughtUp('t'), false)
    core.step({ kind: 'event', event: ev('a', 1) })
    assert.deepEqual(persisted(core.drain()), ['a-1', 'a-2'])
  })

  it('keeps per-author order and exactly-once under any reordering and duplication of delivery', () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      const rng = createRng(seed)
      const events = ['a', 'b', 'c'].flatMap(author => Array.from({ length: 20 }, (_, i) => ev(author, i + 1, rng.int(1, 5) + i * 10)))
      const input = [...events, ...events.filter(() => rng.chance(0.3))]
      for (let i = input.length - 1; i > 0; i--) { const j = rng.int(0, i); [input[i], input[j]] = [input[j]!, input[i]!] }
      const core = new EventsCore()
      core.step({ kind: 'join', topic: 't' })
      const out: string[] = []
      for (const e of input) { core.step({ kind: 'event', event: e }); out.push(...persisted(core.drain())) }
      assert.equal(out.length, events.length, 'each event persisted exactly once')
      for (const author of ['a', 'b', 'c']) {
        const seqs = out.filter(id => id.startsWith(author)).map(id => Number(id.split('-')[1]))
        assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => i + 1))
      }
      assert.equal(core.heldCount('t'), 0)
    }), { numRuns: 200 })
  })

  it('rejects an author whose HLC does not increase with seq', () => {
    const core = new EventsCore()
    core.step({ kind: 'join', topic: 't' })
    core.step({ kind: 'event', event: ev('a', 1, 50) })
    core.step({ kind: 'event', event: ev('a', 2, 40) })
    const effects = core.drain()
    assert.deepEqual(persisted(effects), ['a-1'])
    assert.equal(effects.filter(e => e.kind === 'reject').length, 1)
  })

  it('bounds the hold-back buffer', () => {
    const core = new EventsCore()
    core.step({ kind: 'join', topic: 't' })
    for (let i = 0; i < HELD_EVENTS_MAX + 5; i++) core.step({ kind: 'event', event: ev('a', i + 2) })
    assert.equal(core.heldCount('t'), HELD_EVENTS_MAX)
    assert.equal(core.drain().filter(e => e.kind === 'reject').length, 5)
  })

  it('is caught up only after a round with every connected topic peer found nothing missing', () => {
    const core = new EventsCore()
    core.step({ kind: 'join', topic: 't' })
    assert.equal(core.caughtUp('t'), false, 'no peers: nothing to compare with')
    core.step({ kind: 'peer-up', topic: 't', peer: 'p' })
    assert.equal(core.drain().filter(e => e.kind === 'sync').length, 1)
    assert.equal(core.caughtUp('t'), false)
    core.step({ kind: 'event', event: ev('a', 1), from: 'p' })
    core.step({ kind: 'sync-reply', topic: 't', peer: 'p', vector: [{ author: 'a', seq: 2, floor: 0 }], received: 1, more: false })
    assert.equal(core.drain().filter(e => e.kind === 'sync').length, 1, 'still behind: ask again')
    core.step({ kind: 'event', event: ev('a', 2), from: 'p' })
    core.step({ kind: 'sync-reply', topic: 't', peer: 'p', vector: [{ author: 'a', seq: 2, floor: 0 }], received: 1, more: false })
    assert.equal(core.caughtUp('t'), true)
    core.step({ kind: 'peer-up', topic: 't', peer: 'q' })
    assert.equal(core.caughtUp('t'), false, 'a new peer is unknown until a round completes')
  })

  it('jumps over a peer\'s compaction floor and releases held events above it', () => {
    const core = new EventsCore()
    core.step({ kind: 'join', topic: 't' })
    core.step({ kind: 'peer-up', topic: 't', peer: 'p' })
    core.step({ kind: 'event', event: ev('a', 6), from: 'p' })
    core.drain()
    core.step({ kind: 'sync-reply', topic: 't', peer: 'p', vector: [{ author: 'a', seq: 6, floor: 5 }], received: 0, more: false })
    assert.deepEqual(persisted(core.drain()), ['a-6'])
    assert.deepEqual(core.vector('t'), [{ author: 'a', seq: 6, floor: 5 }])
  })

  it('plans bounded sync batches above the requester and the floor', () => {
    const plan = planSyncReply([{ author: 'a', seq: 10, floor: 3 }, { author: 'b', seq: 4, floor: 0 }], [{ author: 'a', seq: 1, floor: 0 }], 5)
    assert.deepEqual(plan, { ranges: [{ author: 'a', fromSeq: 4, toSeq: 8 }], more: true })
    assert.deepEqual(planSyncReply([{ author: 'a', seq: 2, floor: 0 }], [{ author: 'a', seq: 2, floor: 0 }]), { ranges: [], more: false })
  })

  it('orders canonically by (hlc, author, seq) whatever the input order', () => {
    const events = [ev('b', 1, 10), ev('a', 1, 10), ev('a', 2, 5), ev('c', 1, 1)]
    const ids = sortCanonical(events).map(e => e.id)
    assert.deepEqual(ids, ['c-1', 'a-2', 'a-1', 'b-1'])
    assert.deepEqual(sortCanonical([...events].reverse()).map(e => e.id), ids)
  })
})
