import assert from 'node:assert/strict'
import fc from 'fast-check'
import { TokenBuckets } from '../../../protocols/kit/token-bucket.ts'

describe('token buckets', () => {
  it('allows a burst, then the steady rate, per key', () => {
    const buckets = new TokenBuckets({ perSecond: 10, burst: 5, keysMax: 8 })
    const taken = Array.from({ length: 8 }, () => buckets.take('a', 0))
    assert.deepEqual(taken, [true, true, true, true, true, false, false, false])
    assert.equal(buckets.take('b', 0), true, 'another key has its own bucket')
    assert.equal(buckets.take('a', 100), true, '100 ms at 10/s refills one token')
    assert.equal(buckets.take('a', 100), false)
  })

  it('keeps at most keysMax buckets, dropping the least recently used', () => {
    const buckets = new TokenBuckets({ perSecond: 1, burst: 1, keysMax: 2 })
    buckets.take('a', 0)
    buckets.take('b', 0)
    buckets.take('a', 0)
    buckets.take('c', 0)
    assert.equal(buckets.size, 2)
    assert.equal(buckets.take('a', 0), false, 'a was used recently and kept its empty bucket')
  })

  it('property: over any schedule, a key never gets more than burst + rate × elapsed tokens', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 500 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 20 }), (gaps, perSecond, burst) => {
      const buckets = new TokenBuckets({ perSecond, burst, keysMax: 4 })
      let now = 0
      let granted = 0
      for (const gap of gaps) { now += gap; if (buckets.take('k', now)) granted++ }
      assert.ok(granted <= burst + perSecond * now / 1000 + 1e-9)
    }))
  })
})
