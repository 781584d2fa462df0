// Hybrid logical clock (Kulkarni et al. 2014): timestamps that follow physical time
// but never go backwards and always exceed every timestamp a node has seen. Pure: the
// caller passes the physical time in.

import { DecodeError } from './errors.ts'

/** A hybrid logical timestamp: physical ms, then a logical counter for ties. */
export interface Hlc {
  readonly wallMs: number
  readonly logical: number
}

/**
 * Largest logical counter (2^31 - 1). A counter this high only comes from a bug or an attack;
 * rather than fail, the clock then carries into the physical part (see `bump`), so a node
 * can always stamp its next event whatever it has received.
 */
export const HLC_LOGICAL_MAX = 0x7fff_ffff
/**
 * How far a remote timestamp may run ahead of our physical clock (ms) before we reject it:
 * the clock skew tolerated between honest nodes (NTP keeps them within tens of ms; a minute
 * covers a laptop waking from sleep). It is also how far one hostile timestamp can drag
 * every clock ahead of real time, so it stays small.
 */
export const HLC_DRIFT_MAX_MS = 60_000

export const HLC_ZERO: Hlc = Object.freeze({ wallMs: 0, logical: 0 })

/** The next timestamp for a local event: always greater than `last`, never throws. */
export function hlcNow (last: Hlc, physicalMs: number): Hlc {
  if (physicalMs > last.wallMs) return { wallMs: physicalMs, logical: 0 }
  return bump(last.wallMs, last.logical)
}

/** True when `remote` runs further ahead of `physicalMs` than HLC_DRIFT_MAX_MS allows. */
export function hlcTooFarAhead (remote: Hlc, physicalMs: number): boolean {
  return remote.wallMs - physicalMs > HLC_DRIFT_MAX_MS
}

/** Merge a received timestamp; returns the next local timestamp. Throws if it is too far ahead. */
export function hlcReceive (last: Hlc, remote: Hlc, physicalMs: number): Hlc {
  if (hlcTooFarAhead(remote, physicalMs)) {
    throw new DecodeError(`Cannot accept HLC ${hlcToString(remote)}: ${remote.wallMs - physicalMs} ms ahead of local clock exceeds HLC_DRIFT_MAX_MS`)
  }
  const wallMs = Math.max(last.wallMs, remote.wallMs, physicalMs)
  if (wallMs === last.wallMs && wallMs === remote.wallMs) return bump(wallMs, Math.max(last.logical, remote.logical))
  if (wallMs === last.wallMs) return bump(wallMs, last.logical)
  if (wallMs === remote.wallMs) return bump(wallMs, remote.logical)
  return { wallMs, logical: 0 }
}

/** Total order on timestamps: negative, zero or positive. */
export function hlcCompare (a: Hlc, b: Hlc): number {
  return a.wallMs !== b.wallMs ? a.wallMs - b.wallMs : a.logical - b.logical
}

/** Stable one-line form, sortable as text: `<wallMs 15 digits>.<logical 10 digits>`. */
export function hlcToString (t: Hlc): string {
  return `${String(t.wallMs).padStart(15, '0')}.${String(t.logical).padStart(10, '0')}`
}

/** Check a decoded timestamp's shape. */
export function hlcValidate (value: unknown, what: string): Hlc {
  const v = value as Hlc
  if (typeof v !== 'object' || v === null ||
    !Number.isSafeInteger(v.wallMs) || v.wallMs < 0 ||
    !Number.isSafeInteger(v.logical) || v.logical < 0 || v.logical > HLC_LOGICAL_MAX) {
    throw new DecodeError(`Cannot decode ${what}: HLC must be {wallMs, logical} non-negative integers`)
  }
  return { wallMs: v.wallMs, logical: v.logical }
}

/**
 * The timestamp right after (wallMs, logical). At HLC_LOGICAL_MAX the counter carries into the
 * physical part (1 ms later, logical 0): the order stays strict, and a hostile counter near the
 * maximum costs at most a millisecond of drift instead of stopping every node that saw it.
 */
function bump (wallMs: number, logical: number): Hlc {
  if (logical >= HLC_LOGICAL_MAX) return { wallMs: wallMs + 1, logical: 0 }
  return { wallMs, logical: logical + 1 }
}
