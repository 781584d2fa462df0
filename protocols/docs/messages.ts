// Wire frames of the docs protocol and their bounded codec (SPEC docs, "Messages").
// Frames reuse the y-protocols layouts (sync step 1/2, update, awareness) inside a
// small lib0 envelope that names the channel and, on streams, the document.

import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import { DecodeError, LimitExceededError, describeError } from '../kit/errors.ts'
import { PEER_ID_CHARS_MAX, SIGNATURE_BYTES_MAX } from '../kit/limits.ts'
import { domainSigningBytes } from '../kit/signing.ts'

/** Protocol id of the direct sync stream (SPEC docs, "Protocol ids"). */
export const DOCS_SYNC_PROTOCOL = '/agentmesh/docs-sync/1.0.0'
/** GossipSub topic prefix; one topic per document. */
export const DOCS_TOPIC_PREFIX = 'agentmesh/doc/'
/**
 * Largest gossip frame (64 KiB). GossipSub forwards whole messages through every mesh
 * hop, so big ones cost D× their size; larger local updates fall back to a sync stream.
 */
export const DOCS_GOSSIP_FRAME_BYTES_MAX = 64 * 1024
/**
 * Largest sync-stream frame (6 MiB). A step 2 to a late joiner carries the whole document,
 * so this also bounds the size of a document that can be synced (SPEC docs L1). 6 MiB is ~30×
 * the ~0.2 MB of a full paper with its whole editing history (automerge-paper trace), and
 * keeps what one connection can make a node buffer (DOCS_SYNC_STREAMS_MAX unfinished frames
 * with their read slack) near 220 MiB; at 32 MiB it was over 1 GiB.
 */
export const DOCS_SYNC_FRAME_BYTES_MAX = 6 * 1024 * 1024
/**
 * Largest Yjs update one sync frame carries (6 MiB less 1 KiB): the frame's document name (at
 * most DOCS_NAME_CHARS_MAX characters, 4 bytes each in UTF-8) and varints fit in the rest.
 */
export const DOCS_SYNC_UPDATE_BYTES_MAX = DOCS_SYNC_FRAME_BYTES_MAX - 1024
/**
 * Step 2 parts one exchange may carry (SPEC docs S8), 64: a document of up to 64 frames
 * (~384 MiB) syncs to a late joiner, while a peer can make a node apply at most that many
 * frames per exchange.
 */
export const DOCS_SYNC_PARTS_MAX = 64
/** Document names: identifiers that become topic names and database keys. */
export const DOCS_NAME_CHARS_MAX = 128
const NAME_PATTERN = /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/

/** Envelope channel of y-protocols sync messages (the value of y-websocket's messageSync). */
export const CHANNEL_SYNC = 0
/** Envelope channel of awareness updates (y-websocket's messageAwareness). */
export const CHANNEL_AWARENESS = 1
/** Stream only: the responder does not have the document open. */
export const CHANNEL_NOT_OPEN = 2
/** An update signed by its author, for documents opened with a writer list (SPEC docs W1). */
export const CHANNEL_SIGNED = 3

/** An update with its author's signature over the document name and the update (SPEC docs W1). */
export interface SignedUpdate { author: string, update: Uint8Array, signature: Uint8Array }

/** The bytes a writer signs for `update` to document `doc`. */
export function signedUpdateBytes (doc: string, update: Uint8Array): Uint8Array {
  return domainSigningBytes('agentmesh/docs/update/v1', [doc, update])
}

/** A frame received on a document's GossipSub topic. */
export type GossipFrame =
  | { kind: 'update', update: Uint8Array }
  | { kind: 'awareness', update: Uint8Array }
  | { kind: 'signed', signed: SignedUpdate }

/** The body of a frame on a sync stream. */
export type SyncBody =
  | { kind: 'step1', stateVector: Uint8Array }
  | { kind: 'step2', update: Uint8Array }
  /** Part of a step 2 too large for one frame, sent before the step 2 that ends it (SPEC docs S8). */
  | { kind: 'update', update: Uint8Array }
  /** A writer's signed update, sent before the (empty) step 2 of a restricted document (SPEC docs W3). */
  | { kind: 'signed', signed: SignedUpdate }
  | { kind: 'awareness', update: Uint8Array }
  | { kind: 'not-open' }

/** A frame on a sync stream: the document it is about, then the body. */
export interface SyncFrame { doc: string, body: SyncBody }

/** The GossipSub topic of a document. */
export function docTopic (name: string): string {
  return DOCS_TOPIC_PREFIX + name
}

/** Throw unless `name` is a valid document name (SPEC docs, "Names"). */
export function checkDocName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw new DecodeError('Invalid document name: must be a non-empty string')
  if (name.length > DOCS_NAME_CHARS_MAX) throw new DecodeError(`Invalid document name: ${name.length} characters exceeds DOCS_NAME_CHARS_MAX (${DOCS_NAME_CHARS_MAX})`)
  if (!NAME_PATTERN.test(name)) throw new DecodeError(`Invalid document name "${name}": use letters, digits, . _ ~ - and / between segments`)
}

/** Encode a live update for the topic (y-protocols `writeUpdate`). */
export function encodeGossipUpdate (update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, CHANNEL_SYNC)
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

/** Encode a signed update for the topic of a restricted document. */
export function encodeGossipSigned (signed: SignedUpdate): Uint8Array {
  const encoder = encoding.createEncoder()
  writeSigned(encoder, signed)
  return encoding.toUint8Array(encoder)
}

function writeSigned (encoder: encoding.Encoder, signed: SignedUpdate): void {
  encoding.writeVarUint(encoder, CHANNEL_SIGNED)
  encoding.writeVarString(encoder, signed.author)
  encoding.writeVarUint8Array(encoder, signed.update)
  encoding.writeVarUint8Array(encoder, signed.signature)
}

function readSigned (decoder: decoding.Decoder): SignedUpdate {
  const author = decoding.readVarString(decoder)
  if (author.length === 0 || author.length > PEER_ID_CHARS_MAX) throw new DecodeError(`signed update: author of ${author.length} characters (1 to PEER_ID_CHARS_MAX ${PEER_ID_CHARS_MAX})`)
  const update = decoding.readVarUint8Array(decoder)
  const signature = decoding.readVarUint8Array(decoder)
  if (signature.byteLength === 0 || signature.byteLength > SIGNATURE_BYTES_MAX) throw new DecodeError(`signed update: signature of ${signature.byteLength} bytes (1 to SIGNATURE_BYTES_MAX ${SIGNATURE_BYTES_MAX})`)
  return { author, update, signature }
}

/** Encode an awareness update for the topic. */
export function encodeGossipAwareness (update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, CHANNEL_AWARENESS)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

/** Decode a topic frame, refusing more than `bytesMax` bytes, unknown channels and trailing bytes. */
export function decodeGossipFrame (bytes: Uint8Array, bytesMax = DOCS_GOSSIP_FRAME_BYTES_MAX): GossipFrame {
  if (bytes.byteLength > bytesMax) throw new LimitExceededError(`Cannot decode docs gossip frame: ${bytes.byteLength} bytes exceeds DOCS_GOSSIP_FRAME_BYTES_MAX (${bytesMax})`)
  return decodeWith('docs gossip frame', bytes, (decoder) => {
    const channel = decoding.readVarUint(decoder)
    if (channel === CHANNEL_SYNC) {
      const type = decoding.readVarUint(decoder)
      if (type !== syncProtocol.messageYjsUpdate) throw new DecodeError(`sync message type ${type} is not allowed on a topic (only updates)`)
      return { kind: 'update', update: decoding.readVarUint8Array(decoder) }
    }
    if (channel === CHANNEL_AWARENESS) return { kind: 'awareness', update: decoding.readVarUint8Array(decoder) }
    if (channel === CHANNEL_SIGNED) return { kind: 'signed', signed: readSigned(decoder) }
    throw new DecodeError(`unknown channel ${channel}`)
  })
}

/** Encode a sync-stream frame; step 1 and step 2 use the y-protocols layouts. */
export function encodeSyncFrame (frame: SyncFrame): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, frame.doc)
  const body = frame.body
  switch (body.kind) {
    case 'step1':
      encoding.writeVarUint(encoder, CHANNEL_SYNC)
      encoding.writeVarUint(encoder, syncProtocol.messageYjsSyncStep1)
      encoding.writeVarUint8Array(encoder, body.stateVector)
      break
    case 'step2':
      encoding.writeVarUint(encoder, CHANNEL_SYNC)
      encoding.writeVarUint(encoder, syncProtocol.messageYjsSyncStep2)
      encoding.writeVarUint8Array(encoder, body.update)
      break
    case 'update':
      encoding.writeVarUint(encoder, CHANNEL_SYNC)
      encoding.writeVarUint(encoder, syncProtocol.messageYjsUpdate)
      encoding.writeVarUint8Array(encoder, body.update)
      break
    case 'awareness':
      encoding.writeVarUint(encoder, CHANNEL_AWARENESS)
      encoding.writeVarUint8Array(encoder, body.update)
      break
    case 'not-open':
      encoding.writeVarUint(encoder, CHANNEL_NOT_OPEN)
      break
    case 'signed':
      writeSigned(encoder, body.signed)
      break
  }
  return encoding.toUint8Array(encoder)
}

/** Decode a sync-stream frame, refusing more than `bytesMax` bytes, bad names and trailing bytes. */
export function decodeSyncFrame (bytes: Uint8Array, bytesMax = DOCS_SYNC_FRAME_BYTES_MAX): SyncFrame {
  if (bytes.byteLength > bytesMax) throw new LimitExceededError(`Cannot decode docs sync frame: ${bytes.byteLength} bytes exceeds DOCS_SYNC_FRAME_BYTES_MAX (${bytesMax})`)
  return decodeWith('docs sync frame', bytes, (decoder) => {
    const doc = decoding.readVarString(decoder)
    checkDocName(doc)
    const channel = decoding.readVarUint(decoder)
    if (channel === CHANNEL_SYNC) {
      const type = decoding.readVarUint(decoder)
      if (type === syncProtocol.messageYjsSyncStep1) return { doc, body: { kind: 'step1', stateVector: decoding.readVarUint8Array(decoder) } }
      if (type === syncProtocol.messageYjsSyncStep2) return { doc, body: { kind: 'step2', update: decoding.readVarUint8Array(decoder) } }
      if (type === syncProtocol.messageYjsUpdate) return { doc, body: { kind: 'update', update: decoding.readVarUint8Array(decoder) } }
      throw new DecodeError(`sync message type ${type} is not allowed on a sync stream (only step 1, step 2 and update)`)
    }
    if (channel === CHANNEL_AWARENESS) return { doc, body: { kind: 'awareness', update: decoding.readVarUint8Array(decoder) } }
    if (channel === CHANNEL_NOT_OPEN) return { doc, body: { kind: 'not-open' } }
    if (channel === CHANNEL_SIGNED) return { doc, body: { kind: 'signed', signed: readSigned(decoder) } }
    throw new DecodeError(`unknown channel ${channel}`)
  })
}

/** One stable line describing a sync frame, for logs and traces. */
export function describeSyncFrame (frame: SyncFrame): string {
  const body = frame.body
  switch (body.kind) {
    case 'step1': return `${frame.doc} step1 sv=${body.stateVector.byteLength}B`
    case 'step2': return `${frame.doc} step2 update=${body.update.byteLength}B`
    case 'update': return `${frame.doc} step2 part update=${body.update.byteLength}B`
    case 'awareness': return `${frame.doc} awareness ${body.update.byteLength}B`
    case 'not-open': return `${frame.doc} not-open`
    case 'signed': return `${frame.doc} signed by ${body.signed.author} update=${body.signed.update.byteLength}B`
  }
}

function decodeWith<T> (what: string, bytes: Uint8Array, read: (decoder: decoding.Decoder) => T): T {
  let value: T
  const decoder = decoding.createDecoder(bytes)
  try {
    value = read(decoder)
  } catch (err) {
    if (err instanceof DecodeError) throw new DecodeError(`Cannot decode ${what}: ${err.message}`, { cause: err })
    throw new DecodeError(`Cannot decode ${what}: truncated or malformed (${describeError(err)})`, { cause: err })
  }
  // lib0 reads through views of the underlying buffer, so a lying length could run past
  // the frame into neighbouring bytes without throwing: check the end explicitly.
  if (decoder.pos > bytes.byteLength) throw new DecodeError(`Cannot decode ${what}: truncated (a length field runs ${decoder.pos - bytes.byteLength} bytes past the frame)`)
  if (decoding.hasContent(decoder)) throw new DecodeError(`Cannot decode ${what}: ${bytes.byteLength - decoder.pos} trailing bytes`)
  return value
}
