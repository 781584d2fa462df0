// Raft safety checkers run by the simulator after every step (SPEC raft "Invariants" I1–I5):
// election safety, log matching, leader completeness, state-machine safety, apply order.

import type { RaftCore } from '../../protocols/raft/core.ts'
import type { Entry } from '../../protocols/raft/messages.ts'

/** A stable fingerprint of an entry's contents (term and index excluded). */
export function entryFingerprint (e: Entry): string {
  return `${e.kind}|${e.client}|${e.seq}|${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('hex')}`
}

/** Collects invariant violations across a whole simulated run. */
export class InvariantChecker {
  readonly violations: string[] = []
  /** I1 election safety: the one leader of each term. */
  readonly leaderOfTerm = new Map<number, string>()
  /** I2 log matching: (index, term) → contents and the term before it. */
  readonly #entryAt = new Map<string, { fingerprint: string, prevTerm: number | undefined }>()
  /** Entries known committed (someone applied them): index → term and contents. */
  readonly #committed = new Map<number, { term: number, fingerprint: string }>()
  #maxCommitted = 0
  elections = 0

  #fail (line: string): void {
    if (this.violations.length < 20) this.violations.push(line)
  }

  /** Call right after `core` becomes leader (I1, I3). */
  checkNewLeader (core: RaftCore, atMs: number): void {
    this.elections++
    const prior = this.leaderOfTerm.get(core.term)
    if (prior !== undefined && prior !== core.id) this.#fail(`I1 election safety: ${prior} and ${core.id} both leaders of term ${core.term} (t=${atMs}ms)`)
    this.leaderOfTerm.set(core.term, core.id)
    // I3 leader completeness: every entry known committed is in the new leader's log
    const log = core.log
    if (this.#maxCommitted > log.lastIndex()) {
      this.#fail(`I3 leader completeness: leader ${core.id} of term ${core.term} ends at ${log.lastIndex()} but ${this.#maxCommitted} is committed (t=${atMs}ms)`)
      return
    }
    for (const [index, c] of this.#committed) {
      if (index <= log.snapshotIndex) continue
      const e = log.entry(index)!
      if (e.term !== c.term || entryFingerprint(e) !== c.fingerprint) {
        this.#fail(`I3 leader completeness: leader ${core.id} of term ${core.term} has ${e.term}/${index} where ${c.term}/${index} is committed (t=${atMs}ms)`)
        return
      }
    }
  }

  /** Call with entries a node is about to persist; `termOf` gives the term it holds at an earlier index (I2). */
  checkPersistedEntries (nodeId: string, entries: readonly Entry[], termOf: (index: number) => number | undefined, atMs: number): void {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!
      const key = `${e.index}:${e.term}`
      const fingerprint = entryFingerprint(e)
      const prevTerm = k > 0 ? entries[k - 1]!.term : termOf(e.index - 1)
      const seen = this.#entryAt.get(key)
      if (seen === undefined) { this.#entryAt.set(key, { fingerprint, prevTerm }); continue }
      if (seen.fingerprint !== fingerprint) this.#fail(`I2 log matching: ${nodeId} has a different entry at ${e.term}/${e.index} (t=${atMs}ms)`)
      else if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) this.#fail(`I2 log matching: ${nodeId} has term ${prevTerm} before ${e.term}/${e.index}, another log has ${seen.prevTerm} (t=${atMs}ms)`)
    }
  }

  /** Call when a node restarts: its restored log must match every log that persisted the same entries (I2). */
  checkRestoredLog (core: RaftCore, atMs: number): void {
    const log = core.log
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) {
      const e = log.entry(i)!
      const seen = this.#entryAt.get(`${e.index}:${e.term}`)
      const prevTerm = log.term(i - 1)
      if (seen !== undefined && seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        this.#fail(`I2 log matching: ${core.id} restarted with term ${prevTerm} before ${e.term}/${e.index}, the log that wrote it has ${seen.prevTerm} (t=${atMs}ms)`)
        return
      }
    }
  }

  /** Call for each entry a node applies, in order; `previous` is its last applied index (I4, I5). */
  checkApplied (nodeId: string, e: Entry, previous: number, atMs: number): void {
    if (e.index !== previous + 1) this.#fail(`I5 apply order: ${nodeId} applied ${e.index} after ${previous} (t=${atMs}ms)`)
    const fingerprint = entryFingerprint(e)
    const c = this.#committed.get(e.index)
    if (c === undefined) {
      this.#committed.set(e.index, { term: e.term, fingerprint })
      if (e.index > this.#maxCommitted) this.#maxCommitted = e.index
    } else if (c.term !== e.term || c.fingerprint !== fingerprint) {
      this.#fail(`I4 state-machine safety: ${nodeId} applied ${e.term}/${e.index}, another node applied ${c.term}/${e.index} (t=${atMs}ms)`)
    }
  }

  /**
   * I6 membership: a member never follows, votes for, or counts as a voter a node outside the
   * group (`members`: every id that may ever be a member). Call after every input.
   */
  checkMembership (core: RaftCore, members: ReadonlySet<string>, atMs: number): void {
    const strangers = [core.leader, core.vote, ...core.voters].filter((id) => id !== '' && !members.has(id))
    if (strangers.length > 0) this.#fail(`I6 membership: ${core.id} follows, voted for or lists non-member ${strangers[0]} (t=${atMs}ms)`)
  }

  /** Highest index any node applied. */
  get maxCommitted (): number { return this.#maxCommitted }
}
