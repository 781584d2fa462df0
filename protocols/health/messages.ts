// Wire messages of the health protocol (Announce, Goodbye) and their bounded codec
// (SPEC health, "Messages" and "Limits"). Pure: no I/O.

import { multiaddr } from '@multiformats/multiaddr'
import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { PEER_ID_CHARS_MAX, SIGNATURE_BYTES_MAX } from '../kit/limits.ts'
import { domainSigningBytes } from '../kit/signing.ts'
import type { SigningDomain } from '../kit/signing.ts'

/** GossipSub topic every node announces on; the `/1` is the wire version (SPEC health H0). */
export const HEALTH_TOPIC = 'agentmesh/health/1'
/** Stream protocol for the one-frame announce sent straight to a fresh connection. */
export const HEALTH_PROTOCOL = '/agentmesh/health/1.0.0'

/** A whole encoded message: fits the worst case of every field below with room to spare. */
export const ANNOUNCE_BYTES_MAX = 16 * 1024
/** Peer id text (protocols/kit/limits.ts). */
export { PEER_ID_CHARS_MAX }
/** A human label, shown in listings; not a document. */
export const NAME_CHARS_MAX = 128
/** Capabilities per node: an agent advertises a handful of skills, not a catalogue. */
export const CAPABILITIES_MAX = 32
/** One capability is an identifier such as `summarise` or `translate:fr`. */
export const CAPABILITY_CHARS_MAX = 64
/** A semver string such as `0.1.0-beta.3+build.7`. */
export const VERSION_CHARS_MAX = 64
/** Listen addresses per node: interfaces × transports of one host stay well under this. */
export const ADDRESSES_MAX = 16
/** One multiaddr as text: DNS names cap at 253 chars, plus transport parts. */
export const ADDRESS_CHARS_MAX = 256

/** Longest announce interval a sender may declare: 10 minutes; beyond that it is not a heartbeat. */
export const ANNOUNCE_INTERVAL_MS_MAX = 10 * 60_000

/** "I am here": who I am, what I can do, where to dial me. Sent every interval. */
export interface Announce {
  kind: 'announce'
  peerId: string
  /** The sender's current announce interval; receivers scale their thresholds to it (SPEC health H9). */
  intervalMs: number
  /** Bumped (and stored) on every start, so a restarted node outranks its old sequence numbers. */
  incarnation: number
  /** Per-sender counter within one incarnation; higher means newer. */
  seq: number
  name: string
  capabilities: string[]
  /** The agentmesh package version the sender runs. */
  version: string
  /** Multiaddrs without `/p2p/<id>`; receivers dial these to connect directly. */
  addresses: string[]
}

/** "I am leaving on purpose": receivers mark the sender dead at once (SPEC health H5). */
export interface Goodbye {
  kind: 'goodbye'
  peerId: string
  incarnation: number
  seq: number
}

/** Every health message. */
export type HealthMessage = Announce | Goodbye

const ANNOUNCE_KEYS = ['kind', 'peerId', 'intervalMs', 'incarnation', 'seq', 'name', 'capabilities', 'version', 'addresses']
const GOODBYE_KEYS = ['kind', 'peerId', 'incarnation', 'seq']

/** Encode a message; throws LimitExceededError if it breaks a limit (our own options were too big). */
export function encodeHealthMessage (message: HealthMessage): Uint8Array {
  checkHealthMessage(message, LimitExceededError)
  const bytes = encodeCbor(message)
  if (bytes.byteLength > ANNOUNCE_BYTES_MAX) {
    throw new LimitExceededError(`Cannot encode health ${message.kind}: ${bytes.byteLength} bytes exceeds ANNOUNCE_BYTES_MAX (${ANNOUNCE_BYTES_MAX})`)
  }
  return bytes
}

/** Decode and validate one message; throws DecodeError or LimitExceededError on bad input. */
export function decodeHealthMessage (bytes: Uint8Array): HealthMessage {
  const value = decodeCbor(bytes, { bytesMax: ANNOUNCE_BYTES_MAX, what: 'health message' })
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new DecodeError('Cannot decode health message: not a map')
  }
  const record = value as Record<string, unknown>
  const kind = record.kind
  if (kind !== 'announce' && kind !== 'goodbye') throw new DecodeError(`Cannot decode health message: unknown kind ${describeValue(kind)}`)
  const allowed = kind === 'announce' ? ANNOUNCE_KEYS : GOODBYE_KEYS
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) throw new DecodeError(`Cannot decode health ${kind}: unexpected field "${key}"`)
  }
  for (const key of allowed) {
    if (!(key in record)) throw new DecodeError(`Cannot decode health ${kind}: missing field "${key}"`)
  }
  const message = record as unknown as HealthMessage
  checkHealthMessage(message, DecodeError)
  // Rebuild with known fields only, so nothing else from the wire travels further.
  if (message.kind === 'goodbye') return { kind: 'goodbye', peerId: message.peerId, incarnation: message.incarnation, seq: message.seq }
  return {
    kind: 'announce',
    peerId: message.peerId,
    intervalMs: message.intervalMs,
    incarnation: message.incarnation,
    seq: message.seq,
    name: message.name,
    capabilities: [...message.capabilities],
    version: message.version,
    addresses: [...message.addresses]
  }
}

type ErrorClass = new (message: string) => Error

/** A peer-supplied value in an error message; never throws (CBOR can yield BigInt, which JSON cannot print). */
function describeValue (value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : typeof value === 'bigint' ? `${value}n` : String(value)
}

/** Throw `Failure` unless every field of `message` has the right type and is within its limit. */
export function checkHealthMessage (message: HealthMessage, Failure: ErrorClass = DecodeError): void {
  const what = `health ${message.kind}`
  checkText(message.peerId, { what: `${what} peerId`, charsMax: PEER_ID_CHARS_MAX, limit: 'PEER_ID_CHARS_MAX', empty: false, Failure })
  checkCounter(message.incarnation, { what: `${what} incarnation`, Failure })
  checkCounter(message.seq, { what: `${what} seq`, Failure })
  if (message.kind === 'goodbye') return
  checkCounter(message.intervalMs, { what: `${what} intervalMs`, Failure })
  if (message.intervalMs < 1 || message.intervalMs > ANNOUNCE_INTERVAL_MS_MAX) {
    throw new Failure(`Invalid ${what} intervalMs: ${message.intervalMs} is outside 1..ANNOUNCE_INTERVAL_MS_MAX (${ANNOUNCE_INTERVAL_MS_MAX})`)
  }
  checkText(message.name, { what: `${what} name`, charsMax: NAME_CHARS_MAX, limit: 'NAME_CHARS_MAX', empty: true, Failure })
  checkText(message.version, { what: `${what} version`, charsMax: VERSION_CHARS_MAX, limit: 'VERSION_CHARS_MAX', empty: true, Failure })
  checkList(message.capabilities, { what: `${what} capabilities`, itemsMax: CAPABILITIES_MAX, limit: 'CAPABILITIES_MAX', Failure })
  for (const capability of message.capabilities) {
    checkText(capability, { what: `${what} capability`, charsMax: CAPABILITY_CHARS_MAX, limit: 'CAPABILITY_CHARS_MAX', empty: false, Failure })
  }
  checkList(message.addresses, { what: `${what} addresses`, itemsMax: ADDRESSES_MAX, limit: 'ADDRESSES_MAX', Failure })
  for (const address of message.addresses) {
    checkText(address, { what: `${what} address`, charsMax: ADDRESS_CHARS_MAX, limit: 'ADDRESS_CHARS_MAX', empty: false, Failure })
    checkAddress(address, { what, Failure })
  }
}

function checkText (value: unknown, options: { what: string, charsMax: number, limit: string, empty: boolean, Failure: ErrorClass }): void {
  if (typeof value !== 'string') throw new options.Failure(`Invalid ${options.what}: expected a string, got ${typeof value}`)
  if (!options.empty && value.length === 0) throw new options.Failure(`Invalid ${options.what}: must not be empty`)
  if (value.length > options.charsMax) throw new options.Failure(`Invalid ${options.what}: ${value.length} characters exceeds ${options.limit} (${options.charsMax})`)
}

function checkList (value: unknown, options: { what: string, itemsMax: number, limit: string, Failure: ErrorClass }): void {
  if (!Array.isArray(value)) throw new options.Failure(`Invalid ${options.what}: expected a list, got ${typeof value}`)
  if (value.length > options.itemsMax) throw new options.Failure(`Invalid ${options.what}: ${value.length} items exceeds ${options.limit} (${options.itemsMax})`)
}

function checkCounter (value: unknown, { what, Failure }: { what: string, Failure: ErrorClass }): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Failure(`Invalid ${what}: expected a non-negative safe integer, got ${describeValue(value)}`)
  }
}

function checkAddress (address: string, { what, Failure }: { what: string, Failure: ErrorClass }): void {
  let parsed
  try {
    parsed = multiaddr(address)
  } catch (err) {
    throw new Failure(`Invalid ${what} address "${address}": ${(err as Error).message}`)
  }
  // SPEC health H7: addresses are the sender's own; a /p2p/ part would let it point at someone else.
  if (parsed.getComponents().some(c => c.name === 'p2p' || c.name === 'p2p-circuit')) {
    throw new Failure(`Invalid ${what} address "${address}": must not name a peer (/p2p/ or /p2p-circuit)`)
  }
}

/** One stable line describing a message, for logs and traces. */
export function describeHealthMessage (message: HealthMessage): string {
  const head = `${message.kind} ${message.peerId} inc=${message.incarnation} seq=${message.seq}`
  if (message.kind === 'goodbye') return head
  return `${head} every=${message.intervalMs}ms name=${JSON.stringify(message.name)} version=${message.version} caps=[${message.capabilities.join(',')}] addrs=${message.addresses.length}`
}

/**
 * Domain tag of the bytes a gossiped health message is signed over, so a health signature can
 * never be replayed as another protocol's (SPEC health H7).
 */
export const HEALTH_SIGNATURE_DOMAIN: SigningDomain = 'agentmesh/health/v1'
/** Largest signature (protocols/kit/limits.ts). */
export { SIGNATURE_BYTES_MAX }

/** A gossiped health message: the encoded body and its author's signature (GossipSub signs nothing). */
export interface SignedHealthFrame { body: Uint8Array, signature: Uint8Array }

/** The bytes an author signs for `body`. */
export function healthSigningBytes (body: Uint8Array): Uint8Array {
  return domainSigningBytes(HEALTH_SIGNATURE_DOMAIN, [body])
}

/** Encode a signed gossip frame. */
export function encodeSignedHealthFrame (frame: SignedHealthFrame): Uint8Array {
  return encodeCbor({ body: frame.body, signature: frame.signature })
}

/** Decode a signed gossip frame's envelope (the body is decoded separately). */
export function decodeSignedHealthFrame (bytes: Uint8Array): SignedHealthFrame {
  const value = decodeCbor(bytes, { bytesMax: ANNOUNCE_BYTES_MAX + SIGNATURE_BYTES_MAX + 64, what: 'signed health frame' }) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || !(value.body instanceof Uint8Array) || !(value.signature instanceof Uint8Array)) {
    throw new DecodeError('Cannot decode signed health frame: expected {body: bytes, signature: bytes}')
  }
  if (Object.keys(value).length !== 2) throw new DecodeError('Cannot decode signed health frame: unexpected fields')
  if (value.signature.byteLength > SIGNATURE_BYTES_MAX) throw new DecodeError(`Cannot decode signed health frame: signature of ${value.signature.byteLength} bytes exceeds SIGNATURE_BYTES_MAX (${SIGNATURE_BYTES_MAX})`)
  return { body: value.body, signature: value.signature }
}
