// The leader's view of one follower (SPEC raft R4): match/next indexes and the flow-control
// state (probe, replicate with a bounded inflight window, or waiting on a snapshot).

/** Append messages in flight to one follower while replicating: bounds leader memory and follower queue. */
export const INFLIGHT_MAX = 64

/** Flow-control state of a follower, as in etcd's tracker. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot'

/** Replication progress of one peer, tracked by the leader. */
export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** In probe state: an append is outstanding, wait for a reply or the next heartbeat. */
  probeSent = false
  /** Index of the snapshot being sent (snapshot state). */
  pendingSnapshot = 0
  /** Heard from this peer since the last check-quorum round (SPEC raft R6). */
  recentActive = false
  /** Ticks spent waiting for a snapshot to be acknowledged (snapshot state). */
  snapshotWaitTicks = 0
  /** Last indexes of appends in flight (replicate state), oldest first. */
  readonly inflight: number[] = []

  constructor (next: number) { this.next = next }

  /** Record an acknowledgement of `index`; returns true if match advanced. */
  maybeUpdate (index: number): boolean {
    let updated = false
    if (index > this.match) { this.match = index; updated = true; this.probeSent = false }
    if (this.next < index + 1) this.next = index + 1
    this.freeInflightTo(index)
    return updated
  }

  /** Handle a rejected append for `rejected` with hint `hintIndex`; returns true if next moved back. */
  maybeDecrease (rejected: number, hintIndex: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false // stale rejection
      this.next = this.match + 1
      this.becomeProbe()
      return true
    }
    if (this.next - 1 !== rejected) return false // stale: not the probe we sent
    this.next = Math.max(Math.min(rejected, hintIndex + 1), this.match + 1, 1)
    this.probeSent = false
    return true
  }

  /** Back to probing: one append at a time from just after the match. */
  becomeProbe (): void {
    if (this.state === 'snapshot') this.next = Math.max(this.match + 1, this.pendingSnapshot + 1)
    else this.next = this.match + 1
    this.state = 'probe'
    this.probeSent = false
    this.pendingSnapshot = 0
    this.inflight.length = 0
  }

  /** Optimistic pipelining after a successful probe. */
  becomeReplicate (): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.probeSent = false
    this.inflight.length = 0
  }

  /** Waiting for the follower to install the snapshot at `index`. */
  becomeSnapshot (index: number): void {
    this.snapshotWaitTicks = 0
    this.state = 'snapshot'
    this.pendingSnapshot = index
    this.inflight.length = 0
  }

  /** Record that an append ending at `lastIndex` was sent. */
  sentAppend (lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) { this.next = lastIndex + 1; this.inflight.push(lastIndex) }
    } else if (this.state === 'probe') {
      this.probeSent = true
    }
  }

  /** Forget in-flight appends acknowledged up to `index`. */
  freeInflightTo (index: number): void {
    let n = 0
    while (n < this.inflight.length && this.inflight[n]! <= index) n++
    if (n > 0) this.inflight.splice(0, n)
  }

  /** Forget the oldest append in flight (a heartbeat response proved the peer alive, SPEC raft R4). */
  freeFirstInflight (): void { this.inflight.shift() }

  /** True when no more appends should be sent now. */
  isPaused (): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent
      case 'replicate': return this.inflight.length >= INFLIGHT_MAX
      case 'snapshot': return true
    }
  }

  /** One line for traces. */
  describe (): string { return `${this.state} match=${this.match} next=${this.next}${this.inflight.length > 0 ? ` inflight=${this.inflight.length}` : ''}` }
}
