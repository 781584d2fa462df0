// Sequential specifications of the built-in KV and lock table, written independently of
// protocols/raft/kv.ts so the linearizability check is a real oracle for it.

import { TIME_STEP_MS_MAX } from '../../protocols/raft/kv.ts'
import type { Model } from './linearizability.ts'

/** A KV operation on one key: put returns the value written, get returns the value read. */
export type KvInput = { op: 'put', key: string, value: string } | { op: 'get', key: string }

/** A register per key (the history is partitioned by key). */
export const kvRegisterModel: Model<string | null, KvInput, string | null> = {
  init: () => null,
  step: (state, input, output) => {
    if (input.op === 'put') return { ok: output === undefined || output === input.value, state: input.value }
    return { ok: output === undefined || output === state, state }
  },
  key: (state) => state ?? '∅'
}

/** Lock table operations on one resource, plus the leader-proposed clock. */
export type LockInput =
  | { op: 'lock', owner: string, ttlMs: number }
  | { op: 'unlock', owner: string, token: number }
  | { op: 'time', elapsedMs: number }
/** What a lock or unlock returned. */
export interface LockOutput { granted: boolean, token: number }

interface LockState { owner: string, token: number, expiresAtMs: number, lastToken: number, clockMs: number }

/** One lock with a TTL lease measured on the replicated clock, and a fencing counter. */
export const lockModel: Model<LockState, LockInput, LockOutput> = {
  init: () => ({ owner: '', token: 0, expiresAtMs: 0, lastToken: 0, clockMs: 0 }),
  step: (s, input, output) => {
    const held = s.owner !== '' && s.expiresAtMs > s.clockMs
    switch (input.op) {
      case 'time': return { ok: true, state: { ...s, clockMs: s.clockMs + Math.min(input.elapsedMs, TIME_STEP_MS_MAX) } }
      case 'lock': {
        if (held && s.owner !== input.owner) return { ok: output === undefined || (!output.granted && output.token === s.token), state: s }
        if (held) return { ok: output === undefined || (output.granted && output.token === s.token), state: { ...s, expiresAtMs: s.clockMs + input.ttlMs } }
        const token = s.lastToken + 1
        return { ok: output === undefined || (output.granted && output.token === token), state: { ...s, owner: input.owner, token, lastToken: token, expiresAtMs: s.clockMs + input.ttlMs } }
      }
      case 'unlock': {
        if (held && s.owner === input.owner && s.token === input.token) return { ok: output === undefined || output.granted, state: { ...s, owner: '', expiresAtMs: 0 } }
        return { ok: output === undefined || !output.granted, state: s }
      }
    }
  },
  key: (s) => `${s.owner}|${s.token}|${s.expiresAtMs}|${s.lastToken}|${s.clockMs}`
}
