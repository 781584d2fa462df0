// The leader's queue of ReadIndex requests (SPEC raft R8, etcd read_only.go): each read records the
// commit index and waits until a majority acknowledged a heartbeat sent after it.

import { hasQuorum } from './quorum.ts'

/** Reads waiting for a heartbeat quorum or for the leader's first commit: bounds memory under load. */
export const READS_PENDING_MAX = 1024

/** A read waiting for confirmation of leadership. */
export interface PendingRead { context: string, from: string, index: number, seq: number, acks: Set<string> }

/** Pending reads of one leader term, in arrival order. */
export class ReadIndexQueue {
  #seq = 0
  #reads: PendingRead[] = []
  /** Reads that arrived before an entry of the leader's term committed. */
  #waitingForCommit: Array<{ context: string, from: string }> = []

  /** Sequence number the next heartbeat should carry (0: none pending). */
  get latestSeq (): number { return this.#reads.at(-1)?.seq ?? 0 }

  /** Park a read until the leader's first commit; false if the queue is full. */
  deferUntilCommit (context: string, from: string): boolean {
    if (this.#waitingForCommit.length >= READS_PENDING_MAX) return false
    this.#waitingForCommit.push({ context, from })
    return true
  }

  /** Take every read parked by deferUntilCommit. */
  takeDeferred (): Array<{ context: string, from: string }> {
    const waiting = this.#waitingForCommit
    this.#waitingForCommit = []
    return waiting
  }

  /** Queue a read at `index`, acknowledged by `self`; null if the queue is full. */
  add (context: string, from: string, index: number, self: string): PendingRead | null {
    if (this.#reads.length >= READS_PENDING_MAX) return null
    const read: PendingRead = { context, from, index, seq: ++this.#seq, acks: new Set([self]) }
    this.#reads.push(read)
    return read
  }

  /** A heartbeat response carrying `seq` from `from` acknowledges every read up to `seq`. */
  ack (from: string, seq: number): void {
    if (!Number.isSafeInteger(seq)) return
    for (const r of this.#reads) if (r.seq <= seq) r.acks.add(from)
  }

  /** Remove and return, in order, the reads whose acknowledgements form a quorum of `voters`. */
  release (voters: readonly string[]): PendingRead[] {
    const out: PendingRead[] = []
    while (this.#reads.length > 0 && hasQuorum(voters, this.#reads[0]!.acks)) out.push(this.#reads.shift()!)
    return out
  }

  /** Forget everything (leadership lost); returns the contexts requested by `self`. */
  clear (self: string): string[] {
    const mine = [...this.#reads, ...this.#waitingForCommit].filter((r) => r.from === self).map((r) => r.context)
    this.#reads = []
    this.#waitingForCommit = []
    return mine
  }
}
