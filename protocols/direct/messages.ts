// Wire frames of the direct protocol and their bounded codec (SPEC direct, "Messages").

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError } from '../kit/errors.ts'
import type { Payload } from '../kit/payload.ts'

export const DIRECT_PROTOCOL = '/agentmesh/direct/1.0.0'
/** Default frame limit: 1 MiB (SPEC direct, "Limits"). */
export const DIRECT_FRAME_BYTES_MAX = 1024 * 1024
/** Method names are identifiers, not data. */
export const DIRECT_METHOD_CHARS_MAX = 256

/** A JSON-serialisable value, or bytes (defined in protocols/kit/payload.ts). */
export type { Payload }

export type FailureCode = 'unknown-method' | 'handler-error' | 'bad-request' | 'frame-too-large' | 'rate-limited'

export interface RequestFrame { version: 1, kind: 'request' | 'message', method: string, payload: Payload }
export interface ReplyFrame { kind: 'reply', payload: Payload }
export interface FailureFrame { kind: 'failure', code: FailureCode, message: string }
export type ResponseFrame = ReplyFrame | FailureFrame

const FAILURE_CODES: ReadonlySet<string> = new Set<FailureCode>(['unknown-method', 'handler-error', 'bad-request', 'frame-too-large', 'rate-limited'])

/** Encode a request; `undefined` payloads travel as `null`. */
export function encodeRequest (frame: RequestFrame): Uint8Array {
  return encodeCbor({ ...frame, payload: frame.payload ?? null })
}

/** Decode and validate a request frame. */
export function decodeRequest (bytes: Uint8Array, bytesMax: number): RequestFrame {
  const value = decodeCbor(bytes, { bytesMax, what: 'direct request' }) as Partial<RequestFrame>
  if (typeof value !== 'object' || value === null) throw new DecodeError('Cannot decode direct request: not a map')
  if (value.version !== 1) throw new DecodeError(`Cannot decode direct request: unsupported version ${String(value.version)}`)
  if (value.kind !== 'request' && value.kind !== 'message') throw new DecodeError(`Cannot decode direct request: unknown kind ${String(value.kind)}`)
  checkMethod(value.method)
  if (!('payload' in value)) throw new DecodeError('Cannot decode direct request: missing payload')
  return { version: 1, kind: value.kind, method: value.method, payload: value.payload as Payload }
}

/** Encode a reply or failure frame. */
export function encodeResponse (frame: ResponseFrame): Uint8Array {
  return encodeCbor(frame.kind === 'reply' ? { kind: 'reply', payload: frame.payload ?? null } : frame)
}

/** Decode and validate a reply or failure frame. */
export function decodeResponse (bytes: Uint8Array, bytesMax: number): ResponseFrame {
  const value = decodeCbor(bytes, { bytesMax, what: 'direct response' }) as Record<string, unknown>
  if (typeof value !== 'object' || value === null) throw new DecodeError('Cannot decode direct response: not a map')
  if (value.kind === 'reply') {
    if (!('payload' in value)) throw new DecodeError('Cannot decode direct response: reply without payload')
    return { kind: 'reply', payload: value.payload as Payload }
  }
  if (value.kind === 'failure') {
    if (typeof value.code !== 'string' || !FAILURE_CODES.has(value.code)) throw new DecodeError(`Cannot decode direct response: unknown failure code ${String(value.code)}`)
    if (typeof value.message !== 'string') throw new DecodeError('Cannot decode direct response: failure without message')
    return { kind: 'failure', code: value.code as FailureCode, message: value.message }
  }
  throw new DecodeError(`Cannot decode direct response: unknown kind ${String(value.kind)}`)
}

/** Throw unless `method` is a non-empty string within DIRECT_METHOD_CHARS_MAX. */
export function checkMethod (method: unknown): asserts method is string {
  if (typeof method !== 'string' || method.length === 0) throw new DecodeError('Invalid direct method: must be a non-empty string')
  if (method.length > DIRECT_METHOD_CHARS_MAX) throw new DecodeError(`Invalid direct method: ${method.length} characters exceeds DIRECT_METHOD_CHARS_MAX (${DIRECT_METHOD_CHARS_MAX})`)
}

/** One stable line describing a frame, for logs and traces. */
export function describeFrame (frame: RequestFrame | ResponseFrame): string {
  switch (frame.kind) {
    case 'request': case 'message': return `${frame.kind} ${frame.method}`
    case 'reply': return 'reply'
    case 'failure': return `failure ${frame.code}: ${frame.message}`
  }
}
