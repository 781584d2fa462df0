import assert from 'node:assert/strict'
import { faultOptions } from '../../../sim/harness/fault-options.ts'
import { simOptions } from '../helpers.ts'

describe('fault flags', () => {
  it('reads latency and flapping, defaulting the down time to half the period', () => {
    assert.deepEqual(faultOptions(simOptions()), { latencyMs: undefined, flap: undefined })
    assert.deepEqual(faultOptions(simOptions({ extra: { 'latency-ms': '20', 'flap-period-ms': '300' } })), { latencyMs: 20, flap: { periodMs: 300, downMs: 150 } })
  })

  it('names the flag it rejects', () => {
    assert.throws(() => faultOptions(simOptions({ extra: { 'latency-ms': 'fast' } })), /--latency-ms must be a non-negative number/)
    assert.throws(() => faultOptions(simOptions({ extra: { 'flap-down-ms': '5' } })), /--flap-down-ms needs --flap-period-ms/)
  })
})
