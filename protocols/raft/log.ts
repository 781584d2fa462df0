// The raft log of one node (SPEC raft R3, R7): a compacted prefix (snapshot), the entries
// after it, how far they are persisted (stable), committed and applied.

import { assert } from '../kit/assert.ts'
import type { Entry, Snapshot } from './messages.ts'

/** In-memory raft log; the driver's storage mirrors its stable part. */
export class RaftLog {
  /** Index and term of the last entry folded into the snapshot (0/0: none). */
  snapshotIndex = 0
  snapshotTerm = 0
  /** A snapshot received from the leader and not yet handed to the driver. */
  unstableSnapshot: Snapshot | null = null
  /** Entries snapshotIndex+1 … lastIndex. */
  entries: Entry[] = []
  /** Entries up to here are persisted (SPEC raft E1). */
  stableIndex = 0
  committed = 0
  applied = 0
  /** Committed entries up to here were handed to the driver in a Ready. */
  appliedPending = 0

  /** Rebuild from what the driver persisted. */
  static restore (snapshot: Snapshot | null, entries: Entry[], committed: number): RaftLog {
    const log = new RaftLog()
    if (snapshot !== null) { log.snapshotIndex = snapshot.index; log.snapshotTerm = snapshot.term }
    let expected = log.snapshotIndex + 1
    for (const e of entries) {
      if (e.index <= log.snapshotIndex) continue
      assert(e.index === expected, `persisted entries are consecutive after the snapshot (expected ${expected}, got ${e.index})`)
      log.entries.push(e)
      expected++
    }
    log.stableIndex = log.lastIndex()
    log.committed = Math.max(committed, log.snapshotIndex)
    assert(log.committed <= log.lastIndex(), `persisted commit ${committed} is within the log (last ${log.lastIndex()})`)
    log.applied = log.snapshotIndex
    log.appliedPending = log.snapshotIndex
    return log
  }

  /** First index still in the log (after the snapshot). */
  firstIndex (): number { return this.snapshotIndex + 1 }
  /** Index of the last entry (or of the snapshot when empty). */
  lastIndex (): number { return this.snapshotIndex + this.entries.length }
  /** Term of the last entry. */
  lastTerm (): number { return this.term(this.lastIndex())! }

  /** Term of entry `index`, or undefined if compacted away or beyond the end. */
  term (index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined
    return this.entries[index - this.snapshotIndex - 1]!.term
  }

  /** The entry at `index`, if still in the log. */
  entry (index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined
    return this.entries[index - this.snapshotIndex - 1]
  }

  /** True when the entry at `index` has `term`. */
  matchTerm (index: number, term: number): boolean { return this.term(index) === term }

  /** Up-to-date check of the election restriction (§5.4.1). */
  isUpToDate (lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex())
  }

  /** Entries from `lo` on, at most `countMax`; undefined when `lo` is compacted. */
  slice (lo: number, countMax: number): Entry[] | undefined {
    if (lo <= this.snapshotIndex) return undefined
    const start = lo - this.snapshotIndex - 1
    return this.entries.slice(start, start + countMax)
  }

  /** Append entries at the leader (no conflict possible). */
  append (entries: Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.lastIndex() + 1, 'leader appends consecutively')
      this.entries.push(e)
    }
  }

  /**
   * Follower append (§5.3): if the entry at prevIndex has prevTerm, drop conflicting entries
   * and append the new ones; returns the last index known to match, or null on mismatch.
   */
  maybeAppend (prevIndex: number, prevTerm: number, entries: Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null
    const lastNew = prevIndex + entries.length
    for (let i = 0; i < entries.length; i++) {
      // SPEC raft R4: checkMessage already refused appends that break this; a breach here is a bug
      assert(entries[i]!.index === prevIndex + 1 + i && entries[i]!.term >= (i === 0 ? prevTerm : entries[i - 1]!.term), `appended entries are consecutive after ${prevIndex} with non-decreasing terms`)
    }
    for (const e of entries) {
      if (e.index <= this.snapshotIndex) continue
      const t = this.term(e.index)
      if (t === e.term) continue
      if (t !== undefined) {
        assert(e.index > this.committed, `conflicting entry ${e.index} is not committed (commit ${this.committed})`)
        this.truncateFrom(e.index)
      }
      this.entries.push(e)
    }
    return lastNew
  }

  /** Drop entries from `index` on (conflict with the leader). */
  truncateFrom (index: number): void {
    this.entries.length = index - this.snapshotIndex - 1
    if (this.stableIndex >= index) this.stableIndex = index - 1
  }

  /**
   * Fast backtracking hint (etcd findConflictByTerm): the largest index ≤ `index` whose term
   * is ≤ `term`, so the leader can skip a whole term of mismatching entries per round trip.
   */
  findConflictByTerm (index: number, term: number): { index: number, term: number } {
    let i = Math.min(index, this.lastIndex())
    while (i > this.snapshotIndex) {
      const t = this.term(i)!
      if (t <= term) return { index: i, term: t }
      i--
    }
    return { index: this.snapshotIndex, term: this.snapshotTerm }
  }

  /** Raise the commit index; false if it would not grow. */
  commitTo (index: number): boolean {
    if (index <= this.committed) return false
    assert(index <= this.lastIndex(), `commit ${index} within log (last ${this.lastIndex()})`)
    this.committed = index
    return true
  }

  /** Entries past the stable point, to persist in the next Ready. */
  unstableEntries (): Entry[] { return this.entries.slice(this.stableIndex - this.snapshotIndex) }

  /** Committed entries not yet handed out, to apply after persisting. */
  nextCommittedEntries (): Entry[] {
    if (this.committed <= this.appliedPending) return []
    return this.entries.slice(this.appliedPending - this.snapshotIndex, this.committed - this.snapshotIndex)
  }

  /** The driver persisted entries up to `index` (with `term`); ignored if since overwritten. */
  stableTo (index: number, term: number): void {
    if (index > this.stableIndex && this.matchTerm(index, term)) this.stableIndex = index
  }

  /** Replace the log by a snapshot received from the leader (SPEC raft R7). */
  restoreSnapshot (s: Snapshot): void {
    this.snapshotIndex = s.index
    this.snapshotTerm = s.term
    this.entries = []
    this.stableIndex = s.index
    this.committed = s.index
    this.applied = s.index
    this.appliedPending = s.index
    this.unstableSnapshot = s
  }

  /** Drop entries up to `index` (already captured by a snapshot the driver persisted). */
  compact (index: number): void {
    assert(index > this.snapshotIndex && index <= this.applied, `compaction index ${index} is applied and after the snapshot ${this.snapshotIndex}`)
    const term = this.term(index)!
    this.entries = this.entries.slice(index - this.snapshotIndex)
    this.snapshotIndex = index
    this.snapshotTerm = term
  }
}
