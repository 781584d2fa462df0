// `node sim/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N]`: which objects a
// process gained between two V8 heap snapshots (`v8.writeHeapSnapshot()`, or `sim soak
// --snapshot-dir`), counted and sized by constructor, largest growth first. Objects are grouped
// by node type and name (an object's name is its constructor; strings, code and arrays are one
// group per type), so a listener or record leaked per operation shows up as a count that grows
// with the operations between the snapshots.

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Types whose node name says nothing about the object (string contents, code, internal arrays). */
const GROUPED_TYPES = new Set(['string', 'concatenated string', 'sliced string', 'code', 'number', 'hidden', 'array'])

/** `type:name` → {count, bytes} of one snapshot file. */
export function countByConstructor (path: string): Map<string, { count: number, bytes: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const out = new Map<string, { count: number, bytes: number }>()
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!
    const key = GROUPED_TYPES.has(type) ? `(${type})` : `${type}:${snap.strings[snap.nodes[i + nameAt]!]!}`
    const entry = out.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += snap.nodes[i + sizeAt]!
    out.set(key, entry)
  }
  return out
}

function main (): void {
  const args = process.argv.slice(2)
  const topAt = args.indexOf('--top')
  const top = topAt === -1 ? 40 : Number(args[topAt + 1])
  const files = args.filter((a, i) => a !== '--top' && args[i - 1] !== '--top')
  if (files.length !== 2 || !Number.isSafeInteger(top) || top <= 0) {
    process.stderr.write('usage: node sim/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N]\n')
    process.exitCode = 2
    return
  }
  const before = countByConstructor(files[0]!)
  const after = countByConstructor(files[1]!)
  const rows = [...new Set([...before.keys(), ...after.keys()])].map((key) => {
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    const a = after.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: a.count, dCount: a.count - b.count, bytes: a.bytes, dBytes: a.bytes - b.bytes }
  })
  const total = (m: Map<string, { bytes: number }>): number => [...m.values()].reduce((s, e) => s + e.bytes, 0)
  process.stdout.write(`total self size: ${(total(before) / 1048576).toFixed(2)} MB → ${(total(after) / 1048576).toFixed(2)} MB\n`)
  process.stdout.write('Δbytes      Δcount   count     bytes       type:constructor\n')
  for (const r of rows.sort((x, y) => y.dBytes - x.dBytes).slice(0, top)) {
    process.stdout.write(`${String(r.dBytes).padStart(10)}  ${String(r.dCount).padStart(7)}  ${String(r.count).padStart(7)}  ${String(r.bytes).padStart(10)}  ${r.key}\n`)
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main()
