// libp2p's datastore with the DHT record store bounded (protocols/state/store-bound.ts): every
// record kad-dht stores under /dht/record passes the budget first, expired records are swept, and
// a restarted node counts what its data dir already holds.

import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { Libp2pRecord } from '@libp2p/record'
import { RecordStoreBound } from '../protocols/state/store-bound.ts'

/** kad-dht's datastore prefix for records (its default `/dht`, then `/record`). */
const DHT_RECORD_PREFIX = '/dht/record'

/** The signed record inside a kad-dht record, or the bytes as they are when they do not parse. */
function innerValue (stored: Uint8Array): Uint8Array {
  try {
    return Libp2pRecord.deserialize(stored).value
  } catch {
    return stored // counted as an undecodable record: swept at the next pass
  }
}

/** A LevelDatastore whose DHT records are held to a RecordStoreBound once one is attached. */
export class BoundedLevelDatastore extends LevelDatastore {
  #bound: RecordStoreBound | undefined

  /** Start bounding: count the records already stored, then drop the expired ones. */
  async attachBound (bound: RecordStoreBound, nowMs: number): Promise<void> {
    for await (const { key, value } of this.query({ prefix: DHT_RECORD_PREFIX })) bound.found(key.toString(), innerValue(value), value.byteLength)
    this.#bound = bound
    await this.sweep(nowMs)
  }

  /** Delete every record expired by `nowMs`; resolves to how many went. */
  async sweep (nowMs: number): Promise<number> {
    const bound = this.#bound
    if (bound === undefined) return 0
    const keys = bound.expired(nowMs)
    for (const key of keys) await this.delete(new Key(key, false))
    bound.swept += keys.length
    return keys.length
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const text = key.toString()
    if (this.#bound !== undefined && text.startsWith(`${DHT_RECORD_PREFIX}/`)) this.#bound.admit(text, innerValue(value), value.byteLength)
    return super.put(key, value, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    await super.delete(key, options)
    this.#bound?.removed(key.toString())
  }
}
