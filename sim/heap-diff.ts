// `node sim/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N] [--retainers type:Name]`:
// which objects a process gained between two V8 heap snapshots (`v8.writeHeapSnapshot()`, or
// `sim soak --snapshot-dir`), counted and sized by constructor, largest growth first. Objects are
// grouped by node type and name (an object's name is its constructor; strings, code and arrays
// are one group per type), so a listener or record leaked per operation shows up as a count that
// grows with the operations between the snapshots. `--retainers object:Uint8Array` then says who
// holds the ones created in between: their shortest paths from the GC roots, grouped (V8 keeps
// object ids across the snapshots of one process, so "created in between" is exact).

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]], edge_fields: string[], edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

/** Path hops shown per retainer group: enough to reach the owning object from a leaked leaf. */
const RETAINER_HOPS = 8

/** Node ids of a snapshot (stable across the snapshots of one process). */
function nodeIds (path: string): Set<number> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot
  const width = snap.snapshot.meta.node_fields.length
  const idAt = snap.snapshot.meta.node_fields.indexOf('id')
  const ids = new Set<number>()
  for (let i = 0; i < snap.nodes.length; i += width) ids.add(snap.nodes[i + idAt]!)
  return ids
}

/** For objects labelled `target` in `afterPath` and absent from `beforePath`: count per shortest retaining path (its last RETAINER_HOPS hops). */
export function retainers (beforePath: string, afterPath: string, target: string): { created: number, paths: Array<{ count: number, path: string }> } {
  const old = nodeIds(beforePath)
  const snap = JSON.parse(readFileSync(afterPath, 'utf8')) as Snapshot
  const { node_fields: nf, edge_fields: ef, node_types: ntypes, edge_types: etypes } = snap.snapshot.meta
  const W = nf.length
  const EW = ef.length
  const [T, N, ID, EC] = [nf.indexOf('type'), nf.indexOf('name'), nf.indexOf('id'), nf.indexOf('edge_count')]
  const [ET, EN, TO] = [ef.indexOf('type'), ef.indexOf('name_or_index'), ef.indexOf('to_node')]
  const count = snap.nodes.length / W
  const label = (n: number): string => `${ntypes[0][snap.nodes[n * W + T]!]!}:${String(snap.strings[snap.nodes[n * W + N]!]).slice(0, 40)}`
  const first = new Uint32Array(count + 1)
  for (let n = 0, e = 0; n < count; n++) { first[n] = e; e += snap.nodes[n * W + EC]! * EW }
  first[count] = snap.edges.length
  // breadth-first from the synthetic root (node 0) over strong edges: each node's shortest retainer
  const parent = new Int32Array(count).fill(-1)
  const via: string[] = new Array<string>(count)
  parent[0] = 0
  let frontier = [0]
  while (frontier.length > 0) {
    const next: number[] = []
    for (const n of frontier) {
      for (let e = first[n]!; e < first[n + 1]!; e += EW) {
        const type = (etypes[0] as string[])[snap.edges[e + ET]!]!
        if (type === 'weak' || type === 'shortcut') continue
        const to = snap.edges[e + TO]! / W
        if (parent[to] !== -1) continue
        parent[to] = n
        const name = type === 'element' || type === 'hidden' ? '' : String(snap.strings[snap.edges[e + EN]!])
        // indexes (array slots, hash-table slots) would make every path unique: group them
        via[to] = name === '' || /^\d+$/.test(name) ? '[i]' : name
        next.push(to)
      }
    }
    frontier = next
  }
  const groups = new Map<string, number>()
  let created = 0
  for (let n = 0; n < count; n++) {
    if (old.has(snap.nodes[n * W + ID]!) || label(n) !== target || parent[n] === -1) continue
    created++
    const hops: string[] = []
    for (let cur = n; cur !== 0 && hops.length < RETAINER_HOPS; cur = parent[cur]!) hops.push(`${label(parent[cur]!)}.${via[cur]!}`)
    const key = hops.reverse().join(' → ')
    groups.set(key, (groups.get(key) ?? 0) + 1)
  }
  return { created, paths: [...groups].map(([path, c]) => ({ count: c, path })).sort((a, b) => b.count - a.count) }
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
  const retainersAt = args.indexOf('--retainers')
  const target = retainersAt === -1 ? undefined : args[retainersAt + 1]
  const files = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--top' && args[i - 1] !== '--retainers')
  if (files.length !== 2 || !Number.isSafeInteger(top) || top <= 0 || (retainersAt !== -1 && target === undefined)) {
    process.stderr.write('usage: node sim/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top N] [--retainers type:Name]\n')
    process.exitCode = 2
    return
  }
  if (target !== undefined) {
    const { created, paths } = retainers(files[0]!, files[1]!, target)
    process.stdout.write(`${created} ${target} created between the snapshots and still held; shortest retaining paths:\n`)
    for (const p of paths.slice(0, top)) process.stdout.write(`${String(p.count).padStart(7)}  ${p.path}\n`)
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
