// The deterministic Byzantine simulation over 2,000 seeds (n = 4 and 7, f faulty in every seed):
// agreement, validity, chain integrity, no honest double-signing and liveness after GST.

import assert from 'node:assert/strict'
import { run } from '../../sim/check/bft.ts'
import { FAULTY_BEHAVIOURS } from '../../sim/bft/faulty.ts'

describe('sim check bft (2,000 seeds)', function () {
  this.timeout(15 * 60_000)

  it('finds no invariant violation with f Byzantine members in every seed', async () => {
    const lines: string[] = []
    const summary = await run({ seed: 1, seeds: 2000, json: true, transport: 'memory', extra: {}, progress: () => {}, log: (l) => lines.push(l) })
    assert.deepEqual(summary.failures, [], (summary.failures ?? []).join('\n'))
    assert.equal(summary.ok, true)
    assert.equal(summary.metrics.seeds, 2000)
    assert.equal(summary.metrics.failed_seeds, 0)
    assert.equal(summary.metrics.seeds_n4, 1000)
    assert.equal(summary.metrics.seeds_n7, 1000)
    // The faults really happened and were noticed: evidence of equivocation, forged messages refused.
    assert.ok((summary.metrics.evidence_emitted as number) > 0)
    assert.ok((summary.metrics.messages_rejected as number) > 0)
    assert.ok((summary.metrics.messages_dropped as number) > 0)
    assert.ok((summary.metrics.heights_committed as number) >= 2000)
    // Every Byzantine behaviour ran (each in ≥ 1/8 of the seeds), and amnesia-lock members really forgot their state.
    const counts = new Map(String(summary.metrics.faulty_behaviours).split(' ').map(pair => [pair.split(':')[0]!, Number(pair.split(':')[1])]))
    for (const b of FAULTY_BEHAVIOURS) assert.ok((counts.get(b) ?? 0) >= 250, `${b} ran in too few seeds: ${String(summary.metrics.faulty_behaviours)}`)
    assert.ok((summary.metrics.state_forgotten_restarts as number) > 0)
  })
})
