import assert from 'node:assert/strict'
import fc from 'fast-check'
import { EventsCore, planSyncReply, sortCanonical, HELD_EVENTS_MAX, AUTHORS_PER_PEER_MAX, TOPIC_AUTHORS_MAX } from '../../../protocols/events/core.ts'
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
    assert.deepEqual(plan, { ranges: [{ author: 'a', fromSeq: 4, toSeq: 8 }], more: true, resumeAt: 'b' })
    assert.deepEqual(planSyncReply([{ author: 'a', seq: 10, floor: 3 }, { author: 'b', seq: 4, floor: 0 }], [{ author: 'a', seq: 8, floor: 0 }], 5, plan.resumeAt),
      { ranges: [{ author: 'b', fromSeq: 1, toSeq: 4 }, { author: 'a', fromSeq: 9, toSeq: 9 }], more: true, resumeAt: 'b' })
    assert.deepEqual(planSyncReply([{ author: 'a', seq: 2, floor: 0 }], [{ author: 'a', seq: 2, floor: 0 }]), { ranges: [], more: false, resumeAt: undefined })
  })

  it('orders canonically by (hlc, author, seq) whatever the input order', () => {
    const events = [ev('b', 1, 10), ev('a', 1, 10), ev('a', 2, 5), ev('c', 1, 1)]
    const ids = sortCanonical(events).map(e => e.id)
    assert.deepEqual(ids, ['c-1', 'a-2', 'a-1', 'b-1'])
    assert.deepEqual(sortCanonical([...events].reverse()).map(e => e.id), ids)
  })

  describe('against a lying peer (SPEC E8, E11, E12)', () => {
    const HUGE = Number.MAX_SAFE_INTEGER

    function meshCore (peers: string[]): EventsCore {
      const core = new EventsCore({ self: 'me' })
      core.step({ kind: 'join', topic: 't' })
      for (const p of peers) core.step({ kind: 'peer-up', topic: 't', peer: p })
      core.drain()
      return core
    }

    it('a forged sync vector adds no author, moves no seq or floor, and never changes this node\'s next seq', () => {
      const core = meshCore(['liar'])
      core.step({ kind: 'event', event: ev('me', 1) })
      core.step({ kind: 'event', event: ev('a', 1), from: 'liar' })
      core.drain()
      const before = core.vector('t')
      const forged = [{ author: 'me', seq: HUGE, floor: HUGE }, { author: 'a', seq: HUGE, floor: HUGE }, ...Array.from({ length: 4092 }, (_, i) => ({ author: `fake${i}`, seq: HUGE, floor: HUGE }))]
      core.step({ kind: 'sync-reply', topic: 't', peer: 'liar', vector: forged, received: 0, more: true })
      assert.deepEqual(persisted(core.drain()), [])
      assert.deepEqual(core.vector('t'), before)
      assert.equal(core.head('t', 'me').seq, 1, 'the next own seq is 2, whatever the peer claimed')
      core.step({ kind: 'event', event: ev('me', 2) })
      assert.deepEqual(persisted(core.drain()), ['me-2'])
      core.step({ kind: 'event', event: ev('b', 1), from: 'honest' })
      assert.deepEqual(persisted(core.drain()), ['b-1'], 'a new author still finds room')
    })

    it('skips a gap only when every topic peer answered, none can serve it and one reports a floor; never past a held signed event', () => {
      const core = meshCore(['liar', 'q'])
      core.step({ kind: 'event', event: ev('a', 6), from: 'liar' })
      core.drain()
      core.step({ kind: 'sync-reply', topic: 't', peer: 'liar', vector: [{ author: 'a', seq: HUGE, floor: HUGE }], received: 0, more: false })
      assert.deepEqual(persisted(core.drain()), [], 'q has not answered yet')
      core.step({ kind: 'sync-reply', topic: 't', peer: 'q', vector: [{ author: 'a', seq: 6, floor: 0 }], received: 0, more: false })
      assert.deepEqual(persisted(core.drain()), [], 'q still has a-1..a-5: no skip')
      for (let seq = 1; seq <= 5; seq++) core.step({ kind: 'event', event: ev('a', seq), from: 'q' })
      assert.deepEqual(persisted(core.drain()), ['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6'])

      const other = meshCore(['liar', 'q'])
      other.step({ kind: 'event', event: ev('a', 6), from: 'liar' })
      other.step({ kind: 'sync-reply', topic: 't', peer: 'liar', vector: [{ author: 'a', seq: HUGE, floor: HUGE }], received: 0, more: false })
      other.step({ kind: 'sync-reply', topic: 't', peer: 'q', vector: [], received: 0, more: false })
      assert.deepEqual(persisted(other.drain()), ['a-6'], 'nobody can serve a-1..a-5: skipped up to the held event only')
      assert.deepEqual(other.vector('t'), [{ author: 'a', seq: 6, floor: 5 }])
    })

    it('never skips a gap in this node\'s own events', () => {
      const core = meshCore(['liar'])
      core.step({ kind: 'event', event: ev('me', 3), from: 'liar' })
      core.step({ kind: 'sync-reply', topic: 't', peer: 'liar', vector: [{ author: 'me', seq: 3, floor: 2 }], received: 0, more: false })
      assert.deepEqual(persisted(core.drain()), [])
      assert.equal(core.head('t', 'me').seq, 0)
    })

    it(`cuts off a peer that introduces more than AUTHORS_PER_PEER_MAX (${AUTHORS_PER_PEER_MAX}) authors`, () => {
      const core = meshCore(['x', 'h'])
      for (let i = 0; i < AUTHORS_PER_PEER_MAX; i++) core.step({ kind: 'event', event: ev(`x${i}`, 1), from: 'x' })
      assert.equal(persisted(core.drain()).length, AUTHORS_PER_PEER_MAX)
      core.step({ kind: 'event', event: ev('x-extra', 1), from: 'x' })
      const effects = core.drain()
      assert.deepEqual(effects.filter(e => e.kind === 'cut-off').map(e => (e as { peer: string }).peer), ['x'])
      assert.equal(core.isCutOff('t', 'x'), true)
      core.step({ kind: 'event', event: ev('x0', 2), from: 'x' })
      assert.deepEqual(persisted(core.drain()), [], 'nothing more is taken from a cut-off peer')
      core.step({ kind: 'sync-failed', topic: 't', peer: 'h' })
      core.step({ kind: 'peer-up', topic: 't', peer: 'x' })
      core.step({ kind: 'tick' })
      assert.deepEqual(core.drain().filter(e => e.kind === 'sync').map(e => (e as { peer: string }).peer), ['h'], 'nor synced with')
      core.step({ kind: 'event', event: ev('x0', 2), from: 'h' })
      assert.deepEqual(persisted(core.drain()), ['x0-2'], 'an honest peer still relays those authors')
    })

    it('when the author table is full, a new author evicts the newest author of the peer that introduced the most', () => {
      const core = meshCore(['x', 'z', 'h'])
      for (let i = 0; i < AUTHORS_PER_PEER_MAX; i++) core.step({ kind: 'event', event: ev(`x${i}`, 1), from: 'x' })
      for (let i = 0; i < TOPIC_AUTHORS_MAX - AUTHORS_PER_PEER_MAX - 1; i++) core.step({ kind: 'event', event: ev(`z${i}`, 1), from: 'z' })
      core.step({ kind: 'event', event: ev('me', 1) })
      core.drain()
      assert.equal(core.vector('t').length, TOPIC_AUTHORS_MAX)
      core.step({ kind: 'event', event: ev('honest', 1), from: 'h' })
      const effects = core.drain()
      assert.deepEqual(effects.filter(e => e.kind === 'evict').map(e => (e as { author: string }).author), [`x${AUTHORS_PER_PEER_MAX - 1}`])
      assert.deepEqual(persisted(effects), ['honest-1'])
      core.step({ kind: 'event', event: ev(`x${AUTHORS_PER_PEER_MAX - 1}`, 1), from: 'x' })
      assert.equal(core.drain().filter(e => e.kind === 'reject' && e.reason === 'author-evicted').length, 1, 'the peer that introduced an evicted author cannot bring it back')
      core.step({ kind: 'event', event: ev('z-extra', 1), from: 'z' })
      assert.equal(core.drain().filter(e => e.kind === 'reject' && e.reason === 'too-many-authors').length, 1, 'a peer cannot evict authors of a peer no larger than itself')
      assert.ok(core.vector('t').some(v => v.author === 'me'), 'own history is never evicted')
    })

    it('always stores this node\'s own events, even into a table full of authors it cannot evict', () => {
      const core = new EventsCore({ self: 'me' })
      const loaded = new Map(Array.from({ length: TOPIC_AUTHORS_MAX }, (_, i) => [`old${i}`, { seq: 1, hlc: { wallMs: 1, logical: 0 }, floor: 0 }] as const))
      core.step({ kind: 'join', topic: 't', authors: loaded })
      core.step({ kind: 'event', event: ev('stranger', 1), from: 'x' })
      assert.equal(core.drain().filter(e => e.kind === 'reject' && e.reason === 'too-many-authors').length, 1)
      core.step({ kind: 'event', event: ev('me', 1) })
      assert.deepEqual(persisted(core.drain()), ['me-1'])
      assert.equal(core.head('t', 'me').seq, 1)
    })

    it('property: whatever a liar sends (forged vectors, replayed events), honest events all land in per-author order and own seq is untouched', () => {
      fc.assert(fc.property(fc.integer(), (seed) => {
        const rng = createRng(seed)
        const core = meshCore(['liar', 'h'])
        const honest = ['me', 'a', 'b'].flatMap(author => Array.from({ length: 15 }, (_, i) => ev(author, i + 1, i * 10 + 1)))
        const out: string[] = []
        const pending = [...honest]
        let ownSeq = 0
        while (pending.length > 0) {
          if (rng.chance(0.3)) {
            const vector = ['me', 'a', 'b', `f${rng.int(0, 9)}`].map(author => { const seq = rng.int(0, 2) === 0 ? HUGE : rng.int(0, 40); return { author, seq, floor: rng.int(0, seq) } })
            core.step({ kind: 'sync-reply', topic: 't', peer: 'liar', vector, received: rng.int(0, 3), more: rng.chance(0.5) })
          } else {
            const e = pending.splice(rng.int(0, pending.length - 1), 1)[0]!
            core.step({ kind: 'event', event: e, from: e.author === 'me' ? undefined : 'h' })
            if (e.author === 'me') ownSeq = Math.max(ownSeq, e.seq)
          }
          out.push(...persisted(core.drain()))
          if (rng.chance(0.2)) { core.step({ kind: 'sync-reply', topic: 't', peer: 'h', vector: [{ author: 'a', seq: 15, floor: 0 }, { author: 'b', seq: 15, floor: 0 }, { author: 'me', seq: 15, floor: 0 }], received: 0, more: false }); out.push(...persisted(core.drain())) }
        }
        assert.equal(out.length, honest.length, 'every honest event persisted exactly once')
        for (const author of ['me', 'a', 'b']) assert.deepEqual(out.filter(id => id.startsWith(`${author}-`)).map(id => Number(id.split('-')[1])), Array.from({ length: 15 }, (_, i) => i + 1))
        assert.ok(core.vector('t').every(v => !v.author.startsWith('f')), 'no author enters from a vector')
      }), { numRuns: 200 })
    })
  })
})

describe('events core writer lists (SPEC E15)', () => {
  it('refuses a non-writer\'s events, never holds them, and removes non-writers already stored', () => {
    const core = new EventsCore({ self: 'w' })
    core.step({ kind: 'join', topic: 't' })
    core.step({ kind: 'event', event: ev('x', 1), from: 'p' })
    core.step({ kind: 'event', event: ev('w', 1) })
    core.drain()
    core.step({ kind: 'restrict', topic: 't', writers: ['a'] })
    const removed = core.drain()
    assert.deepEqual(removed, [{ kind: 'evict', topic: 't', author: 'x', reason: 'not-a-writer' }], 'own history stays (E12)')
    core.step({ kind: 'event', event: ev('x', 3), from: 'p' })
    core.step({ kind: 'event', event: ev('a', 1), from: 'p' })
    const effects = core.drain()
    assert.deepEqual(persisted(effects), ['a-1'])
    assert.deepEqual(effects.filter(e => e.kind === 'reject').map(e => (e as { reason: string }).reason), ['not-a-writer'])
    assert.equal(core.heldCount('t'), 0)
    assert.equal(core.mayWrite('t', 'x'), false)
    assert.equal(core.mayWrite('open', 'x'), true)
  })

  it('drops held-back events of a non-writer when the topic is restricted, and lets another peer bring a writer back', () => {
    const core = new EventsCore()
    core.step({ kind: 'join', topic: 't' })
    core.step({ kind: 'event', event: ev('y', 3), from: 'p' })
    core.step({ kind: 'event', event: ev('a', 2), from: 'p' })
    assert.equal(core.heldCount('t'), 2)
    core.step({ kind: 'restrict', topic: 't', writers: ['a'] })
    assert.equal(core.heldCount('t'), 1, 'only the writer\'s held event stays')
    core.drain()
    core.step({ kind: 'event', event: ev('a', 1), from: 'p' })
    assert.deepEqual(persisted(core.drain()), ['a-1', 'a-2'])
    // A wider list later admits y again, from the same peer (a purge is not an eviction, E11).
    core.step({ kind: 'restrict', topic: 't', writers: ['a', 'y'] })
    core.step({ kind: 'event', event: ev('y', 1), from: 'p' })
    assert.deepEqual(persisted(core.drain()), ['y-1'])
  })

  it('asks only for writers and is caught up with a peer that holds a non-writer\'s events (no re-request loop)', () => {
    const core = new EventsCore({ self: 'a' })
    core.step({ kind: 'restrict', topic: 't', writers: ['b', 'a'] })
    core.step({ kind: 'join', topic: 't' })
    core.step({ kind: 'peer-up', topic: 't', peer: 'p' })
    const [sync] = core.drain()
    assert.deepEqual(sync, { kind: 'sync', topic: 't', peer: 'p', vector: [], writers: ['a', 'b'] })
    // The peer holds 300 events of outsider x; even if it sends some anyway, they are refused and not asked for again.
    core.step({ kind: 'event', event: ev('x', 1), from: 'p' })
    core.step({ kind: 'event', event: ev('b', 1), from: 'p' })
    core.step({ kind: 'sync-reply', topic: 't', peer: 'p', vector: [{ author: 'b', seq: 1, floor: 0 }, { author: 'x', seq: 300, floor: 0 }], received: 1, more: false })
    assert.deepEqual(core.drain().filter(e => e.kind === 'sync'), [], 'nothing left to ask this peer')
    assert.equal(core.caughtUp('t'), true)
  })

  it('plans only the requester\'s writers', () => {
    const ours = [{ author: 'a', seq: 3, floor: 0 }, { author: 'x', seq: 300, floor: 0 }]
    assert.deepEqual(planSyncReply(ours, [], 5, undefined, ['a', 'b']), { ranges: [{ author: 'a', fromSeq: 1, toSeq: 3 }], more: false, resumeAt: undefined })
    assert.deepEqual(planSyncReply(ours, [], 5, 'x', ['a']).ranges, [{ author: 'a', fromSeq: 1, toSeq: 3 }])
    assert.deepEqual(planSyncReply(ours, [], 5, undefined, []), { ranges: [], more: false, resumeAt: undefined })
  })
})

describe('events topic score parameters (SPEC E13)', () => {
  it('are valid GossipSub 17 topic parameters, and three rejected messages pass the default graylist threshold', async () => {
    const { eventsTopicScoreParams, INVALID_MESSAGE_WEIGHT } = await import('../../../protocols/events/score.ts')
    const { createPeerScoreParams, validatePeerScoreParams } = await import('../../../node_modules/@libp2p/gossipsub/dist/src/score/peer-score-params.js' as string) as { createPeerScoreParams: (p: unknown) => unknown, validatePeerScoreParams: (p: unknown) => void }
    validatePeerScoreParams(createPeerScoreParams({ topics: { 'agentmesh/events/1/t': eventsTopicScoreParams() } }))
    const params = eventsTopicScoreParams()
    assert.ok(params.topicWeight * INVALID_MESSAGE_WEIGHT * 3 ** 2 < -80)
    assert.ok(params.topicWeight * INVALID_MESSAGE_WEIGHT * 1 ** 2 > -80, 'one rejection alone does not graylist')
    assert.equal(params.meshMessageDeliveriesWeight, 0, 'quiet topics cost honest peers nothing')
  })
})
