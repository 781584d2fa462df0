// Wire messages of the events protocol and their bounded codec (SPEC events, "Messages"):
// the signed event envelope, and the anti-entropy sync request/reply frames.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { PEER_ID_CHARS_MAX, SIGNATURE_BYTES_MAX } from '../kit/limits.ts'
import { sha256, toHex } from '../kit/bytes.ts'
import { hlcValidate, hlcToString } from '../kit/hlc.ts'
import type { Hlc } from '../kit/hlc.ts'

/** Direct-stream protocol for anti-entropy (SPEC events, "Protocol ids"). */
export const EVENTS_SYNC_PROTOCOL = '/agentmesh/events-sync/1.0.0'
/** GossipSub topic = prefix + application topic (SPEC events, "Protocol ids"). */
export const EVENTS_GOSSIP_TOPIC_PREFIX = 'agentmesh/events/1/'
/** Largest signed envelope on the wire: 256 KiB (bigger payloads belong in docs; gossip copies every byte D times). */
export const EVENT_BYTES_MAX = 256 * 1024
/** Topic names are identifiers: at most 256 characters, no NUL (used as a key separator). */
export const TOPIC_CHARS_MAX = 256
/** Event types are identifiers: at most 128 characters. */
export const TYPE_CHARS_MAX = 128
/** An author is a peer id (protocols/kit/limits.ts). */
export const AUTHOR_CHARS_MAX = PEER_ID_CHARS_MAX
/** Largest signature (protocols/kit/limits.ts). */
export { SIGNATURE_BYTES_MAX }
/** Authors listed in one sync vector (bounds request size and server work). */
export const SYNC_VECTOR_AUTHORS_MAX = 4096
/**
 * Writers of one restricted topic at most (SPEC events E15): a writer list names a team of
 * agents, not a crowd; 1024 peer ids keep a sync request that carries the list under 150 KiB.
 */
export const TOPIC_WRITERS_MAX = 1024
/** Events in one sync reply (bounded batches, SPEC events E6). */
export const SYNC_BATCH_EVENTS_MAX = 256
/** Bytes of one sync frame: a full batch of maximal events would be larger, so the server also stops at this. */
export const SYNC_FRAME_BYTES_MAX = 4 * 1024 * 1024
/** Domain separation for signatures, so an event signature can never be replayed as another protocol's. */
export const EVENT_SIGNING_PREFIX = new TextEncoder().encode('agentmesh-events-v1:')

/** A JSON-serialisable value, or bytes. */
export type EventData = null | boolean | number | string | Uint8Array | EventData[] | { [key: string]: EventData }

/** The signed part of an event. */
export interface EventBody {
  topic: string
  type: string
  data: EventData
  author: string
  hlc: Hlc
  seq: number
}

/** A decoded (not yet verified) envelope: the body, its exact bytes, the signature and the id. */
export interface Envelope extends EventBody {
  /** hex SHA-256 of `bodyBytes`: the content hash. */
  id: string
  bodyBytes: Uint8Array
  signature: Uint8Array
  /** The whole envelope as sent, for storage and forwarding. */
  wire: Uint8Array
}

/** What users see (DESIGN `AgentEvent`). */
export interface AgentEvent {
  id: string
  topic: string
  type: string
  data: EventData
  author: string
  hlc: Hlc
  seq: number
}

/** One author's position in a sync vector: contiguous head `seq` and compaction `floor`. */
export interface VectorEntry { author: string, seq: number, floor: number }

/** Anti-entropy request: "here is what I have of `topic`". */
export interface SyncRequest {
  kind: 'sync'
  topic: string
  vector: VectorEntry[]
  /** The requester's writer list for a restricted topic (SPEC E15): send only these authors. */
  writers?: string[]
}
/** Anti-entropy reply: events the requester lacks (a bounded batch) and the server's own vector. */
export interface SyncReply { kind: 'sync-reply', topic: string, events: Uint8Array[], vector: VectorEntry[], more: boolean }

/** Throw unless `topic` is a valid topic name. */
export function checkTopic (topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw new DecodeError('Invalid events topic: must be a non-empty string')
  if (topic.length > TOPIC_CHARS_MAX) throw new DecodeError(`Invalid events topic: ${topic.length} characters exceeds TOPIC_CHARS_MAX (${TOPIC_CHARS_MAX})`)
  if (topic.includes('\u0000')) throw new DecodeError('Invalid events topic: contains NUL')
}

/** Throw unless `type` is a valid event type. */
export function checkType (type: unknown): asserts type is string {
  if (typeof type !== 'string' || type.length === 0) throw new DecodeError('Invalid event type: must be a non-empty string')
  if (type.length > TYPE_CHARS_MAX) throw new DecodeError(`Invalid event type: ${type.length} characters exceeds TYPE_CHARS_MAX (${TYPE_CHARS_MAX})`)
}

function checkAuthor (author: unknown): asserts author is string {
  if (typeof author !== 'string' || author.length === 0 || author.length > AUTHOR_CHARS_MAX || author.includes('\u0000')) {
    throw new DecodeError(`Cannot decode event: author must be a peer id of 1..${AUTHOR_CHARS_MAX} characters`)
  }
}

function checkSeq (seq: unknown, what: string, min: number): asserts seq is number {
  if (!Number.isSafeInteger(seq) || (seq as number) < min) throw new DecodeError(`Cannot decode ${what}: seq must be an integer ≥ ${min}, got ${String(seq)}`)
}

/** Encode the signed body deterministically (these bytes are hashed and signed). */
export function encodeBody (body: EventBody): Uint8Array {
  return encodeCbor({ v: 1, topic: body.topic, type: body.type, data: body.data, author: body.author, hlc: { wallMs: body.hlc.wallMs, logical: body.hlc.logical }, seq: body.seq })
}

/** The bytes an author signs: a domain prefix, then the body. */
export function signingBytes (bodyBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(EVENT_SIGNING_PREFIX.byteLength + bodyBytes.byteLength)
  out.set(EVENT_SIGNING_PREFIX, 0)
  out.set(bodyBytes, EVENT_SIGNING_PREFIX.byteLength)
  return out
}

/** Content hash of a body: the event id. */
export function eventIdOf (bodyBytes: Uint8Array): string {
  return toHex(sha256(bodyBytes))
}

/** Wrap a body and its signature into wire bytes, checking EVENT_BYTES_MAX. */
export function encodeEnvelope (bodyBytes: Uint8Array, signature: Uint8Array): Uint8Array {
  const wire = encodeCbor({ body: bodyBytes, sig: signature })
  if (wire.byteLength > EVENT_BYTES_MAX) throw new LimitExceededError(`Cannot publish event: ${wire.byteLength} bytes exceeds EVENT_BYTES_MAX (${EVENT_BYTES_MAX})`)
  return wire
}

/** Decode and validate an envelope's shape (the signature is checked separately, once). */
export function decodeEnvelope (wire: Uint8Array): Envelope {
  const outer = decodeCbor(wire, { bytesMax: EVENT_BYTES_MAX, what: 'event envelope' }) as Record<string, unknown>
  if (typeof outer !== 'object' || outer === null || Array.isArray(outer)) throw new DecodeError('Cannot decode event envelope: not a map')
  const keys = Object.keys(outer)
  if (keys.length !== 2 || !(outer.body instanceof Uint8Array) || !(outer.sig instanceof Uint8Array)) throw new DecodeError('Cannot decode event envelope: expected exactly {body: bytes, sig: bytes}')
  if (outer.sig.byteLength === 0 || outer.sig.byteLength > SIGNATURE_BYTES_MAX) throw new DecodeError(`Cannot decode event envelope: signature of ${outer.sig.byteLength} bytes (1..${SIGNATURE_BYTES_MAX})`)
  const bodyBytes = outer.body
  const body = decodeCbor(bodyBytes, { bytesMax: EVENT_BYTES_MAX, what: 'event body' }) as Record<string, unknown>
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DecodeError('Cannot decode event body: not a map')
  if (body.v !== 1) throw new DecodeError(`Cannot decode event body: unsupported version ${String(body.v)}`)
  if (Object.keys(body).length !== 7 || !('data' in body)) throw new DecodeError('Cannot decode event body: expected exactly {v, topic, type, data, author, hlc, seq}')
  checkTopic(body.topic)
  checkType(body.type)
  checkAuthor(body.author)
  checkSeq(body.seq, 'event body', 1)
  const hlc = hlcValidate(body.hlc, 'event body')
  const decoded: EventBody = { topic: body.topic, type: body.type, data: body.data as EventData, author: body.author, hlc, seq: body.seq }
  // Canonical form only: re-encoding must give the same bytes, so one event has one id.
  const canonical = encodeBody(decoded)
  if (canonical.byteLength !== bodyBytes.byteLength || toHex(canonical) !== toHex(bodyBytes)) throw new DecodeError('Cannot decode event body: not in canonical CBOR form')
  return { ...decoded, id: eventIdOf(bodyBytes), bodyBytes, signature: outer.sig, wire }
}

/** The user-facing view of an envelope. */
export function toAgentEvent (e: Envelope): AgentEvent {
  return { id: e.id, topic: e.topic, type: e.type, data: e.data, author: e.author, hlc: e.hlc, seq: e.seq }
}

function checkVector (value: unknown, what: string): VectorEntry[] {
  if (!Array.isArray(value)) throw new DecodeError(`Cannot decode ${what}: vector is not a list`)
  if (value.length > SYNC_VECTOR_AUTHORS_MAX) throw new LimitExceededError(`Cannot decode ${what}: ${value.length} authors exceeds SYNC_VECTOR_AUTHORS_MAX (${SYNC_VECTOR_AUTHORS_MAX})`)
  return value.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 3) throw new DecodeError(`Cannot decode ${what}: vector entry must be [author, seq, floor]`)
    const [author, seq, floor] = entry as [unknown, unknown, unknown]
    checkAuthor(author)
    checkSeq(seq, what, 0)
    checkSeq(floor, what, 0)
    if (floor > seq) throw new DecodeError(`Cannot decode ${what}: floor ${floor} above seq ${seq}`)
    return { author, seq, floor }
  })
}

/** Encode a sync request or reply. */
export function encodeSyncFrame (frame: SyncRequest | SyncReply): Uint8Array {
  const vector = frame.vector.map(v => [v.author, v.seq, v.floor])
  return encodeCbor(frame.kind === 'sync'
    ? (frame.writers === undefined ? { kind: 'sync', topic: frame.topic, vector } : { kind: 'sync', topic: frame.topic, vector, writers: frame.writers })
    : { kind: 'sync-reply', topic: frame.topic, events: frame.events, vector, more: frame.more })
}

/** Decode and validate a sync request. */
export function decodeSyncRequest (bytes: Uint8Array): SyncRequest {
  const value = decodeCbor(bytes, { bytesMax: SYNC_FRAME_BYTES_MAX, what: 'events sync request' }) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || value.kind !== 'sync') throw new DecodeError('Cannot decode events sync request: not a sync frame')
  checkTopic(value.topic)
  const request: SyncRequest = { kind: 'sync', topic: value.topic, vector: checkVector(value.vector, 'events sync request') }
  if (value.writers !== undefined) request.writers = checkWriters(value.writers, 'events sync request')
  return request
}

/** A writer list (SPEC E15): at most TOPIC_WRITERS_MAX authors. */
export function checkWriters (value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new DecodeError(`Cannot decode ${what}: writers is not a list`)
  if (value.length > TOPIC_WRITERS_MAX) throw new LimitExceededError(`Cannot decode ${what}: ${value.length} writers exceeds TOPIC_WRITERS_MAX (${TOPIC_WRITERS_MAX})`)
  for (const author of value) checkAuthor(author)
  return value as string[]
}

/** Decode and validate a sync reply (events inside are decoded and verified one by one later). */
export function decodeSyncReply (bytes: Uint8Array): SyncReply {
  const value = decodeCbor(bytes, { bytesMax: SYNC_FRAME_BYTES_MAX, what: 'events sync reply' }) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || value.kind !== 'sync-reply') throw new DecodeError('Cannot decode events sync reply: not a sync-reply frame')
  checkTopic(value.topic)
  if (!Array.isArray(value.events) || value.events.some(e => !(e instanceof Uint8Array))) throw new DecodeError('Cannot decode events sync reply: events must be a list of bytes')
  if (value.events.length > SYNC_BATCH_EVENTS_MAX) throw new LimitExceededError(`Cannot decode events sync reply: ${value.events.length} events exceeds SYNC_BATCH_EVENTS_MAX (${SYNC_BATCH_EVENTS_MAX})`)
  if (typeof value.more !== 'boolean') throw new DecodeError('Cannot decode events sync reply: more must be a boolean')
  return { kind: 'sync-reply', topic: value.topic, events: value.events as Uint8Array[], vector: checkVector(value.vector, 'events sync reply'), more: value.more }
}

/** Canonical total-order key (SPEC events E3): (hlc, author, seq), sortable as text. */
export function orderKeyOf (e: { hlc: Hlc, author: string, seq: number }): string {
  return `${hlcToString(e.hlc)}\u0000${e.author}\u0000${seqKey(e.seq)}`
}

/** A seq as a fixed-width sortable string. */
export function seqKey (seq: number): string {
  return String(seq).padStart(16, '0')
}

/** One stable line describing an event, for logs and traces. */
export function describeEvent (e: { id: string, topic: string, type: string, author: string, seq: number }): string {
  return `event ${e.id.slice(0, 12)} ${e.topic} ${e.type} by ${e.author.slice(-8)}#${e.seq}`
}
