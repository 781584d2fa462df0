import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as Y from 'yjs'
import { DocReplica } from '../../../protocols/docs/replica.ts'
import type { DocEffect, SyncSession } from '../../../protocols/docs/replica.ts'
import { decodeGossipFrame } from '../../../protocols/docs/messages.ts'
import { LimitExceededError } from '../../../protocols/kit/errors.ts'
import type { SyncBody } from '../../../protocols/docs/messages.ts'

/** A random edit one replica makes locally. */
type Op =
  | { kind: 'insert', at: number, pos: number, text: string }
  | { kind: 'delete', at: number, pos: number, length: number }
  | { kind: 'set', at: number, key: string, value: number }

const opArb = (replicas: number): fc.Arbitrary<Op> => fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(replicas - 1), pos: fc.nat(), text: fc.string({ minLength: 1, maxLength: 5 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(replicas - 1), pos: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(replicas - 1), key: fc.constantFrom('a', 'b', 'c'), value: fc.integer() })
)

function applyOp (replica: DocReplica, op: Op): void {
  const text = replica.doc.getText('t')
  if (op.kind === 'insert') text.insert(op.pos % (text.length + 1), op.text)
  else if (op.kind === 'delete') { if (text.length > 0) text.delete(op.pos % text.length, Math.min(op.length, text.length - (op.pos % text.length))) } else replica.doc.getMap('m').set(op.key, op.value)
}

function published (effects: DocEffect[]): Uint8Array[] {
  return effects.flatMap(e => e.kind === 'publish' ? [decodeGossipFrame(e.frame)] : []).map(f => {
    assert.equal(f.kind, 'update')
    return f.update
  })
}

function fingerprint (replica: DocReplica): string {
  const m = replica.doc.getMap('m').toJSON()
  return JSON.stringify({ t: replica.doc.getText('t').toString(), m: Object.keys(m).sort().map(k => [k, m[k]]) })
}

/** Run a whole y-protocols exchange between two replicas in memory; returns the bodies sent. */
function syncPair (initiator: DocReplica, responder: DocReplica, idA: string, idB: string): SyncBody[] {
  const sent: SyncBody[] = []
  const started = initiator.beginSync(idB)
  const server: SyncSession = responder.acceptSync(idA)
  let toResponder = started.frames
  while (toResponder.length > 0) {
    sent.push(...toResponder)
    const toInitiator = toResponder.flatMap(f => responder.receiveSync(server, f))
    sent.push(...toInitiator)
    toResponder = toInitiator.flatMap(f => started.session.done ? [] : initiator.receiveSync(started.session, f))
  }
  assert.ok(started.session.done && server.done, 'both sides finish the exchange')
  return sent
}

describe('docs DocReplica (pure core)', () => {
  it('converges for random edits delivered in any order, with duplicates', () => {
    fc.assert(fc.property(
      fc.integer({ min: 2, max: 4 }).chain(n => fc.tuple(fc.constant(n), fc.array(opArb(n), { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 200 }), fc.integer())),
      ([n, ops, deliveryChoices, seed]) => {
        const replicas = Array.from({ length: n }, (_, i) => new DocReplica({ name: 'd', doc: new Y.Doc({ gc: i % 2 === 0 }) }))
        // Every published update, with its author; any replica may receive any of them, any number of times.
        const pool: Array<{ from: number, update: Uint8Array }> = []
        let choice = 0
        const deliverSome = (): void => {
          const count = deliveryChoices[choice++ % Math.max(1, deliveryChoices.length)] ?? 0
          for (let k = 0; k < count % 3 && pool.length > 0; k++) {
            const message = pool[(count + k * 7) % pool.length]!
            const to = (message.from + 1 + (count % (n - 1))) % n
            replicas[to]!.receiveUpdate(`p${message.from}`, message.update)
            replicas[to]!.drain()
          }
        }
        for (const op of ops) {
          applyOp(replicas[op.at]!, op)
          for (const update of published(replicas[op.at]!.drain())) pool.push({ from: op.at, update })
          deliverSome()
        }
        // Finally every replica receives every update, in a seeded permutation, with duplicates.
        for (let to = 0; to < n; to++) {
          const order = fc.sample(fc.shuffledSubarray(pool, { minLength: pool.length, maxLength: pool.length }), { seed: seed + to, numRuns: 1 })[0]!
          for (const message of [...order, ...order.slice(0, 3)]) {
            if (message.from !== to) replicas[to]!.receiveUpdate(`p${message.from}`, message.update)
          }
          replicas[to]!.drain()
        }
        const expected = fingerprint(replicas[0]!)
        for (const replica of replicas) {
          assert.equal(fingerprint(replica), expected)
          assert.equal(replica.hasMissingDependencies(), false)
        }
      }
    ), { numRuns: 150 })
  })

  it('sync step 1/2 merges divergent histories, and a second sync carries no content', () => {
    fc.assert(fc.property(fc.array(opArb(2), { maxLength: 30 }), (ops) => {
      const a = new DocReplica({ name: 'd' })
      const b = new DocReplica({ name: 'd' })
      for (const op of ops) applyOp(op.at === 0 ? a : b, op)
      syncPair(a, b, 'A', 'B')
      assert.equal(fingerprint(a), fingerprint(b))
      assert.ok(a.caughtUp() && b.caughtUp())
      const again = syncPair(b, a, 'B', 'A')
      for (const body of again) {
        if (body.kind === 'step2') assert.equal(Y.decodeUpdate(body.update).structs.length, 0, 'only missing updates travel')
      }
    }), { numRuns: 100 })
  })

  it('a step 2 over the frame bound travels as one part per writer, then the delete set; histories still converge', () => {
    fc.assert(fc.property(fc.array(opArb(3), { minLength: 1, maxLength: 40 }), (ops) => {
      // Three writers edit one document; a fourth replica joins late and syncs from writer 0.
      const writers = [0, 1, 2].map(() => new DocReplica({ name: 'd', syncUpdateBytesMax: 200 }))
      for (const op of ops) applyOp(writers[op.at]!, op)
      let sent: SyncBody[]
      const late = new DocReplica({ name: 'd', syncUpdateBytesMax: 200 })
      try {
        for (const w of writers.slice(1)) syncPair(w, writers[0]!, 'W', 'A')
        sent = syncPair(late, writers[0]!, 'L', 'A')
      } catch (err) {
        // Only one writer's history alone over the bound may stop it.
        assert.ok(err instanceof LimitExceededError && /history alone/.test(err.message), String(err))
        return
      }
      assert.equal(fingerprint(late), fingerprint(writers[0]!))
      for (const body of sent) if (body.kind === 'update') assert.ok(body.update.byteLength <= 200, 'each part within the bound')
    }), { numRuns: 100 })
    // Concretely: three writers of 150 bytes each make a 450+-byte step 2 that goes in parts.
    const a = new DocReplica({ name: 'd', syncUpdateBytesMax: 300 })
    for (const [i, text] of ['a', 'b', 'c'].entries()) {
      const w = new DocReplica({ name: 'd' })
      w.doc.getText(`t${i}`).insert(0, text.repeat(150))
      syncPair(w, a, 'W', 'A')
    }
    const late = new DocReplica({ name: 'd' })
    const sent = syncPair(late, a, 'L', 'A')
    const fromA = sent.filter((b) => b.kind === 'update' || b.kind === 'step2')
    assert.ok(fromA.filter((b) => b.kind === 'update').length >= 2, 'the step 2 went in parts')
    assert.equal(late.doc.getText('t2').toString(), 'c'.repeat(150))
    assert.ok(late.caughtUp())
    // One writer's history alone over the bound cannot be split: a clear error.
    const big = new DocReplica({ name: 'd', syncUpdateBytesMax: 100 })
    big.doc.getText('t').insert(0, 'z'.repeat(500))
    assert.throws(() => syncPair(new DocReplica({ name: 'd' }), big, 'L', 'B'), LimitExceededError)
  })

  it('orders effects persist → publish for local edits, and never re-broadcasts remote ones', () => {
    const a = new DocReplica({ name: 'd' })
    const b = new DocReplica({ name: 'd' })
    a.doc.getText('t').insert(0, 'x')
    const effects = a.drain()
    assert.deepEqual(effects.map(e => e.kind), ['persist', 'publish'])
    b.receiveUpdate('A', published(effects)[0]!)
    assert.deepEqual(b.drain().map(e => e.kind), ['persist'])
    assert.equal(b.doc.getText('t').toString(), 'x')
  })

  it('restores stored state without effects', () => {
    const a = new DocReplica({ name: 'd' })
    a.doc.getText('t').insert(0, 'stored')
    const b = new DocReplica({ name: 'd' })
    b.load(Y.encodeStateAsUpdate(a.doc))
    assert.equal(b.doc.getText('t').toString(), 'stored')
    assert.deepEqual(b.drain(), [])
  })

  it('falls back to sync with every peer when a local update is too big for gossip', () => {
    const a = new DocReplica({ name: 'd', gossipFrameBytesMax: 100 })
    a.addPeer('B'); a.addPeer('C')
    a.drain()
    a.doc.getText('t').insert(0, 'y'.repeat(500))
    assert.deepEqual(a.drain().map(e => e.kind === 'sync' ? `sync ${e.peer}` : e.kind), ['persist', 'sync B', 'sync C'])
  })

  it('is caught up only after sync step 2 with every known peer', () => {
    const a = new DocReplica({ name: 'd' })
    const b = new DocReplica({ name: 'd' })
    assert.equal(a.caughtUp(), true)
    a.addPeer('B')
    assert.equal(a.caughtUp(), false)
    assert.deepEqual(a.drain(), [{ kind: 'status', caughtUp: false }])
    syncPair(a, b, 'A', 'B')
    assert.equal(a.caughtUp(), true)
    a.removePeer('B'); a.addPeer('B')
    assert.equal(a.caughtUp(), false, 'a peer that left and came back must sync again')
  })

  it('asks a neighbour to sync when an update arrives before its dependencies', () => {
    const a = new DocReplica({ name: 'd' })
    const b = new DocReplica({ name: 'd' })
    a.doc.getText('t').insert(0, 'one')
    const first = published(a.drain())[0]!
    a.doc.getText('t').insert(3, 'two')
    const second = published(a.drain())[0]!
    b.addPeer('N')
    b.drain()
    b.receiveUpdate('A', second)
    assert.equal(b.hasMissingDependencies(), true)
    assert.deepEqual(b.drain().filter(e => e.kind === 'sync').map(e => e.kind === 'sync' && e.peer), ['N'])
    b.receiveUpdate('A', first)
    assert.equal(b.doc.getText('t').toString(), 'onetwo')
    assert.equal(b.hasMissingDependencies(), false)
  })

  it('rejects a malformed update and keeps working', () => {
    const b = new DocReplica({ name: 'd' })
    assert.throws(() => { b.receiveUpdate('A', new Uint8Array([255, 255, 255, 255, 1, 2, 3])) })
    assert.equal(b.stats().rejectedUpdates, 1)
    b.doc.getText('t').insert(0, 'ok')
    assert.equal(b.doc.getText('t').toString(), 'ok')
  })
})
