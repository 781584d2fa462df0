// sim/heap-diff.ts on two real heap snapshots of a small child process that retains 5,000 objects
// of one class between them: the diff counts exactly those, and --retainers finds their holder.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { countByConstructor, retainers } from '../../sim/heap-diff.ts'

const CHILD = `
const { writeHeapSnapshot } = require('node:v8')
class HeapDiffProbe { constructor (i) { this.i = i } }
globalThis.heldProbes = []
writeHeapSnapshot(process.argv[1] + '/a.heapsnapshot')
for (let i = 0; i < 5000; i++) globalThis.heldProbes.push(new HeapDiffProbe(i))
writeHeapSnapshot(process.argv[1] + '/b.heapsnapshot')
`

describe('sim heap-diff', function () {
  this.timeout(60_000)

  it('counts the objects retained between two snapshots by constructor, and names what holds them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentmesh-heapdiff-'))
    try {
      await new Promise<void>((resolve, reject) => { execFile(process.execPath, ['-e', CHILD, dir], (err) => { if (err === null) resolve(); else reject(err) }) })
      const before = countByConstructor(join(dir, 'a.heapsnapshot'))
      const after = countByConstructor(join(dir, 'b.heapsnapshot'))
      assert.equal(before.get('object:HeapDiffProbe')?.count ?? 0, 0)
      assert.equal(after.get('object:HeapDiffProbe')?.count, 5000)
      const held = retainers(join(dir, 'a.heapsnapshot'), join(dir, 'b.heapsnapshot'), 'object:HeapDiffProbe')
      assert.equal(held.created, 5000)
      assert.match(held.paths[0]!.path, /heldProbes/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
