// Signed state records: the bytes stored in the Kad-DHT under `/am/<key>` and their
// bounded codec (SPEC state, "Record"). Pure: signing and verifying take the key objects.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { PEER_ID_CHARS_MAX, SIGNATURE_BYTES_MAX } from '../kit/limits.ts'
import { hlcToString, hlcValidate } from '../kit/hlc.ts'
import type { Hlc } from '../kit/hlc.ts'
import type { Payload } from '../kit/payload.ts'

/** DHT namespace of state records: DHT keys are `/am/<key>` (SPEC state, "Keys"). */
export const STATE_NAMESPACE = 'am'
/** Record format version inside every record. */
export const RECORD_FORMAT_VERSION = 1
/** Longest record key in UTF-8 bytes: keys are names, not data. */
export const KEY_BYTES_MAX = 256
/** Largest encoded value: 64 KiB keeps one record in one DHT message with room to spare; bigger data belongs in docs. */
export const VALUE_BYTES_MAX = 64 * 1024
/** Largest encoded record: the value plus fixed fields (key, author, HLC, signature) with margin. */
export const RECORD_BYTES_MAX = VALUE_BYTES_MAX + 4 * 1024
/** An author is a peer id (protocols/kit/limits.ts). */
export const AUTHOR_CHARS_MAX = PEER_ID_CHARS_MAX
/** Largest signature (protocols/kit/limits.ts). */
export { SIGNATURE_BYTES_MAX }
/** Shortest record lifetime: below a second the republisher cannot keep up. */
export const TTL_MS_MIN = 1_000
/** Longest record lifetime: kad-dht servers drop any record 48 h after they received it. */
export const TTL_MS_MAX = 48 * 60 * 60 * 1000
/** Largest per-key version counter (2^53 - 1 is where integers stop being exact). */
export const VERSION_MAX = Number.MAX_SAFE_INTEGER

/** Domain separation: a state-record signature can never be replayed as any other signed message. */
const SIGNING_PREFIX = new TextEncoder().encode('agentmesh/state/record/v1\n')
/** Allowed key segment characters: URL-safe, no spaces, no `/` (the separator). */
const KEY_SEGMENT = /^[A-Za-z0-9._~:@+=-]+$/

/** The content of a record before it is signed. */
export interface UnsignedRecord {
  /** The application key, e.g. `agents/<peerId>/card` or `jobs/42`. */
  key: string
  /** The deterministic CBOR encoding of the value (a JSON-like value or bytes). */
  value: Uint8Array
  /** Peer id of the writer; its public key verifies the signature. */
  author: string
  /** Per-key counter: one more than the highest version the author had seen. */
  version: number
  /** Hybrid logical clock of the write; decides last-write-wins (SPEC state, "Conflicts"). */
  hlc: Hlc
  /** Wall-clock ms after which every node treats the record as absent. */
  expiresAtMs: number
}

/** A record with its author's signature over `signingBytes(record)`. */
export interface SignedRecord extends UnsignedRecord {
  signature: Uint8Array
}

/** What a signer needs: a libp2p private key has this shape. */
export interface RecordSigner { sign (data: Uint8Array): Uint8Array | Promise<Uint8Array> }
/** What a verifier needs: a libp2p public key has this shape. */
export interface RecordVerifier { verify (data: Uint8Array, signature: Uint8Array): boolean | Promise<boolean> }

/** Throw unless `key` is a valid record key: 1..KEY_BYTES_MAX bytes of `/`-separated non-empty segments. */
export function checkKey (key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new DecodeError('Invalid state key: must be a non-empty string')
  const bytes = new TextEncoder().encode(key).byteLength
  if (bytes > KEY_BYTES_MAX) throw new LimitExceededError(`Invalid state key: ${bytes} bytes exceeds KEY_BYTES_MAX (${KEY_BYTES_MAX})`)
  for (const segment of key.split('/')) {
    if (!KEY_SEGMENT.test(segment)) throw new DecodeError(`Invalid state key "${key}": segments must be non-empty and use only A-Z a-z 0-9 . _ ~ : @ + = -`)
  }
}

/** The DHT key of a record key: `/am/<key>` as UTF-8. */
export function dhtKeyOf (key: string): Uint8Array {
  return new TextEncoder().encode(`/${STATE_NAMESPACE}/${key}`)
}

/** The record key of a DHT key, or throw if it is outside our namespace. */
export function recordKeyOf (dhtKey: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(dhtKey)
  const prefix = `/${STATE_NAMESPACE}/`
  if (!text.startsWith(prefix)) throw new DecodeError(`Invalid DHT key "${text.slice(0, 80)}": not in the /${STATE_NAMESPACE}/ namespace`)
  const key = text.slice(prefix.length)
  checkKey(key)
  return key
}

/** Encode an application value (JSON-like or bytes) for a record, enforcing VALUE_BYTES_MAX. */
export function encodeValue (value: Payload): Uint8Array {
  if (value === undefined) throw new DecodeError('Invalid state value: undefined (use null)')
  let bytes: Uint8Array
  try {
    bytes = encodeCbor(value)
  } catch (err) {
    throw new DecodeError(`Invalid state value: cannot encode as CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (bytes.byteLength > VALUE_BYTES_MAX) throw new LimitExceededError(`Invalid state value: ${bytes.byteLength} bytes exceeds VALUE_BYTES_MAX (${VALUE_BYTES_MAX})`)
  return bytes
}

/** Decode a record's value bytes back to the application value. */
export function decodeValue (bytes: Uint8Array): Payload {
  return decodeCbor(bytes, { bytesMax: VALUE_BYTES_MAX, what: 'state value' }) as Payload
}

/** The exact bytes an author signs: a domain prefix, then the CBOR of the unsigned fields. */
export function signingBytes (record: UnsignedRecord): Uint8Array {
  const body = encodeCbor({
    v: RECORD_FORMAT_VERSION,
    key: record.key,
    value: record.value,
    author: record.author,
    version: record.version,
    hlc: { wallMs: record.hlc.wallMs, logical: record.hlc.logical },
    expiresAtMs: record.expiresAtMs
  })
  const out = new Uint8Array(SIGNING_PREFIX.byteLength + body.byteLength)
  out.set(SIGNING_PREFIX, 0)
  out.set(body, SIGNING_PREFIX.byteLength)
  return out
}

/** Sign a record with the author's private key. */
export async function signRecord (record: UnsignedRecord, signer: RecordSigner): Promise<SignedRecord> {
  const signature = await signer.sign(signingBytes(record))
  return { ...record, signature }
}

/** Check a signature with the author's public key. */
export async function verifyRecordSignature (record: SignedRecord, verifier: RecordVerifier): Promise<boolean> {
  return await verifier.verify(signingBytes(record), record.signature)
}

/** Encode a signed record for the DHT. */
export function encodeRecord (record: SignedRecord): Uint8Array {
  const bytes = encodeCbor({
    v: RECORD_FORMAT_VERSION,
    key: record.key,
    value: record.value,
    author: record.author,
    version: record.version,
    hlc: { wallMs: record.hlc.wallMs, logical: record.hlc.logical },
    expiresAtMs: record.expiresAtMs,
    signature: record.signature
  })
  if (bytes.byteLength > RECORD_BYTES_MAX) throw new LimitExceededError(`Cannot encode state record "${record.key}": ${bytes.byteLength} bytes exceeds RECORD_BYTES_MAX (${RECORD_BYTES_MAX})`)
  return bytes
}

const RECORD_FIELDS = ['v', 'key', 'value', 'author', 'version', 'hlc', 'expiresAtMs', 'signature']

/** Decode and shape-check a record (not its signature, owner or expiry: see validate.ts). */
export function decodeRecord (bytes: Uint8Array): SignedRecord {
  const what = 'state record'
  const raw = decodeMap(bytes, RECORD_BYTES_MAX, what, RECORD_FORMAT_VERSION, RECORD_FIELDS)
  checkKey(raw.key)
  if (!(raw.value instanceof Uint8Array)) throw new DecodeError(`Cannot decode ${what}: value must be bytes`)
  if (raw.value.byteLength > VALUE_BYTES_MAX) throw new LimitExceededError(`Cannot decode ${what}: value of ${raw.value.byteLength} bytes exceeds VALUE_BYTES_MAX (${VALUE_BYTES_MAX})`)
  if (typeof raw.author !== 'string' || raw.author.length === 0 || raw.author.length > AUTHOR_CHARS_MAX) throw new DecodeError(`Cannot decode ${what}: author must be a peer id of 1..${AUTHOR_CHARS_MAX} characters`)
  if (!Number.isSafeInteger(raw.version) || (raw.version as number) < 1) throw new DecodeError(`Cannot decode ${what}: version must be a positive integer`)
  const hlc = hlcValidate(raw.hlc, what)
  if (!Number.isSafeInteger(raw.expiresAtMs) || (raw.expiresAtMs as number) < 0) throw new DecodeError(`Cannot decode ${what}: expiresAtMs must be a non-negative integer`)
  if (!(raw.signature instanceof Uint8Array) || raw.signature.byteLength === 0 || raw.signature.byteLength > SIGNATURE_BYTES_MAX) throw new DecodeError(`Cannot decode ${what}: signature must be 1..${SIGNATURE_BYTES_MAX} bytes`)
  return { key: raw.key, value: raw.value, author: raw.author, version: raw.version as number, hlc, expiresAtMs: raw.expiresAtMs as number, signature: raw.signature }
}

/** One stable line describing a record, for logs and traces. */
export function describeRecord (record: SignedRecord): string {
  return `record ${record.key} v${record.version} hlc=${hlcToString(record.hlc)} author=${record.author} expires=${record.expiresAtMs} value=${record.value.byteLength}B`
}

/** Read protocol frame format version (SPEC state, "One-hop reads"). */
export const READ_FORMAT_VERSION = 1
/** Largest read request: a key plus the map around it. */
export const READ_REQUEST_BYTES_MAX = KEY_BYTES_MAX + 64
/** Largest read response: one record plus the map around it. */
export const READ_RESPONSE_BYTES_MAX = RECORD_BYTES_MAX + 64

/** A read request: "send me your copy of `key`". */
export function encodeReadRequest (key: string): Uint8Array {
  checkKey(key)
  return encodeCbor({ v: READ_FORMAT_VERSION, key })
}

/** Decode a read request; throws DecodeError/LimitExceededError naming what is wrong. */
export function decodeReadRequest (bytes: Uint8Array): string {
  const raw = decodeMap(bytes, READ_REQUEST_BYTES_MAX, 'state read request', READ_FORMAT_VERSION, ['v', 'key'])
  checkKey(raw.key)
  return raw.key
}

/** A read response: the encoded record this node stores, or null when it has none. */
export function encodeReadResponse (record: Uint8Array | null): Uint8Array {
  return encodeCbor({ v: READ_FORMAT_VERSION, record })
}

/** Decode a read response to the record bytes (still to be validated) or null. */
export function decodeReadResponse (bytes: Uint8Array): Uint8Array | null {
  const raw = decodeMap(bytes, READ_RESPONSE_BYTES_MAX, 'state read response', READ_FORMAT_VERSION, ['v', 'record'])
  if (raw.record === null) return null
  if (!(raw.record instanceof Uint8Array)) throw new DecodeError('Cannot decode state read response: record must be bytes or null')
  if (raw.record.byteLength > RECORD_BYTES_MAX) throw new LimitExceededError(`Cannot decode state read response: record of ${raw.record.byteLength} bytes exceeds RECORD_BYTES_MAX (${RECORD_BYTES_MAX})`)
  return raw.record
}

/** Decode a CBOR map of format `version` with no fields beyond `fields`; throws naming `what`. */
function decodeMap (bytes: Uint8Array, bytesMax: number, what: string, version: number, fields: readonly string[]): Record<string, unknown> {
  const raw = decodeCbor(bytes, { bytesMax, what }) as Record<string, unknown>
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) throw new DecodeError(`Cannot decode ${what}: not a map`)
  if (raw.v !== version) throw new DecodeError(`Cannot decode ${what}: unsupported format version ${String(raw.v)}`)
  for (const field of Object.keys(raw)) if (!fields.includes(field)) throw new DecodeError(`Cannot decode ${what}: unknown field "${field}"`)
  return raw
}
