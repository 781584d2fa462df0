// Document persistence in the node's embedded database: an append-only log of updates
// per document, folded into one snapshot when it passes a named threshold (SPEC docs, "Persistence").

import { SYNC } from '../kit/store.ts'
import type { KvStore } from '../kit/store.ts'

/**
 * Logged updates per document before compaction (1,000). Reopening replays the log, and
 * Yjs applies a thousand small updates in a few milliseconds; a snapshot replaces them.
 */
export const DOCS_COMPACT_UPDATES_MAX = 1000
/** Logged bytes per document before compaction (4 MiB): bounds disk use and replay time. */
export const DOCS_COMPACT_BYTES_MAX = 4 * 1024 * 1024
/** Width of the zero-padded sequence number in log keys, so keys sort in append order. */
const SEQ_DIGITS = 16

/** How much is in a document's log since its snapshot. */
export interface LogSize { updates: number, bytes: number }

/** The compaction rule (SPEC docs P2): compact once either bound is reached. Pure. */
export function shouldCompact (size: LogSize, limits: { updatesMax?: number, bytesMax?: number } = {}): boolean {
  return size.updates >= (limits.updatesMax ?? DOCS_COMPACT_UPDATES_MAX) || size.bytes >= (limits.bytesMax ?? DOCS_COMPACT_BYTES_MAX)
}

/** What a document's stored state is: a snapshot (or none) then the updates logged after it. */
export interface StoredDoc { snapshot: Uint8Array | undefined, updates: Uint8Array[] }

/** One document's log and snapshot inside the `docs` sublevel. Calls must be serialized by the caller. */
export class DocStore {
  readonly #db: KvStore
  readonly #name: string
  #nextSeq = 0
  #size: LogSize = { updates: 0, bytes: 0 }

  constructor (db: KvStore, name: string) {
    this.#db = db
    this.#name = name
  }

  /** Read the snapshot and the logged updates in append order. */
  async load (): Promise<StoredDoc> {
    const snapshot = await this.#db.get(this.#snapshotKey())
    const updates: Uint8Array[] = []
    let lastKey: string | undefined
    for await (const [key, value] of this.#db.iterator({ gte: this.#logPrefix(), lt: this.#logPrefix() + '~' })) {
      updates.push(value)
      lastKey = key
    }
    this.#nextSeq = lastKey === undefined ? 0 : Number(lastKey.slice(this.#logPrefix().length)) + 1
    this.#size = { updates: updates.length, bytes: updates.reduce((n, u) => n + u.byteLength, 0) }
    return { snapshot, updates }
  }

  /** Append one update to the log; returns the log size after it. */
  async append (update: Uint8Array): Promise<LogSize> {
    await this.#db.put(this.#logKey(this.#nextSeq), update)
    this.#nextSeq++
    this.#size = { updates: this.#size.updates + 1, bytes: this.#size.bytes + update.byteLength }
    return { ...this.#size }
  }

  /** The log size since the last snapshot. */
  size (): LogSize { return { ...this.#size } }

  /**
   * Replace the snapshot and every logged update with `snapshot` in one atomic batch
   * (SPEC docs P2). `snapshot` must include every update appended so far.
   */
  async compact (snapshot: Uint8Array): Promise<void> {
    const ops: Array<{ type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }> = [
      { type: 'put', key: this.#snapshotKey(), value: snapshot }
    ]
    for await (const key of this.#db.keys({ gte: this.#logPrefix(), lt: this.#logPrefix() + '~' })) ops.push({ type: 'del', key })
    await this.#db.batch(ops, SYNC)
    this.#size = { updates: 0, bytes: 0 }
  }

  #snapshotKey (): string { return `${this.#name}!s` }
  #logPrefix (): string { return `${this.#name}!u!` }
  #logKey (seq: number): string { return this.#logPrefix() + String(seq).padStart(SEQ_DIGITS, '0') }
}
