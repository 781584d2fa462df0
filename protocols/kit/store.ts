// The storage port: an ordered key/value namespace with byte values and atomic batches. The node
// supplies a LevelDB sublevel (src/storage.ts); the simulator supplies a disk with crash points
// (unsynced writes lost, batches torn). Drivers and stores in protocols/ see only this interface.

/** A key range, as abstract-level takes it. */
export interface KvRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

/** Write options: `sync` asks for the write to be durable (fsynced) before it resolves. */
export interface KvWriteOptions { sync?: boolean }

/** One operation of an atomic batch. */
export type KvOperation =
  | { type: 'put', key: string, value: Uint8Array }
  | { type: 'del', key: string }

/** Fsync the write before it resolves (SPEC raft E1, bft "Persistence", events "Storage"). */
export const SYNC: KvWriteOptions = Object.freeze({ sync: true })

/**
 * An ordered byte store. A LevelDB sublevel satisfies it as is (`abstract-level` has the same
 * method shapes); so does the simulator's disk.
 */
export interface KvStore {
  get (key: string): Promise<Uint8Array | undefined>
  put (key: string, value: Uint8Array, options?: KvWriteOptions): Promise<void>
  del (key: string, options?: KvWriteOptions): Promise<void>
  /** All operations apply, or none do (a torn batch on the simulated disk keeps a prefix only if it was not synced). */
  batch (operations: KvOperation[], options?: KvWriteOptions): Promise<void>
  iterator (range?: KvRange): AsyncIterable<[string, Uint8Array]>
  keys (range?: KvRange): AsyncIterable<string>
  values (range?: KvRange): AsyncIterable<Uint8Array>
}

/** The namespaces of one database: a KvStore per name (`raft/<group>`, `bft/<group>`). The node's Storage satisfies it. */
export interface KvNamespaces {
  sublevel (name: string): KvStore
}
