// timed(): what it publishes on TIMING_CHANNEL, on the caller's clock, for success and failure.

import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { timed, TIMING_CHANNEL } from '../../../protocols/kit/timing.ts'
import type { Timing } from '../../../protocols/kit/timing.ts'

describe('kit timing', () => {
  const seen: Timing[] = []
  const collect = (message: unknown): void => { seen.push(message as Timing) }
  beforeEach(() => { seen.length = 0; subscribe(TIMING_CHANNEL, collect) })
  afterEach(() => { unsubscribe(TIMING_CHANNEL, collect) })

  it('publishes the time on the given clock and ok, and returns the result', async () => {
    let nowMs = 1_000
    const result = await timed({ peerId: 'p', operation: 'raft.propose', group: 'g' }, () => nowMs, async () => { nowMs += 250; return 42 })
    assert.equal(result, 42)
    assert.deepEqual(seen, [{ peerId: 'p', operation: 'raft.propose', group: 'g', seconds: 0.25, ok: true }])
  })

  it('publishes a failure and rethrows it unchanged', async () => {
    const boom = new Error('no leader')
    await assert.rejects(timed({ peerId: 'p', operation: 'state.get' }, () => 0, async () => { throw boom }), (err) => err === boom)
    assert.deepEqual(seen, [{ peerId: 'p', operation: 'state.get', seconds: 0, ok: false }])
  })

  it('does not read the clock when nobody listens', async () => {
    unsubscribe(TIMING_CHANNEL, collect)
    let reads = 0
    assert.equal(await timed({ peerId: 'p', operation: 'state.put' }, () => { reads++; return 0 }, async () => 'done'), 'done')
    assert.equal(reads, 0)
  })
})
