// How much of a node's disk other peers' DHT records may take (SPEC state, "Storage bound").
// kad-dht stores every valid PUT_VALUE it receives and runs the validator without saying who
// sent the record, so the bound sits on the store path: a record is admitted only while its
// author, and all authors together, stay under their budgets. The node's own records are always
// admitted (they are bounded by OWNED_RECORDS_MAX where they are written). Pure accounting: the
// caller reads the datastore and calls `admit`, `removed` and `rebuild`.

import { LimitExceededError } from '../kit/errors.ts'
import { decodeRecord } from './messages.ts'

/**
 * Records one author may have stored on this node (10,000): the most an honest author owns
 * (OWNED_RECORDS_MAX), so an honest author is never refused on any node.
 */
export const STORED_RECORDS_PER_AUTHOR_MAX = 10_000
/**
 * Bytes of other peers' records one node stores at most (256 MiB): about 3,800 records of the
 * largest size (68 KiB), or hundreds of thousands of typical ones. A node stores the records whose
 * keys are closest to its id, so a mesh of N nodes with k = 20 replicas spreads its records over
 * N/20 such budgets.
 */
export const STORED_RECORD_BYTES_MAX = 256 * 1024 * 1024

/** One stored record as the bound counts it. */
interface Entry { author: string, bytes: number, expiresAtMs: number }

/** Counters of the bound (state stats). */
export interface StoreBoundStats { records: number, bytes: number, refused: number, swept: number }

/** The budget of the DHT record store. */
export class RecordStoreBound {
  readonly #self: string
  readonly #bytesMax: number
  readonly #perAuthorMax: number
  readonly #entries = new Map<string, Entry>()
  readonly #perAuthor = new Map<string, number>()
  #bytes = 0
  refused = 0
  swept = 0

  constructor (options: { self: string, bytesMax?: number, perAuthorMax?: number }) {
    this.#self = options.self
    this.#bytesMax = options.bytesMax ?? STORED_RECORD_BYTES_MAX
    this.#perAuthorMax = options.perAuthorMax ?? STORED_RECORDS_PER_AUTHOR_MAX
  }

  stats (): StoreBoundStats { return { records: this.#entries.size, bytes: this.#bytes, refused: this.refused, swept: this.swept } }

  /**
   * Account for storing `stored` (a kad-dht record: its `value` is our signed record) under
   * `storeKey`, or throw LimitExceededError when it would break a budget. Replacing a record
   * counts the difference.
   */
  admit (storeKey: string, value: Uint8Array, stored: number): void {
    const entry = entryOf(value, stored)
    const previous = this.#entries.get(storeKey)
    if (entry.author !== this.#self) {
      const authorCount = this.#perAuthor.get(entry.author) ?? 0
      const sameAuthor = previous?.author === entry.author
      if (!sameAuthor && authorCount >= this.#perAuthorMax) {
        this.refused++
        throw new LimitExceededError(`Refused to store a DHT record by ${entry.author}: this node already stores ${authorCount} of its records (STORED_RECORDS_PER_AUTHOR_MAX ${this.#perAuthorMax})`)
      }
      const bytesAfter = this.#bytes - (previous?.bytes ?? 0) + entry.bytes
      if (bytesAfter > this.#bytesMax && entry.bytes > (previous?.bytes ?? 0)) {
        this.refused++
        throw new LimitExceededError(`Refused to store a DHT record by ${entry.author}: other peers' records would take ${bytesAfter} bytes here, over STORED_RECORD_BYTES_MAX (${this.#bytesMax})`)
      }
    }
    this.#set(storeKey, entry)
  }

  /** A record left the store. */
  removed (storeKey: string): void {
    const previous = this.#entries.get(storeKey)
    if (previous === undefined) return
    this.#entries.delete(storeKey)
    this.#bytes -= previous.author === this.#self ? 0 : previous.bytes
    const n = (this.#perAuthor.get(previous.author) ?? 1) - 1
    if (n <= 0) this.#perAuthor.delete(previous.author)
    else this.#perAuthor.set(previous.author, n)
  }

  /** Store keys whose record expired by `nowMs` (the caller deletes them, then calls `removed`). */
  expired (nowMs: number): string[] {
    const out: string[] = []
    for (const [key, entry] of this.#entries) if (entry.expiresAtMs <= nowMs) out.push(key)
    return out
  }

  /** Account for a record found in the store at start-up (never refused: it is already there). */
  found (storeKey: string, value: Uint8Array, stored: number): void {
    this.#set(storeKey, entryOf(value, stored))
  }

  #set (storeKey: string, entry: Entry): void {
    this.removed(storeKey)
    this.#entries.set(storeKey, entry)
    if (entry.author !== this.#self) this.#bytes += entry.bytes
    this.#perAuthor.set(entry.author, (this.#perAuthor.get(entry.author) ?? 0) + 1)
  }
}

/** Who wrote a record and when it expires; a record that does not decode counts as its bytes, expired. */
function entryOf (value: Uint8Array, stored: number): Entry {
  try {
    const record = decodeRecord(value)
    return { author: record.author, bytes: stored, expiresAtMs: record.expiresAtMs }
  } catch {
    // Not ours to judge here (the validator refused or will refuse it): count it so it is swept.
    return { author: '', bytes: stored, expiresAtMs: 0 }
  }
}
