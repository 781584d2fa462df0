// Editing traces for the crdt benchmark: the automerge-paper trace (Gentle's editing-traces,
// CC BY 4.0) read from beside the project at run time, or a seeded synthetic trace.

import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRng } from '../protocols/kit/rng.ts'

/** One edit: at `position`, delete `deleteCount` characters, then insert `insert`. */
export type Edit = readonly [position: number, deleteCount: number, insert: string]

/** A sequential trace: replaying `edits` in order into `startContent` yields `endContent`. */
export interface Trace { name: string, startContent: string, endContent: string | undefined, edits: Edit[] }

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const TRACE_FILE = 'automerge-paper.json.gz'

/**
 * Where the shared trace is looked for: `../shared/traces/` from the repo root (the layout
 * beside the project), then one level further up (a git worktree one folder deeper).
 */
export function defaultTraceCandidates (): string[] {
  return [join(repoRoot, '..', 'shared', 'traces', TRACE_FILE), join(repoRoot, '..', '..', 'shared', 'traces', TRACE_FILE)]
}

/** Load a sequential trace (`{startContent, endContent, txns: [{patches}]}`), gzipped or not. */
export function loadTrace (path: string | undefined): Trace {
  const candidates = path !== undefined ? [path] : defaultTraceCandidates()
  const found = candidates.find(p => existsSync(p))
  if (found === undefined) {
    throw new Error(`Cannot find the editing trace: tried ${candidates.join(', ')}. ` +
      'Pass --trace <file> (the automerge-paper trace from github.com/josephg/editing-traces), or --synthetic for a seeded synthetic trace.')
  }
  const raw = readFileSync(found)
  const json = JSON.parse((found.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as {
    startContent?: string, endContent?: string, txns?: Array<{ patches: Array<[number, number, string]> }>
  }
  if (!Array.isArray(json.txns)) throw new Error(`Trace ${found} has no "txns" array: expected the sequential editing-traces format`)
  const edits: Edit[] = []
  for (const txn of json.txns) for (const [position, deleteCount, insert] of txn.patches) edits.push([position, deleteCount, insert])
  return { name: found.includes('automerge-paper') ? 'automerge-paper' : found, startContent: json.startContent ?? '', endContent: json.endContent, edits }
}

/** A seeded synthetic trace shaped like typing: a cursor that mostly advances, some deletes and jumps. */
export function syntheticTrace (edits: number, seed: number): Trace {
  const rng = createRng(seed)
  const alphabet = 'abcdefghijklmnopqrstuvwxyz     \n'
  const result: Edit[] = []
  let length = 0
  let cursor = 0
  for (let i = 0; i < edits; i++) {
    if (rng.chance(0.02)) cursor = rng.int(0, length)
    if (length > 0 && cursor > 0 && rng.chance(0.3)) {
      result.push([cursor - 1, 1, ''])
      cursor--; length--
    } else {
      result.push([cursor, 0, alphabet[rng.int(0, alphabet.length - 1)]!])
      cursor++; length++
    }
  }
  return { name: `synthetic(seed=${seed})`, startContent: '', endContent: undefined, edits: result }
}
