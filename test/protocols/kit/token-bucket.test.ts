// Table and property tests for the token bucket: burst, refill, bound on keys.

import assert from 'node:assert/strict'
import fc from 'fast-check'
import { TokenBucket, KeyedTokenBuckets } from '../../../protocols/kit/token-bucket.ts'

describe('kit: token bucket', () => {
  it('allows a burst of capacity, then refillPerS a second', () => {
    const bucket = new TokenBucket({ capacity: 3, refillPerS: 2 }, 0)
    const table: Array<[number, boolean]> = [[0, true], [0, true], [0, true], [0, false], [499, false], [500, true], [500, false], [1000, true], [10_000, true], [10_000, true], [10_000, true], [10_000, false]]
    for (const [nowMs, expected] of table) assert.equal(bucket.take(nowMs), expected, `take at ${nowMs} ms`)
  })

  it('a clock read out of order adds nothing', () => {
    const bucket = new TokenBucket({ capacity: 1, refillPerS: 1 }, 1000)
    assert.equal(bucket.take(1000), true)
    assert.equal(bucket.take(500), false)
    assert.equal(bucket.take(2000), true)
  })

  it('rejects unusable limits, naming the field', () => {
    assert.throws(() => new TokenBucket({ capacity: 0, refillPerS: 1 }, 0), /capacity/)
    assert.throws(() => new TokenBucket({ capacity: 1, refillPerS: 0 }, 0), /refillPerS/)
    assert.throws(() => new KeyedTokenBuckets({ capacity: 1, refillPerS: 1 }, { keysMax: 0 }), /keysMax/)
  })

  it('property: over any window, takes granted never exceed capacity + refill × elapsed', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 1000 }), fc.array(fc.nat(200), { maxLength: 500 }), (capacity, refillPerS, gaps) => {
      const bucket = new TokenBucket({ capacity, refillPerS }, 0)
      let nowMs = 0
      let granted = 0
      for (const gap of gaps) {
        nowMs += gap
        if (bucket.take(nowMs)) granted++
      }
      assert.ok(granted <= capacity + refillPerS * nowMs / 1000 + 1e-9)
    }))
  })

  it('keys are limited separately, and the idlest key is forgotten at keysMax', () => {
    const buckets = new KeyedTokenBuckets({ capacity: 2, refillPerS: 1 }, { keysMax: 2 })
    assert.deepEqual([buckets.take('a', 0), buckets.take('a', 0), buckets.take('a', 0)], [true, true, false])
    assert.equal(buckets.take('b', 0), true, 'b has its own bucket')
    assert.equal(buckets.take('c', 0), true)
    assert.equal(buckets.size, 2)
    assert.equal(buckets.available('b', 0), 2, 'b (one token left, the idlest) was forgotten')
    assert.equal(buckets.take('a', 0), false, 'a, drained, is still limited')
  })
})
