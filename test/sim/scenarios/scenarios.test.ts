import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run as runMesh } from '../../../sim/scenarios/mesh.ts'
import { run as runPartition } from '../../../sim/scenarios/partition.ts'
import { run as runPipeline } from '../../../sim/scenarios/pipeline.ts'
import { writeReport } from '../../../sim/report.ts'
import { simOptions } from '../helpers.ts'
import { tempDir } from '../../helpers.ts'

describe('sim scenarios (small, real nodes)', () => {
  it('mesh: every node reaches the bootstrap node, meshes form, every probe arrives', async () => {
    const summary = await runMesh(simOptions({ nodes: 5, seed: 2, messages: 10, extra: { 'settle-ms': '5000' } }))
    assert.equal(summary.ok, true, summary.failures?.join('\n'))
    assert.equal(typeof summary.metrics.bootstrap_ms, 'number')
    assert.equal(typeof summary.metrics.mesh_formed_ms, 'number')
    assert.ok((summary.metrics.mesh_degree_min as number) >= 1)
    assert.equal(summary.metrics.delivery, 1)
    assert.equal(summary.latenciesMs?.length, 10 * 4, 'one latency per probe per receiver')
    assert.equal(summary.deliveryMatrix?.labels.length, 5)
  })

  it('mesh over TCP (one process per node): the same milestones and probes', async () => {
    const summary = await runMesh(simOptions({ nodes: 3, seed: 2, messages: 4, transport: 'tcp', extra: { 'settle-ms': '5000' } }))
    assert.equal(summary.ok, true, summary.failures?.join('\n'))
    assert.equal(typeof summary.metrics.bootstrap_ms, 'number')
    assert.equal(summary.metrics.delivery, 1)
    assert.equal(summary.metrics.transport, 'tcp')
  })

  it('partition: within a side works, across fails fast, nothing is lost after heal', async () => {
    const summary = await runPartition(simOptions({ nodes: 4, seed: 3, messages: 48, extra: { workloads: 'direct' } }))
    assert.equal(summary.ok, true, summary.failures?.join('\n'))
    const m = summary.metrics
    assert.equal(m.direct_messages, 48)
    assert.equal(m.direct_delivered, 48)
    assert.equal(m.direct_lost, 0)
    assert.equal(m.direct_across_leaked, 0)
    assert.ok((m.direct_across_failed_fast as number) > 0, 'some messages crossed the partition and were refused')
    assert.equal(m.direct_redelivered_after_heal, m.direct_across_failed_fast)
    assert.deepEqual(summary.timeline?.filter(e => e.kind === 'partition' || e.kind === 'heal').map(e => e.kind), ['partition', 'heal'])
  })

  it('partition: the same seed splits the mesh the same way', async () => {
    const split = (summary: Awaited<ReturnType<typeof runPartition>>): string | undefined => summary.timeline?.find(e => e.kind === 'partition')?.detail
    const [a, b] = [await runPartition(simOptions({ nodes: 4, seed: 11, messages: 12, extra: { workloads: 'direct' } })), await runPartition(simOptions({ nodes: 4, seed: 11, messages: 12, extra: { workloads: 'direct' } }))]
    assert.ok(split(a) !== undefined)
    assert.equal(split(a), split(b))
    assert.equal(a.metrics.direct_across_failed_fast, b.metrics.direct_across_failed_fast, 'the same messages crossed the partition')
  })

  it('pipeline: a processor dies mid-run, yet every item is written exactly once', async () => {
    const summary = await runPipeline(simOptions({ seed: 4, messages: 60 }))
    assert.equal(summary.ok, true, summary.failures?.join('\n'))
    const m = summary.metrics
    assert.equal(m.produced, 60)
    assert.equal(m.written, 60)
    assert.equal(m.lost, 0)
    assert.equal(m.duplicate_writes_applied, 0)
    assert.ok((m.duplicate_writes_suppressed as number) >= 1, 'the crash between write and ack forced a duplicate write, which the writer suppressed')
    assert.ok((m.processing_attempts as number) > 60, 'some items were processed again after the crash')
    assert.ok(summary.timeline?.some(e => e.kind === 'kill'))
  })

  it('pipeline over TCP (one process per node): same guarantees, same seeded choices', async () => {
    const memory = await runPipeline(simOptions({ seed: 5, messages: 40 }))
    const tcp = await runPipeline(simOptions({ seed: 5, messages: 40, transport: 'tcp' }))
    assert.equal(tcp.ok, true, tcp.failures?.join('\n'))
    assert.equal(tcp.metrics.written, 40)
    assert.equal(tcp.metrics.duplicate_writes_applied, 0)
    assert.equal(tcp.metrics.killed, memory.metrics.killed, 'the seed picks the same victim')
    assert.equal(tcp.metrics.killed_after_acked, memory.metrics.killed_after_acked)
  })

  it('writes an HTML report with a CDF picture', async () => {
    const summary = await runPartition(simOptions({ nodes: 4, seed: 6, messages: 24 }))
    const dir = await tempDir()
    try {
      const file = join(dir.path, 'report.html')
      await writeReport(file, summary)
      const html = await readFile(file, 'utf8')
      assert.match(html, /<svg /)
      assert.match(html, /<path class="cdf" d="M/)
      assert.match(html, /<rect class="cell"/)
      assert.match(html, /partition \(1\)/)
    } finally {
      await dir.remove()
    }
  })
})
