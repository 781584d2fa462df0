// Durable raft state of one group in a KvStore (the node's LevelDB sublevel `raft/<group>`, or the
// simulator's disk) (SPEC raft E1, E5, "Restart"): hard state, the latest snapshot and the log
// entries after it, written in fsynced batches.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { SYNC } from '../kit/store.ts'
import type { KvOperation, KvStore } from '../kit/store.ts'
import type { PersistedState } from './core.ts'
import { MESSAGE_BYTES_MAX, checkEntry, checkHardState, checkSnapshot } from './messages.ts'
import type { Entry, Snapshot } from './messages.ts'
import type { HardState, Ready } from './ready.ts'

const HARD_KEY = 'hard'
const SNAPSHOT_KEY = 'snap'
/** Entry keys sort by index: `e/` + 16 zero-padded digits (indexes stay below 10^16). */
const ENTRY_PREFIX = 'e/'
const INDEX_DIGITS = 16

function entryKey (index: number): string { return ENTRY_PREFIX + String(index).padStart(INDEX_DIGITS, '0') }

/** What a persist call wrote, for tests and stats. */
export interface PersistResult { synced: boolean, entries: number }

/** The durable log of one raft group. */
export class RaftStorage {
  readonly #db: KvStore
  /** Last stored entry index (0: none); stored entries past a new write's end are deleted. */
  #lastIndex = 0
  #snapshotIndex = 0
  /**
   * The commit-only (unsynced) batch still being written, if any. The next write waits for it so
   * batches reach the store in order (the store may run two pending batches in either order).
   */
  #pending: Promise<void> | null = null
  #pendingError: unknown = null

  constructor (db: KvStore) { this.#db = db }

  /** Wait for the commit-only batch in flight, if any; rethrows its failure. */
  async flush (): Promise<void> {
    if (this.#pending !== null) await this.#pending
    this.#pending = null
    if (this.#pendingError !== null) {
      const err = this.#pendingError
      this.#pendingError = null
      throw err
    }
  }

  /** Load what was persisted (SPEC raft "Restart"); null when this group never stored anything. */
  async load (): Promise<PersistedState | null> {
    const hardBytes = await this.#db.get(HARD_KEY)
    const snapBytes = await this.#db.get(SNAPSHOT_KEY)
    const entries: Entry[] = []
    for await (const value of this.#db.values({ gte: ENTRY_PREFIX, lt: ENTRY_PREFIX + '~' })) {
      const e = decodeCbor(value, { bytesMax: MESSAGE_BYTES_MAX, what: 'stored raft entry' })
      checkEntry(e)
      entries.push(e)
    }
    const snapshot: Snapshot | null = snapBytes === undefined ? null : decodeCbor(snapBytes, { bytesMax: MESSAGE_BYTES_MAX, what: 'stored raft snapshot' }) as Snapshot
    if (snapshot !== null) checkSnapshot(snapshot)
    this.#snapshotIndex = snapshot?.index ?? 0
    const after = entries.filter((e) => e.index > this.#snapshotIndex)
    this.#lastIndex = after.at(-1)?.index ?? this.#snapshotIndex
    if (hardBytes === undefined && snapshot === null && after.length === 0) return null
    const hardState = hardBytes === undefined ? { term: 0, vote: '', commit: 0 } : decodeCbor(hardBytes, { bytesMax: 1024, what: 'stored raft hard state' }) as HardState
    checkHardState(hardState)
    return { hardState, snapshot, entries: after }
  }

  /**
   * SPEC raft E1: hard state, snapshot and entries of one Ready in one batch. The batch is
   * fsynced when term, vote, entries or a snapshot changed; a commit-only change is written in
   * log order without fsync (etcd `MustSync`): a lost commit index is re-learned from the leader,
   * and LevelDB's write-ahead log never keeps a later write without the earlier ones. Nothing
   * waits for a commit-only batch (SPEC raft E1): it resolves at once, and the next write of this
   * storage starts after it, so batches stay in log order.
   */
  async persist (ready: Ready, previous: HardState): Promise<PersistResult> {
    await this.flush()
    const ops: KvOperation[] = []
    const hard = ready.hardState
    const mustSync = ready.entries.length > 0 || ready.snapshot !== null ||
      (hard !== null && (hard.term !== previous.term || hard.vote !== previous.vote))
    if (hard !== null) ops.push({ type: 'put', key: HARD_KEY, value: encodeCbor(hard) })
    let lastIndex = this.#lastIndex
    if (ready.snapshot !== null) {
      // SPEC raft E1: an installed leader snapshot drops every stored entry (etcd ApplySnapshot);
      // a stored suffix after it may come from another leader and must not return on restart
      ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeCbor(ready.snapshot) })
      for (let i = this.#snapshotIndex + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) })
      this.#snapshotIndex = ready.snapshot.index
      lastIndex = ready.snapshot.index
    }
    if (ready.entries.length > 0) {
      for (const e of ready.entries) ops.push({ type: 'put', key: entryKey(e.index), value: encodeCbor(e) })
      const lastNew = ready.entries.at(-1)!.index
      for (let i = lastNew + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) }) // a truncated suffix
      lastIndex = lastNew
    }
    if (ops.length === 0) return { synced: false, entries: 0 }
    if (!mustSync) {
      // only the hard state's commit changed (no entries, no snapshot: lastIndex is unchanged)
      this.#pending = this.#db.batch(ops, {}).catch((err: unknown) => { this.#pendingError = err })
      return { synced: false, entries: 0 }
    }
    await this.#db.batch(ops, SYNC)
    this.#lastIndex = lastIndex
    return { synced: mustSync, entries: ready.entries.length }
  }

  /** SPEC raft E5: store a snapshot taken by this node (fsynced), then drop the entries it covers. */
  async saveSnapshot (snapshot: Snapshot): Promise<void> {
    await this.flush()
    const ops: KvOperation[] = [{ type: 'put', key: SNAPSHOT_KEY, value: encodeCbor(snapshot) }]
    for (let i = this.#snapshotIndex + 1; i <= Math.min(snapshot.index, this.#lastIndex); i++) ops.push({ type: 'del', key: entryKey(i) })
    await this.#db.batch(ops, SYNC)
    this.#snapshotIndex = snapshot.index
    this.#lastIndex = Math.max(this.#lastIndex, snapshot.index)
  }
}
