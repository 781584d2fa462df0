// The built-in replicated state machine (SPEC raft "State machine"): a deterministic KV plus a
// lock table with TTL leases and fencing tokens, and the request de-duplication table (R12).

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { ENTRY_BYTES_MAX, SNAPSHOT_BYTES_MAX } from './messages.ts'
import type { Entry } from './messages.ts'
import { SessionTable, sessionExpiredMessage } from './sessions.ts'

export { SESSIONS_MAX } from './sessions.ts'
/** Keys in the KV: bounds the snapshot (which must fit SNAPSHOT_BYTES_MAX). */
export const KV_KEYS_MAX = 100_000
/** Characters of a key, resource or owner name. */
export const KV_KEY_CHARS_MAX = 256
/**
 * Largest step of the replicated clock per `time` entry (SPEC raft R13). The leader proposes one at
 * least every 10 heartbeats (every heartbeat while locks are held), so a longer step is a stalled
 * or suspended leader; counting less only makes leases last longer, never end early.
 */
export const TIME_STEP_MS_MAX = 10_000

/** A command of the built-in state machine. Lease time comes from `time` commands the leader proposes: monotonic time elapsed since its previous one. */
export type KvCommand =
  | { op: 'put', key: string, value: string }
  | { op: 'get', key: string }
  | { op: 'delete', key: string }
  | { op: 'lock', resource: string, owner: string, ttlMs: number }
  | { op: 'unlock', resource: string, owner: string, token: number }
  | { op: 'time', elapsedMs: number }

/** Result of applying a command. */
export type KvResult =
  | { ok: true, value: string | null }
  | { ok: true, granted: boolean, token: number, holder: string }
  | { ok: false, error: string }

interface Lock { owner: string, token: number, expiresAtMs: number }

/** Encode a command for propose(). */
export function encodeKvCommand (c: KvCommand): Uint8Array { return encodeCbor(c) }

/** Decode and validate a command. */
export function decodeKvCommand (bytes: Uint8Array): KvCommand {
  const c = decodeCbor(bytes, { bytesMax: ENTRY_BYTES_MAX, what: 'kv command' }) as Record<string, unknown>
  if (typeof c !== 'object' || c === null) throw new DecodeError('Cannot decode kv command: not a map')
  const str = (f: string): void => {
    if (typeof c[f] !== 'string') throw new DecodeError(`Cannot decode kv command: ${f} is not a string`)
    if ((c[f] as string).length > KV_KEY_CHARS_MAX && f !== 'value') throw new LimitExceededError(`Cannot decode kv command: ${f} exceeds KV_KEY_CHARS_MAX (${KV_KEY_CHARS_MAX})`)
  }
  const num = (f: string): void => { if (typeof c[f] !== 'number' || !Number.isSafeInteger(c[f]) || (c[f] as number) < 0) throw new DecodeError(`Cannot decode kv command: ${f} is not a non-negative integer`) }
  switch (c.op) {
    case 'put': str('key'); str('value'); break
    case 'get': case 'delete': str('key'); break
    case 'lock': str('resource'); str('owner'); num('ttlMs'); break
    case 'unlock': str('resource'); str('owner'); num('token'); break
    case 'time': num('elapsedMs'); break
    default: throw new DecodeError(`Cannot decode kv command: unknown op ${String(c.op)}`)
  }
  return c as unknown as KvCommand
}

/** The deterministic KV + lock state machine; the same entries give the same state everywhere. */
export class KvStateMachine {
  readonly kv = new Map<string, string>()
  readonly locks = new Map<string, Lock>()
  /** Last fencing token handed out; only grows (SPEC raft R13). */
  fencingToken = 0
  /** Replicated clock: the sum of the `time` steps applied (each ≤ TIME_STEP_MS_MAX); never a local clock. */
  clockMs = 0
  appliedIndex = 0
  readonly #sessions: SessionTable<KvResult>

  /** `sessionsMax`: a smaller session table, for tests of eviction. */
  constructor (options: { sessionsMax?: number } = {}) { this.#sessions = new SessionTable(options.sessionsMax) }

  /** Apply one committed entry; returns the command's result (or the cached one for a retry). */
  apply (entry: Entry): KvResult {
    this.appliedIndex = entry.index
    if (entry.kind !== 'normal') return { ok: true, value: null }
    if (entry.client !== '') {
      // SPEC raft R12: a retried request (same client and seq) is applied once
      const s = this.#sessions.check(entry.client, entry.seq, entry.index)
      if (s.kind === 'duplicate') return s.result
      if (s.kind === 'stale') return { ok: false, error: `stale request ${entry.client}/${entry.seq} (last ${s.lastSeq})` }
      if (s.kind === 'expired') {
        const expired: KvResult = { ok: false, error: sessionExpiredMessage(entry.client, entry.seq) }
        this.#sessions.remember(entry.client, entry.seq, expired, entry.index) // a retry gets the same answer
        return expired
      }
    }
    let result: KvResult
    try {
      result = this.#execute(decodeKvCommand(entry.data))
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
      result = { ok: false, error: err.message }
    }
    if (entry.client !== '') this.#sessions.remember(entry.client, entry.seq, result, entry.index)
    return result
  }

  /** Read a key locally (serve only after a ReadState's index is applied, SPEC raft R8). */
  read (key: string): string | null { return this.kv.get(key) ?? null }

  #execute (c: KvCommand): KvResult {
    switch (c.op) {
      case 'put':
        if (!this.kv.has(c.key) && this.kv.size >= KV_KEYS_MAX) return { ok: false, error: 'KV_KEYS_MAX reached' }
        this.kv.set(c.key, c.value); return { ok: true, value: c.value }
      case 'get': return { ok: true, value: this.kv.get(c.key) ?? null }
      case 'delete': this.kv.delete(c.key); return { ok: true, value: null }
      case 'time': this.clockMs += Math.min(c.elapsedMs, TIME_STEP_MS_MAX); return { ok: true, value: null }
      case 'lock': return this.#lock(c.resource, c.owner, c.ttlMs)
      case 'unlock': {
        const l = this.locks.get(c.resource)
        if (l === undefined || l.owner !== c.owner || l.token !== c.token || l.expiresAtMs <= this.clockMs) return { ok: true, granted: false, token: l?.token ?? 0, holder: l?.owner ?? '' }
        this.locks.delete(c.resource)
        return { ok: true, granted: true, token: c.token, holder: '' }
      }
    }
  }

  #lock (resource: string, owner: string, ttlMs: number): KvResult {
    const held = this.locks.get(resource)
    if (held !== undefined && held.expiresAtMs > this.clockMs) {
      if (held.owner !== owner) return { ok: true, granted: false, token: held.token, holder: held.owner }
      held.expiresAtMs = this.clockMs + ttlMs // renewal keeps the token
      return { ok: true, granted: true, token: held.token, holder: owner }
    }
    const token = ++this.fencingToken
    this.locks.set(resource, { owner, token, expiresAtMs: this.clockMs + ttlMs })
    return { ok: true, granted: true, token, holder: owner }
  }

  /** Serialize the whole state (for a raft snapshot). */
  snapshot (): Uint8Array {
    const bytes = encodeCbor({
      kv: [...this.kv.entries()].sort(),
      locks: [...this.locks.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1).map(([r, l]) => [r, l.owner, l.token, l.expiresAtMs]),
      sessions: this.#sessions.entries().map((s) => [s.client, s.seq, encodeCbor(s.result), s.lastIndex]),
      fencingToken: this.fencingToken,
      clockMs: this.clockMs,
      appliedIndex: this.appliedIndex
    })
    if (bytes.byteLength > SNAPSHOT_BYTES_MAX) throw new LimitExceededError(`Cannot snapshot kv: ${bytes.byteLength} bytes exceeds SNAPSHOT_BYTES_MAX`)
    return bytes
  }

  /** Rebuild a state machine from snapshot bytes. */
  static restore (bytes: Uint8Array, options: { sessionsMax?: number } = {}): KvStateMachine {
    const v = decodeCbor(bytes, { bytesMax: SNAPSHOT_BYTES_MAX, what: 'kv snapshot' }) as {
      kv: Array<[string, string]>, locks: Array<[string, string, number, number]>, sessions: Array<[string, number, Uint8Array, number]>, fencingToken: number, clockMs: number, appliedIndex: number
    }
    const sm = new KvStateMachine(options)
    for (const [k, val] of v.kv) sm.kv.set(k, val)
    for (const [r, owner, token, expiresAtMs] of v.locks) sm.locks.set(r, { owner, token, expiresAtMs })
    sm.#sessions.restore(v.sessions.map(([client, seq, result, lastIndex]) => ({ client, seq, result: decodeCbor(result, { bytesMax: ENTRY_BYTES_MAX, what: 'kv session' }) as KvResult, lastIndex })))
    sm.fencingToken = v.fencingToken
    sm.clockMs = v.clockMs
    sm.appliedIndex = v.appliedIndex
    return sm
  }
}
