// The replicated state machines a group driver applies committed entries to: the built-in KV
// (protocols/raft/kv.ts) or the app's `apply`, wrapped with request de-duplication (SPEC raft R12).

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { KvStateMachine } from './kv.ts'
import { SessionTable, sessionExpiredMessage } from './sessions.ts'
import { ENTRY_BYTES_MAX, SNAPSHOT_BYTES_MAX } from './messages.ts'
import type { Entry } from './messages.ts'

/** What applying one entry gave: a value, or a deterministic failure message. */
export type ApplyOutcome = { ok: true, value: unknown } | { ok: false, error: string }

/** A deterministic state machine as the driver sees it. */
export interface ReplicatedStateMachine {
  apply (entry: Entry): ApplyOutcome | Promise<ApplyOutcome>
  /** Bytes of the whole state for a raft snapshot, or null when this machine cannot snapshot. */
  snapshot (): Uint8Array | null
  restore (data: Uint8Array): void
}

/** The app's state machine (DESIGN `join(name, {apply})`, hashicorp/raft's FSM). */
export type ApplyFunction = (command: unknown, context: { index: number }) => unknown

/** Optional snapshot hooks for a custom apply; without them the group never compacts its log. */
export interface SnapshotHooks { snapshot: () => Uint8Array, restore: (data: Uint8Array) => void }

/** The built-in KV + lock table. */
export class BuiltInKv implements ReplicatedStateMachine {
  machine = new KvStateMachine()

  apply (entry: Entry): ApplyOutcome {
    const r = this.machine.apply(entry)
    return r.ok ? { ok: true, value: r } : { ok: false, error: r.error }
  }

  snapshot (): Uint8Array { return this.machine.snapshot() }
  restore (data: Uint8Array): void { this.machine = KvStateMachine.restore(data) }
}

/** Runs the app's apply once per request id; retries get the first outcome. */
export class CustomStateMachine implements ReplicatedStateMachine {
  readonly #apply: ApplyFunction
  readonly #hooks: SnapshotHooks | undefined
  readonly #sessions = new SessionTable<ApplyOutcome>()

  constructor (apply: ApplyFunction, hooks?: SnapshotHooks) {
    this.#apply = apply
    this.#hooks = hooks
  }

  async apply (entry: Entry): Promise<ApplyOutcome> {
    if (entry.kind !== 'normal') return { ok: true, value: null }
    if (entry.client !== '') {
      // SPEC raft R12: the same de-duplication as the built-in KV
      const s = this.#sessions.check(entry.client, entry.seq, entry.index)
      if (s.kind === 'duplicate') return s.result
      if (s.kind === 'stale') return { ok: false, error: `stale request ${entry.client}/${entry.seq} (last ${s.lastSeq})` }
      if (s.kind === 'expired') {
        const expired: ApplyOutcome = { ok: false, error: sessionExpiredMessage(entry.client, entry.seq) }
        this.#sessions.remember(entry.client, entry.seq, expired, entry.index)
        return expired
      }
    }
    let outcome: ApplyOutcome
    try {
      const command = decodeCbor(entry.data, { bytesMax: ENTRY_BYTES_MAX, what: 'raft command' })
      outcome = { ok: true, value: await this.#apply(command, { index: entry.index }) }
    } catch (err) {
      outcome = { ok: false, error: err instanceof Error ? err.message : String(err) }
    }
    if (entry.client !== '') this.#sessions.remember(entry.client, entry.seq, outcome, entry.index)
    return outcome
  }

  snapshot (): Uint8Array | null {
    if (this.#hooks === undefined) return null
    const sessions = this.#sessions.entries().map((s) => [s.client, s.seq, encodeCbor(s.result), s.lastIndex])
    return encodeCbor({ app: this.#hooks.snapshot(), sessions })
  }

  restore (data: Uint8Array): void {
    if (this.#hooks === undefined) throw new Error('a custom state machine without snapshot hooks cannot restore a snapshot')
    const v = decodeCbor(data, { bytesMax: SNAPSHOT_BYTES_MAX, what: 'raft app snapshot' }) as { app: Uint8Array, sessions: Array<[string, number, Uint8Array, number?]> }
    this.#hooks.restore(v.app)
    // snapshots written before sessions kept their last use have no index: keep their stored order
    this.#sessions.restore(v.sessions.map(([client, seq, outcome, lastIndex], i) => ({ client, seq, result: decodeCbor(outcome, { bytesMax: ENTRY_BYTES_MAX, what: 'raft session' }) as ApplyOutcome, lastIndex: lastIndex ?? i })))
  }
}
