// A simulated disk implementing the KvStore port (protocols/kit/store.ts) with crash points.
// Writes complete in order after a seeded delay on the node's clock. A synced write makes itself
// and every earlier write durable (an fsync of the write-ahead log); an unsynced one is only in
// the page cache. A crash keeps what was durable, loses unsynced writes, and decides, seeded, what
// happens to the writes in flight: a synced batch lands whole or not at all, an unsynced one may be
// torn (a prefix of its operations kept). Nothing after a lost write survives. A simulator
// restarts a process on a new disk built from the image crash() returns.

import type { Clock } from '../../protocols/kit/clock.ts'
import type { KvOperation, KvRange, KvStore, KvWriteOptions } from '../../protocols/kit/store.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import { assert } from '../../protocols/kit/assert.ts'

/** What survives a crash: key → bytes. */
export type DiskImage = ReadonlyMap<string, Uint8Array>

/** Delays of one write, in virtual ms. */
export interface SimDiskTiming { writeMinMs: number, writeMaxMs: number }

/** An fsync costs about a millisecond on the machines this runs on; the range adds seeded jitter. */
export const DEFAULT_DISK_TIMING: SimDiskTiming = { writeMinMs: 1, writeMaxMs: 3 }

interface InFlight { operations: KvOperation[], sync: boolean, resolve: () => void }

/** Options of one disk incarnation. */
export interface SimDiskOptions {
  clock: Clock
  rng: Rng
  /** What a previous incarnation left (crash() or image()). */
  image?: DiskImage
  timing?: SimDiskTiming
  /** Called when a synced write is issued, before it is in flight (a simulator may crash the process right there: the write is then lost). */
  onSync?: () => void
}

/** Counters of one disk incarnation. */
export interface SimDiskStats { writes: number, syncedWrites: number, reads: number }

/** One node's disk for one process lifetime; `crash()` ends it and returns what survived. */
export class SimDisk implements KvStore {
  readonly stats: SimDiskStats = { writes: 0, syncedWrites: 0, reads: 0 }
  readonly #clock: Clock
  readonly #rng: Rng
  readonly #timing: SimDiskTiming
  /** What reads see: every completed write. */
  readonly #visible: Map<string, Uint8Array>
  /** What a crash keeps for sure: everything up to the last completed synced write. */
  readonly #durable: Map<string, Uint8Array>
  /** Completed unsynced operations, oldest first (lost on a crash). */
  #unsynced: KvOperation[] = []
  #inFlight: InFlight[] = []
  #lastCompletionMs = 0
  #crashed = false
  readonly #onSync: (() => void) | undefined

  constructor (options: SimDiskOptions) {
    this.#onSync = options.onSync
    this.#clock = options.clock
    this.#rng = options.rng
    this.#timing = options.timing ?? DEFAULT_DISK_TIMING
    this.#visible = new Map(options.image ?? [])
    this.#durable = new Map(options.image ?? [])
  }

  /** The process died (crash() was called). */
  get crashed (): boolean { return this.#crashed }

  /** Operations issued whose write has not completed yet. */
  get writesInFlight (): number { return this.#inFlight.length }

  /**
   * The process dies: in-flight writes never complete (their promises never settle). Returns the
   * image a restarted process finds: durable state, plus, seeded, a prefix of the in-flight
   * writes in issue order — whole batches when synced, possibly a torn one when not.
   */
  crash (): Map<string, Uint8Array> {
    assert(!this.#crashed, 'a disk crashes once')
    this.#crashed = true
    const image = new Map(this.#durable)
    for (const write of this.#inFlight) {
      if (write.sync) {
        if (!this.#rng.chance(0.5)) break // lost, and so is everything issued after it
        apply(image, write.operations)
      } else {
        // An unsynced write never outlives a crash whole for sure: keep a seeded prefix (maybe torn), then stop.
        apply(image, write.operations.slice(0, this.#rng.int(0, write.operations.length)))
        break
      }
    }
    this.#inFlight = []
    this.#unsynced = []
    return image
  }

  /** Keys that would survive a crash right now if no write in flight landed, sorted (for tests). */
  durableKeys (): string[] { return [...this.#durable.keys()].sort() }

  /** Everything written so far, as if the process stopped cleanly (in-flight writes land). */
  image (): Map<string, Uint8Array> {
    const image = new Map(this.#visible)
    for (const write of this.#inFlight) apply(image, write.operations)
    return image
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    if (this.#crashed) await NEVER
    this.stats.reads++
    return this.#visible.get(key)
  }

  async put (key: string, value: Uint8Array, options?: KvWriteOptions): Promise<void> {
    await this.batch([{ type: 'put', key, value }], options)
  }

  async del (key: string, options?: KvWriteOptions): Promise<void> {
    await this.batch([{ type: 'del', key }], options)
  }

  // Not async: the write is in flight from the call on (a crash right after it may keep it).
  batch (operations: KvOperation[], options?: KvWriteOptions): Promise<void> {
    if (this.#crashed) return NEVER
    const sync = options?.sync === true
    if (sync) {
      this.#onSync?.()
      if (this.#crashed) return NEVER
    }
    const copied = operations.map((op): KvOperation => op.type === 'put' ? { type: 'put', key: op.key, value: op.value.slice() } : { type: 'del', key: op.key })
    const { promise, resolve } = Promise.withResolvers<void>()
    const write: InFlight = { operations: copied, sync, resolve }
    this.#inFlight.push(write)
    // Writes complete in issue order, each after a seeded delay.
    const at = Math.max(this.#lastCompletionMs, this.#clock.nowMs() + this.#rng.int(this.#timing.writeMinMs, this.#timing.writeMaxMs))
    this.#lastCompletionMs = at
    this.#clock.setTimeout(() => { this.#complete(write) }, at - this.#clock.nowMs())
    return promise
  }

  async * iterator (range: KvRange = {}): AsyncIterable<[string, Uint8Array]> {
    if (this.#crashed) await NEVER
    this.stats.reads++
    for (const key of this.#keysIn(range)) {
      const value = this.#visible.get(key)
      if (value !== undefined) yield [key, value]
    }
  }

  async * keys (range: KvRange = {}): AsyncIterable<string> {
    for await (const [key] of this.iterator(range)) yield key
  }

  async * values (range: KvRange = {}): AsyncIterable<Uint8Array> {
    for await (const [, value] of this.iterator(range)) yield value
  }

  #complete (write: InFlight): void {
    if (this.#crashed) return
    assert(this.#inFlight[0] === write, 'simulated writes complete in issue order')
    this.#inFlight.shift()
    apply(this.#visible, write.operations)
    this.stats.writes++
    if (write.sync) {
      this.stats.syncedWrites++
      apply(this.#durable, this.#unsynced)
      apply(this.#durable, write.operations)
      this.#unsynced = []
    } else {
      this.#unsynced.push(...write.operations)
    }
    write.resolve()
  }

  #keysIn (range: KvRange): string[] {
    const keys = [...this.#visible.keys()].filter(key =>
      (range.gt === undefined || key > range.gt) && (range.gte === undefined || key >= range.gte) &&
      (range.lt === undefined || key < range.lt) && (range.lte === undefined || key <= range.lte)).sort()
    if (range.reverse === true) keys.reverse()
    return range.limit !== undefined && range.limit >= 0 ? keys.slice(0, range.limit) : keys
  }

}

/** After a crash the process is gone: a call its leftover continuations make never completes. */
const NEVER: Promise<never> = new Promise<never>(() => {})

function apply (map: Map<string, Uint8Array>, operations: readonly KvOperation[]): void {
  for (const op of operations) {
    if (op.type === 'put') map.set(op.key, op.value)
    else map.delete(op.key)
  }
}
