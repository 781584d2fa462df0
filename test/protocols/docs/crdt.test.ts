import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as Y from 'yjs'
import { PNCounter, GCounter, LWWRegister, lwwWinner } from '../../../protocols/docs/crdt.ts'

/** Docs that captured their own updates; `exchange` delivers all of them everywhere in a given order. */
function replicas (n: number): { docs: Y.Doc[], updates: Uint8Array[][], exchange: (order: number[]) => void } {
  const docs = Array.from({ length: n }, () => new Y.Doc())
  const updates: Uint8Array[][] = docs.map(() => [])
  docs.forEach((doc, i) => { doc.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== 'remote') updates[i]!.push(u) }) })
  const exchange = (order: number[]): void => {
    const all = updates.flatMap((list, from) => list.map(u => ({ from, u })))
    for (let to = 0; to < n; to++) {
      const shuffled = order.length === 0 ? all : all.map((m, k) => ({ m, key: order[(k + to) % order.length]! })).sort((x, y) => x.key - y.key).map(x => x.m)
      for (const { from, u } of [...shuffled, ...shuffled]) if (from !== to) Y.applyUpdate(docs[to]!, u, 'remote')
    }
  }
  return { docs, updates, exchange }
}

describe('docs CRDTs', () => {
  it('PN-counter: concurrent increments and decrements from N agents sum exactly, in any delivery order', () => {
    fc.assert(fc.property(
      fc.integer({ min: 2, max: 5 }).chain(n => fc.tuple(fc.constant(n), fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: -1000, max: 1000 })), { maxLength: 60 }), fc.array(fc.nat()))),
      ([n, ops, order]) => {
        const { docs, exchange } = replicas(n)
        const counters = docs.map((doc, i) => new PNCounter(doc, { name: 'c', agent: `agent-${i}` }))
        let expected = 0
        for (const [at, amount] of ops) {
          if (amount >= 0) counters[at]!.increment(amount)
          else counters[at]!.decrement(-amount)
          expected += amount
        }
        exchange(order)
        for (const counter of counters) assert.equal(counter.value(), expected)
      }
    ), { numRuns: 200 })
  })

  it('G-Counter is the increment-only case', () => {
    const { docs, exchange } = replicas(3)
    const counters = docs.map((doc, i) => new GCounter(doc, { name: 'g', agent: `a${i}` }))
    counters.forEach((c, i) => { for (let k = 0; k <= i; k++) c.increment() })
    exchange([])
    for (const c of counters) assert.equal(c.value(), 6)
  })

  it('PN-counter refuses bad steps and ignores malformed entries', () => {
    const doc = new Y.Doc()
    const c = new PNCounter(doc, { name: 'c', agent: 'me' })
    assert.throws(() => { c.increment(-1) }, RangeError)
    assert.throws(() => { c.increment(1.5) }, RangeError)
    doc.getMap('c').set('p/evil', 'lots')
    c.increment(2)
    assert.equal(c.value(), 2)
  })

  it('LWW register: every replica reads the same value whatever the delivery order', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(2), fc.integer(), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 20 }), fc.array(fc.nat()),
      (writes, order) => {
        const { docs, exchange } = replicas(3)
        // Coarse, skewed clocks make HLC ties likely, so the author tie-break is exercised.
        const clocks = [0, 0, 0]
        const registers = docs.map((doc, i) => new LWWRegister<number>(doc, { name: 'r', author: `author-${i}`, now: () => clocks[i]! }))
        for (const [at, value, tick] of writes) { clocks[at]! += tick; registers[at]!.set(value) }
        exchange(order)
        const winner = lwwWinner(registers[0]!.entries())
        for (const register of registers) assert.equal(register.get(), winner?.value)
      }
    ), { numRuns: 200 })
  })

  it('LWW register: a write after seeing another one wins, even with a slower clock', () => {
    const { docs, exchange } = replicas(2)
    const fast = new LWWRegister<string>(docs[0]!, { name: 'r', author: 'a', now: () => 10_000 })
    const slow = new LWWRegister<string>(docs[1]!, { name: 'r', author: 'b', now: () => 5 })
    fast.set('first')
    exchange([])
    slow.set('second')
    exchange([])
    assert.equal(fast.get(), 'second')
    assert.equal(slow.get(), 'second')
  })

  it('lwwWinner: highest HLC, then highest author (table)', () => {
    const e = (wallMs: number, logical: number, author: string): { value: string, hlc: { wallMs: number, logical: number }, author: string } => ({ value: `${wallMs}.${logical}.${author}`, hlc: { wallMs, logical }, author })
    const table: Array<[ReturnType<typeof e>[], string | undefined]> = [
      [[], undefined],
      [[e(1, 0, 'a')], '1.0.a'],
      [[e(1, 0, 'a'), e(2, 0, 'a')], '2.0.a'],
      [[e(2, 0, 'a'), e(1, 9, 'z')], '2.0.a'],
      [[e(2, 1, 'a'), e(2, 0, 'z')], '2.1.a'],
      [[e(2, 1, 'a'), e(2, 1, 'b')], '2.1.b'],
      [[e(2, 1, 'b'), e(2, 1, 'a')], '2.1.b']
    ]
    for (const [entries, expected] of table) assert.equal(lwwWinner(entries)?.value, expected)
  })
})
