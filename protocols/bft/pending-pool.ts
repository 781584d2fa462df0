// The pending pool ("mempool") of one member (SPEC bft B8): items waiting for a batch, FIFO,
// de-duplicated by hash and against recently committed items, with named bounds.

import { sha256, toHex } from '../kit/bytes.ts'
import { BATCH_BYTES_MAX, BATCH_ITEMS_MAX } from './messages.ts'

/** Pending items waiting for a batch: bounds memory a flood of submits can take. */
export const PENDING_ITEMS_MAX = 4096
/** Hashes of recently committed items, so a late gossip cannot re-queue them. */
export const COMMITTED_ITEMS_REMEMBERED = 8192

/** Items waiting to be proposed, in arrival order. */
export class PendingPool {
  #pending = new Map<string, Uint8Array>()
  #committed = new Set<string>()

  /** Number of pending items. */
  get size (): number { return this.#pending.size }

  /** Room for `count` more items? */
  hasRoom (count: number): boolean { return this.#pending.size + count <= PENDING_ITEMS_MAX }

  /** Add an item unless it is pending, recently committed, or the pool is full; true if added. */
  add (item: Uint8Array): boolean {
    const key = itemKey(item)
    if (this.#committed.has(key) || this.#pending.has(key) || !this.hasRoom(1)) return false
    this.#pending.set(key, item)
    return true
  }

  /**
   * The next batch: pending items in order within BATCH_ITEMS_MAX / BATCH_BYTES_MAX. Items that
   * fail `validate` are dropped from the pool (validity is deterministic, they can never commit).
   */
  takeBatch (validate: (item: Uint8Array) => boolean): Uint8Array[] {
    const items: Uint8Array[] = []
    let bytes = 0
    for (const [key, item] of this.#pending) {
      if (items.length >= BATCH_ITEMS_MAX || bytes + item.byteLength > BATCH_BYTES_MAX) break
      if (!validate(item)) { this.#pending.delete(key); continue }
      items.push(item)
      bytes += item.byteLength
    }
    return items
  }

  /** Forget committed items and remember them (bounded) so late gossip cannot re-add them. */
  markCommitted (items: readonly Uint8Array[]): void {
    for (const item of items) {
      const key = itemKey(item)
      this.#pending.delete(key)
      this.#committed.add(key)
    }
    while (this.#committed.size > COMMITTED_ITEMS_REMEMBERED) this.#committed.delete(this.#committed.values().next().value!)
  }
}

function itemKey (item: Uint8Array): string { return toHex(sha256(item)) }
