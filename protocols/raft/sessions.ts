// The replicated request de-duplication table (SPEC raft R12, Raft thesis §6.3): per client id the
// last applied seq and its result, evicted least recently used first — by log order, never by time.

import { VOTERS_MAX } from './messages.ts'

/**
 * Client ids one member's group handle uses at once (its in-flight request slots; each id serves
 * one request at a time). The handle reuses its ids, so a member has at most this many live
 * sessions per incarnation.
 */
export const CLIENTS_PER_MEMBER_MAX = 1024
/**
 * Sessions remembered: every member's live sessions at once (VOTERS_MAX × CLIENTS_PER_MEMBER_MAX
 * = 65,536). Eviction is least recently used, so the ids of earlier incarnations (dead after a
 * restart) go first; a live session is evicted only after 65,536 other sessions were used since
 * its own last use, which needs far more churn than one request timeout allows.
 */
export const SESSIONS_MAX = VOTERS_MAX * CLIENTS_PER_MEMBER_MAX
/** Prefix of the failure returned to a request whose session was evicted (SPEC raft R12). */
export const SESSION_EXPIRED = 'session expired'

/** What the table says about a request (client, seq) about to be applied. */
export type SessionCheck<R> =
  | { kind: 'new' }
  | { kind: 'duplicate', result: R }
  | { kind: 'stale', lastSeq: number }
  | { kind: 'expired' }

interface Session<R> { seq: number, result: R, lastIndex: number }

/** Bounded LRU table of client sessions; every member builds the same one from the same entries. */
export class SessionTable<R> {
  readonly sessionsMax: number
  /** Map order is use order (least recent first): a use moves the session to the end. */
  #sessions = new Map<string, Session<R>>()

  constructor (sessionsMax: number = SESSIONS_MAX) { this.sessionsMax = sessionsMax }

  get size (): number { return this.#sessions.size }

  /**
   * Classify request (client, seq) applied at `index`; a known session counts as used (LRU). A client
   * starts at seq 1, so an unknown client with a later seq lost its session to eviction: its request
   * may already have been applied, and must fail rather than apply a second time.
   */
  check (client: string, seq: number, index: number): SessionCheck<R> {
    const s = this.#sessions.get(client)
    if (s === undefined) return seq > 1 ? { kind: 'expired' } : { kind: 'new' }
    this.#touch(client, s, index)
    if (seq === s.seq) return { kind: 'duplicate', result: s.result }
    if (seq < s.seq) return { kind: 'stale', lastSeq: s.seq }
    return { kind: 'new' }
  }

  /** Record the result of (client, seq) applied at `index`, evicting the least recently used beyond the bound. */
  remember (client: string, seq: number, result: R, index: number): void {
    this.#sessions.delete(client)
    this.#sessions.set(client, { seq, result, lastIndex: index })
    while (this.#sessions.size > this.sessionsMax) this.#sessions.delete(this.#sessions.keys().next().value!)
  }

  /** Sessions in use order (least recent first), for a snapshot. */
  entries (): Array<{ client: string, seq: number, result: R, lastIndex: number }> {
    return [...this.#sessions].map(([client, s]) => ({ client, ...s }))
  }

  /** Rebuild from a snapshot's sessions (any order: use order is restored from lastIndex). */
  restore (sessions: Array<{ client: string, seq: number, result: R, lastIndex: number }>): void {
    this.#sessions = new Map()
    const ordered = [...sessions].sort((a, b) => a.lastIndex - b.lastIndex || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0))
    for (const s of ordered) this.remember(s.client, s.seq, s.result, s.lastIndex)
  }

  #touch (client: string, s: Session<R>, index: number): void {
    s.lastIndex = index
    this.#sessions.delete(client)
    this.#sessions.set(client, s)
  }
}

/** The failure message for a request whose session was evicted. */
export function sessionExpiredMessage (client: string, seq: number): string {
  return `${SESSION_EXPIRED}: request ${client}/${seq} has no session (evicted: too many more recently used clients), so it may already have been applied once; it was not applied again`
}
