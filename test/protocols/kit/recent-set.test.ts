// RecentSet: bounded by count and by age, so a slow trickle of new keys does not fill it for good.
import assert from 'node:assert/strict'
import { RecentSet } from '../../../protocols/kit/recent-set.ts'

describe('RecentSet', () => {
  it('forgets keys older than ttlMs once a newer one is added, keeping memory to the recent rate', () => {
    const set = new RecentSet<string>({ max: 1000, ttlMs: 60_000 })
    // one key a second for ten minutes: a count-only cache would hold all 600
    for (let s = 0; s < 600; s++) set.add(`id${s}`, s * 1000)
    assert.equal(set.size, 60)
    assert.equal(set.has('id599'), true)
    assert.equal(set.has('id540'), true)
    assert.equal(set.has('id539'), false)
  })

  it('never holds more than max keys, forgetting the oldest first', () => {
    const set = new RecentSet<number>({ max: 3, ttlMs: 1e9 })
    for (let i = 0; i < 5; i++) set.add(i, 0)
    assert.equal(set.size, 3)
    assert.deepEqual([0, 1, 2, 3, 4].map(i => set.has(i)), [false, false, true, true, true])
  })

  it('re-adding a key refreshes its age', () => {
    const set = new RecentSet<string>({ max: 10, ttlMs: 100 })
    set.add('a', 0)
    set.add('b', 50)
    set.add('a', 90)
    set.add('c', 140)
    assert.equal(set.has('a'), true, 'refreshed at 90')
    assert.equal(set.has('b'), true)
    set.add('d', 151)
    assert.equal(set.has('b'), false, 'b was 101 ms old')
  })

  it('refuses bounds that are not positive', () => {
    assert.throws(() => new RecentSet({ max: 0, ttlMs: 1 }), /max must be a positive integer/)
    assert.throws(() => new RecentSet({ max: 1, ttlMs: 0 }), /ttlMs must be positive/)
  })
})
