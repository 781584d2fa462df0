// Payloads on the `--exec` lines: JSON, with bytes as {"$bytes": "<base64>"}, the convention the
// HTTP API uses too (node/api/json.ts), so a worker in another language reads one form everywhere.

import { LimitExceededError } from '../../protocols/kit/errors.ts'
import type { Payload } from '../../protocols/kit/payload.ts'

/** Deepest nesting converted (as the HTTP API's JSON_DEPTH_MAX): it keeps the recursion bounded. */
export const EXEC_JSON_DEPTH_MAX = 64

const BYTES_KEY = '$bytes'

/** A payload as it goes to the child: bytes become {"$bytes": base64}. */
export function payloadToJson (value: unknown, depth = 0): unknown {
  if (depth > EXEC_JSON_DEPTH_MAX) throw new LimitExceededError(`Cannot send the payload to the --exec worker: nested deeper than EXEC_JSON_DEPTH_MAX (${EXEC_JSON_DEPTH_MAX})`)
  if (value instanceof Uint8Array) return { [BYTES_KEY]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
  if (Array.isArray(value)) return value.map(v => payloadToJson(v, depth + 1))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, payloadToJson(v, depth + 1)]))
  return value
}

/** A value from the child as a payload: {"$bytes": base64} (that key alone) becomes a Uint8Array. */
export function payloadFromJson (value: unknown, depth = 0): Payload {
  if (depth > EXEC_JSON_DEPTH_MAX) throw new LimitExceededError(`Cannot take the --exec worker's value: nested deeper than EXEC_JSON_DEPTH_MAX (${EXEC_JSON_DEPTH_MAX})`)
  if (Array.isArray(value)) return value.map(v => payloadFromJson(v, depth + 1))
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
    if (entries.length === 1 && entries[0]![0] === BYTES_KEY && typeof entries[0]![1] === 'string') return new Uint8Array(Buffer.from(entries[0]![1], 'base64'))
    return Object.fromEntries(entries.map(([k, v]) => [k, payloadFromJson(v, depth + 1)]))
  }
  return value as Payload
}
