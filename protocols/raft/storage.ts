// Durable raft state of one group in a KvStore (the node's LevelDB sublevel `raft/<group>`, or the
// simulator's disk) (SPEC raft E1, E5, "Restart"): hard state, the latest snapshot and the log
// entries after it, written in fsynced batches.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { SYNC } from '../kit/store.ts'
import type { KvOperation, KvStore, KvWriteOptions } from '../kit/store.ts'
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
  /** Every batch chains onto the previous one, so batches reach the store in call order (the store may run two pending batches in either order). */
  #tail: Promise<void> = Promise.resolve()
  /** The first failure of a batch nobody awaited (a commit-only write): the next persist throws it. */
  #tailError: unknown = null
  /** A commit-only hard state not written yet: it goes with the next batch, or on `flushCommit`. */
  #unwrittenHard: HardState | null = null

  constructor (db: KvStore) { this.#db = db }

  #write (ops: KvOperation[], options: KvWriteOptions): Promise<void> {
    const run = this.#tail.then(async () => this.#db.batch(ops, options))
    this.#tail = run.catch((err: unknown) => { this.#tailError ??= err })
    return run
  }

  #throwIfFailed (): void {
    if (this.#tailError === null) return
    const err = this.#tailError
    this.#tailError = null
    throw err
  }

  /**
   * Write the commit-only hard state kept back by `persist` (unsynced, not awaited): the driver
   * calls it every tick, so a stored commit index lags by at most one heartbeat when idle.
   */
  flushCommit (): void {
    const hard = this.#unwrittenHard
    if (hard === null) return
    this.#unwrittenHard = null
    void this.#write([{ type: 'put', key: HARD_KEY, value: encodeCbor(hard) }], {})
  }

  /** Write what is kept back and wait until every batch issued so far landed; rethrows a failure. */
  async flush (): Promise<void> {
    this.flushCommit()
    await this.#tail
    this.#throwIfFailed()
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
   * and LevelDB's write-ahead log never keeps a later write without the earlier ones. A
   * commit-only change is not even written here (SPEC raft E1): it goes with the next batch, or
   * with `flushCommit` on the next tick, so a write costs one batch per node, not two.
   */
  async persist (ready: Ready, previous: HardState): Promise<PersistResult> {
    this.#throwIfFailed()
    const ops: KvOperation[] = []
    const mustSync = ready.entries.length > 0 || ready.snapshot !== null ||
      (ready.hardState !== null && (ready.hardState.term !== previous.term || ready.hardState.vote !== previous.vote))
    if (!mustSync) {
      if (ready.hardState !== null) this.#unwrittenHard = ready.hardState
      return { synced: false, entries: 0 }
    }
    const hard = ready.hardState ?? this.#unwrittenHard
    this.#unwrittenHard = null
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
    await this.#write(ops, SYNC)
    this.#lastIndex = lastIndex
    return { synced: mustSync, entries: ready.entries.length }
  }

  /** SPEC raft E5: store a snapshot taken by this node (fsynced), then drop the entries it covers. */
  async saveSnapshot (snapshot: Snapshot): Promise<void> {
    this.#throwIfFailed()
    const ops: KvOperation[] = [{ type: 'put', key: SNAPSHOT_KEY, value: encodeCbor(snapshot) }]
    // the kept-back commit (≥ the snapshot's index) goes with it: a stored snapshot never runs ahead of the stored commit
    if (this.#unwrittenHard !== null) ops.push({ type: 'put', key: HARD_KEY, value: encodeCbor(this.#unwrittenHard) })
    this.#unwrittenHard = null
    for (let i = this.#snapshotIndex + 1; i <= Math.min(snapshot.index, this.#lastIndex); i++) ops.push({ type: 'del', key: entryKey(i) })
    await this.#write(ops, SYNC)
    this.#snapshotIndex = snapshot.index
    this.#lastIndex = Math.max(this.#lastIndex, snapshot.index)
  }
}
