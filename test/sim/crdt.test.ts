// The crdt benchmark on a trace prefix: three real nodes replay 5,000 edits and must converge.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { run } from '../../sim/scenarios/crdt.ts'
import { defaultTraceCandidates } from '../../sim/crdt-trace.ts'

describe('sim crdt scenario', function () {
  this.timeout(120_000)

  it('replays a 5,000-edit prefix across 3 editors; all docs identical, late joiner caught up', async () => {
    // The shared trace lives beside the project; a clean checkout without it uses the seeded synthetic trace.
    const haveTrace = defaultTraceCandidates().some(p => existsSync(p))
    const summary = await run({
      nodes: 3,
      seed: 7,
      json: true,
      transport: 'memory',
      extra: haveTrace ? { edits: '5000', batch: '250', 'late-joiners': '1' } : { edits: '5000', batch: '250', 'late-joiners': '1', synthetic: true },
      progress: () => {},
      log: () => {}
    })
    assert.deepEqual(summary.failures, [])
    assert.equal(summary.ok, true)
    assert.equal(summary.metrics.identical, true)
    assert.equal(summary.metrics.edits, 5000)
    assert.equal(summary.metrics.batches, 20)
    assert.equal(summary.metrics.messages_published, 20, 'one gossiped update per batch')
    assert.ok((summary.metrics.late_join_bytes as number) > 0, 'the late joiner received the document by sync')
  })

  it('fails clearly when the trace file is missing', async () => {
    await assert.rejects(run({ nodes: 1, seed: 1, json: true, transport: 'memory', extra: { trace: '/nonexistent/trace.json.gz' }, progress: () => {}, log: () => {} }),
      /Cannot find the editing trace: tried \/nonexistent\/trace\.json\.gz.*--synthetic/)
  })
})
