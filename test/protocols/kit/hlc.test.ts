import assert from 'node:assert/strict'
import fc from 'fast-check'
import { hlcCompare, hlcNow, hlcReceive, hlcTooFarAhead, HLC_DRIFT_MAX_MS, HLC_LOGICAL_MAX, HLC_ZERO } from '../../../protocols/kit/hlc.ts'
import type { Hlc } from '../../../protocols/kit/hlc.ts'
import { DecodeError } from '../../../protocols/kit/errors.ts'

const NOW = 1_700_000_000_000
const hlcNear = fc.record({ wallMs: fc.integer({ min: NOW - 120_000, max: NOW + HLC_DRIFT_MAX_MS }), logical: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: HLC_LOGICAL_MAX - 3, max: HLC_LOGICAL_MAX })) })

describe('hybrid logical clock', () => {
  it('a counter at HLC_LOGICAL_MAX carries into the physical part instead of failing', () => {
    const poisoned: Hlc = { wallMs: NOW + 55_000, logical: HLC_LOGICAL_MAX - 1 }
    const afterReceive = hlcReceive(HLC_ZERO, poisoned, NOW)
    assert.deepEqual(afterReceive, { wallMs: NOW + 55_000, logical: HLC_LOGICAL_MAX })
    const next = hlcNow(afterReceive, NOW + 1)
    assert.deepEqual(next, { wallMs: NOW + 55_001, logical: 0 })
    assert.ok(hlcCompare(next, afterReceive) > 0)
    assert.deepEqual(hlcReceive(afterReceive, { wallMs: NOW + 55_000, logical: HLC_LOGICAL_MAX }, NOW), { wallMs: NOW + 55_001, logical: 0 })
  })

  it('rejects a remote timestamp further ahead than HLC_DRIFT_MAX_MS, naming the limit', () => {
    assert.equal(hlcTooFarAhead({ wallMs: NOW + HLC_DRIFT_MAX_MS, logical: 0 }, NOW), false)
    assert.equal(hlcTooFarAhead({ wallMs: NOW + HLC_DRIFT_MAX_MS + 1, logical: 0 }, NOW), true)
    assert.throws(() => hlcReceive(HLC_ZERO, { wallMs: NOW + HLC_DRIFT_MAX_MS + 1, logical: 0 }, NOW), (err: Error) => err instanceof DecodeError && err.message.includes('HLC_DRIFT_MAX_MS'))
  })

  it('property: local and received timestamps strictly increase, never throw within the drift bound, and stay within drift + 1 ms per step of real time', () => {
    fc.assert(fc.property(fc.array(fc.oneof(hlcNear.map(h => ({ remote: h })), fc.integer({ min: 0, max: 50 }).map(d => ({ advanceMs: d }))), { maxLength: 200 }), (steps) => {
      let clock: Hlc = HLC_ZERO
      let physical = NOW
      let stepsTaken = 0
      for (const s of steps) {
        let next: Hlc
        if ('remote' in s) next = hlcReceive(clock, s.remote, physical)
        else { physical += s.advanceMs; next = hlcNow(clock, physical) }
        assert.ok(hlcCompare(next, clock) > 0, 'strictly increasing')
        assert.ok(next.logical <= HLC_LOGICAL_MAX)
        stepsTaken++
        assert.ok(next.wallMs <= physical + HLC_DRIFT_MAX_MS + stepsTaken, 'bounded drift')
        clock = next
      }
    }))
  })
})
