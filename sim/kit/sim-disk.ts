// A simulated disk behind the KvStore port: an in-memory ordered map in two parts, what is durable
// and what was written but not yet fsynced. A write is visible at once; an fsynced write resolves
// only after a seeded delay and then makes it and every earlier write durable (one write-ahead
// log). crash() keeps the durable part and a seeded prefix of the rest (whole unsynced batches, as
// a write-ahead log whose torn tail record is dropped) and, when asked, a torn prefix of the next.

import type { Rng } from '../../protocols/kit/rng.ts'
import type { KvOperation, KvRange, KvStore, KvWriteOptions } from '../../protocols/kit/store.ts'
import type { SimClock } from './sim-clock.ts'

/** Knobs of a simulated disk. */
export interface SimDiskOptions {
  clock: SimClock
  rng: Rng
  /** Slowest fsync in ms (default 2): a synced write resolves after a delay in [0, this]. */
  syncDelayMaxMs?: number
  /** Chance that a crash keeps some of the unsynced writes instead of none (default 0.5). */
  keepUnsyncedRate?: number
  /**
   * Chance that the first unsynced batch a crash does not keep whole is kept torn, as a prefix of
   * its operations (default 0). LevelDB never does this (a batch is one checksummed log record, and
   * a torn record is dropped whole), so stores over it may rely on atomic batches; raise it to test
   * a store meant for a disk without them.
   */
  tearRate?: number
  /** Called when a synced write starts, before its fsync is scheduled (a simulator may crash the process right there). */
  onSync?: () => void
}

interface Pending { ops: KvOperation[], resolve: (() => void) | null }

/** Counters of one disk. */
export interface SimDiskStats { syncedBatches: number, unsyncedBatches: number, crashes: number, lostBatches: number, tornBatches: number }

/** A crashable disk for one simulated process. */
export class SimDisk implements KvStore {
  readonly #options: SimDiskOptions
  /** What survives any crash. */
  readonly #durable = new Map<string, Uint8Array>()
  /** What the process sees: durable plus every write since. */
  #visible = new Map<string, Uint8Array>()
  /** Writes not yet durable, oldest first. */
  #pending: Pending[] = []
  /** Bumped by crash(): fsyncs started before it never complete. */
  #epoch = 0
  readonly stats: SimDiskStats = { syncedBatches: 0, unsyncedBatches: 0, crashes: 0, lostBatches: 0, tornBatches: 0 }

  constructor (options: SimDiskOptions) { this.#options = options }

  async get (key: string): Promise<Uint8Array | undefined> { return this.#visible.get(key) }
  async put (key: string, value: Uint8Array, options?: KvWriteOptions): Promise<void> { await this.batch([{ type: 'put', key, value }], options) }
  async del (key: string, options?: KvWriteOptions): Promise<void> { await this.batch([{ type: 'del', key }], options) }

  async batch (operations: KvOperation[], options?: KvWriteOptions): Promise<void> {
    const ops = [...operations]
    applyOps(this.#visible, ops)
    if (options?.sync !== true) {
      this.stats.unsyncedBatches++
      this.#pending.push({ ops, resolve: null })
      return
    }
    this.stats.syncedBatches++
    this.#options.onSync?.()
    const epoch = this.#epoch
    await new Promise<void>((resolve) => {
      const record: Pending = { ops, resolve }
      this.#pending.push(record)
      const delayMs = this.#options.rng.int(0, this.#options.syncDelayMaxMs ?? 2)
      this.#options.clock.after(delayMs, () => { if (epoch === this.#epoch) this.#flushThrough(record) })
    })
  }

  async * iterator (range: KvRange = {}): AsyncIterable<[string, Uint8Array]> {
    for (const key of this.#keysIn(range)) yield [key, this.#visible.get(key)!]
  }

  async * keys (range: KvRange = {}): AsyncIterable<string> { yield * this.#keysIn(range) }

  async * values (range: KvRange = {}): AsyncIterable<Uint8Array> {
    for (const key of this.#keysIn(range)) yield this.#visible.get(key)!
  }

  /** Keys that would survive a crash right now with nothing unsynced kept, sorted (for tests). */
  durableKeys (): string[] { return [...this.#durable.keys()].sort() }

  /**
   * The process died (power cut): writes not yet durable are lost, except a seeded prefix of them,
   * the last of which may be torn. Fsyncs in flight never resolve.
   */
  crash (): void {
    const rng = this.#options.rng
    this.#epoch++
    this.stats.crashes++
    let keep = 0
    if (this.#pending.length > 0 && rng.chance(this.#options.keepUnsyncedRate ?? 0.5)) keep = rng.int(0, this.#pending.length)
    for (let i = 0; i < keep; i++) applyOps(this.#durable, this.#pending[i]!.ops)
    const torn = this.#pending[keep]
    if (torn !== undefined && torn.ops.length > 1 && rng.chance(this.#options.tearRate ?? 0)) {
      applyOps(this.#durable, torn.ops.slice(0, rng.int(1, torn.ops.length - 1)))
      this.stats.tornBatches++
    }
    this.stats.lostBatches += this.#pending.length - keep
    this.#pending = []
    this.#visible = new Map(this.#durable)
  }

  /** An fsync finished: `record` and everything written before it are durable. */
  #flushThrough (record: Pending): void {
    const i = this.#pending.indexOf(record)
    if (i < 0) { record.resolve?.(); return } // a later fsync already covered it
    const done = this.#pending.splice(0, i + 1)
    for (const p of done) applyOps(this.#durable, p.ops)
    for (const p of done) p.resolve?.()
  }

  #keysIn (range: KvRange): string[] {
    const keys = [...this.#visible.keys()].filter((k) =>
      (range.gt === undefined || k > range.gt) && (range.gte === undefined || k >= range.gte) &&
      (range.lt === undefined || k < range.lt) && (range.lte === undefined || k <= range.lte)).sort()
    if (range.reverse === true) keys.reverse()
    return range.limit === undefined || range.limit < 0 ? keys : keys.slice(0, range.limit)
  }
}

function applyOps (map: Map<string, Uint8Array>, ops: readonly KvOperation[]): void {
  for (const op of ops) {
    if (op.type === 'put') map.set(op.key, op.value)
    else map.delete(op.key)
  }
}
