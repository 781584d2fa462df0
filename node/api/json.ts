// JSON form of payloads for callers in other languages: bytes (Uint8Array) travel as
// {"$bytes": "<base64>"}, every other value as itself (DESIGN "Payloads are JSON or Uint8Array").

import { LimitExceededError } from '../../protocols/kit/errors.ts'

/** Deepest nesting converted: far beyond any sane payload, and it keeps recursion bounded. */
export const JSON_DEPTH_MAX = 64

/** The marker key of a byte string in JSON. */
export const BYTES_KEY = '$bytes'

/** A value as it goes out in JSON: bytes become {"$bytes": base64}. */
export function toJson (value: unknown, depth = 0): unknown {
  if (depth > JSON_DEPTH_MAX) throw new LimitExceededError(`Cannot encode value: nested deeper than JSON_DEPTH_MAX (${JSON_DEPTH_MAX})`)
  if (value instanceof Uint8Array) return { [BYTES_KEY]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
  if (Array.isArray(value)) return value.map(v => toJson(v, depth + 1))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v, depth + 1)]))
  }
  if (typeof value === 'bigint') return Number(value)
  return value
}

/** A value as it comes in from JSON: {"$bytes": base64} (that key alone) becomes a Uint8Array. */
export function fromJson (value: unknown, depth = 0): any {
  if (depth > JSON_DEPTH_MAX) throw new LimitExceededError(`Cannot decode value: nested deeper than JSON_DEPTH_MAX (${JSON_DEPTH_MAX})`)
  if (Array.isArray(value)) return value.map(v => fromJson(v, depth + 1))
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
    if (entries.length === 1 && entries[0]![0] === BYTES_KEY && typeof entries[0]![1] === 'string') {
      return new Uint8Array(Buffer.from(entries[0]![1], 'base64'))
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, fromJson(v, depth + 1)]))
  }
  return value
}
