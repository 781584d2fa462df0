// Hybrid logical clock (Kulkarni et al. 2014): timestamps that follow physical time
// but never go backwards and always exceed every timestamp a node has seen. Pure: the
// caller passes the physical time in.

import { DecodeError } from './errors.ts'

/** A hybrid logical timestamp: physical ms, then a logical counter for ties. */
export interface Hlc {
  readonly wallMs: number
  readonly logical: number
}

/** Largest logical counter before we refuse to advance (2^31: a bug or an attack). */
export const HLC_LOGICAL_MAX = 0x7fff_ffff
/** How far a remote timestamp may run ahead of our physical clock (ms) before we reject it. */
export const HLC_DRIFT_MAX_MS = 60_000

export const HLC_ZERO: Hlc = Object.freeze({ wallMs: 0, logical: 0 })

/** The next timestamp for a local event. */
export function hlcNow (last: Hlc, physicalMs: number): Hlc {
  if (physicalMs > last.wallMs) return { wallMs: physicalMs, logical: 0 }
  return { wallMs: last.wallMs, logical: bump(last.logical) }
}

/** Merge a received timestamp; returns the next local timestamp. Throws if it is too far ahead. */
export function hlcReceive (last: Hlc, remote: Hlc, physicalMs: number): Hlc {
  if (remote.wallMs - physicalMs > HLC_DRIFT_MAX_MS) {
    throw new DecodeError(`Cannot accept HLC ${hlcToString(remote)}: ${remote.wallMs - physicalMs} ms ahead of local clock exceeds HLC_DRIFT_MAX_MS`)
  }
  const wallMs = Math.max(last.wallMs, remote.wallMs, physicalMs)
  let logical = 0
  if (wallMs === last.wallMs && wallMs === remote.wallMs) logical = bump(Math.max(last.logical, remote.logical))
  else if (wallMs === last.wallMs) logical = bump(last.logical)
  else if (wallMs === remote.wallMs) logical = bump(remote.logical)
  return { wallMs, logical }
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

function bump (logical: number): number {
  if (logical >= HLC_LOGICAL_MAX) throw new DecodeError(`HLC logical counter reached HLC_LOGICAL_MAX (${HLC_LOGICAL_MAX})`)
  return logical + 1
}
