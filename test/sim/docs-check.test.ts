// The deterministic docs check over many seeds: drops, duplicates, reorders, partitions,
// aborted sync exchanges, crashes and restarts; every seed must converge without losing writes.

import assert from 'node:assert/strict'
import { run, checkSeed } from '../../sim/check/docs.ts'

describe('sim check docs', function () {
  this.timeout(120_000)

  it('converges and keeps every write for 150 seeds', async () => {
    const summary = await run({ seed: 1, seeds: 150, json: true, transport: 'memory', extra: {}, progress: () => {}, log: () => {} })
    assert.deepEqual(summary.failures, [])
    assert.equal(summary.metrics.failed, 0)
  })

  it('is deterministic: a seed replays the same way', () => {
    const first = checkSeed(42)
    assert.equal(first.failure, undefined)
    assert.ok(first.fingerprint.length > 10)
    assert.deepEqual(checkSeed(42), first)
    assert.notEqual(checkSeed(43).fingerprint, first.fingerprint)
  })
})
