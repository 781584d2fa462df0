// The Kad-DHT validator for `/am/…` records (SPEC state, "Validation"). Pure: the caller
// passes the current time; the author's public key comes from its peer id.

import { peerIdFromString } from '@libp2p/peer-id'
import { HLC_DRIFT_MAX_MS } from '../kit/hlc.ts'
import { describeError } from '../kit/errors.ts'
import { decodeRecord, recordKeyOf, verifyRecordSignature, TTL_MS_MAX } from './messages.ts'
import type { SignedRecord, RecordVerifier } from './messages.ts'
import { RecordRejectedError } from './errors.ts'

/** First key segment of the per-agent namespace; `agents/<peerId>/…` is writable by that peer only. */
export const AGENTS_PREFIX = 'agents'
/** Clock skew tolerated between writer and validator (ms): the HLC drift bound. */
export const CLOCK_SKEW_MAX_MS = HLC_DRIFT_MAX_MS

/** The owner a key requires, or undefined for shared keys (SPEC state, "Ownership"). */
export function requiredOwner (key: string): string | undefined {
  const segments = key.split('/')
  return segments[0] === AGENTS_PREFIX ? (segments[1] ?? '') : undefined
}

/** The public key of a peer id string, or a RecordRejectedError naming the author. */
export function authorVerifier (author: string): RecordVerifier {
  let publicKey
  try {
    publicKey = peerIdFromString(author).publicKey
  } catch (err) {
    throw new RecordRejectedError('bad-author', `Rejected state record: author "${author.slice(0, 80)}" is not a peer id: ${describeError(err)}`, { cause: err })
  }
  if (publicKey === undefined) throw new RecordRejectedError('bad-author', `Rejected state record: author ${author} has no embedded public key (only Ed25519/secp256k1 ids can sign records)`)
  return publicKey
}

/**
 * Decode and check a record found under `dhtKey`: shape and limits, key match, author,
 * ownership, expiry, clock bounds, then the signature (the costly check last). Throws
 * RecordRejectedError (or a DecodeError/LimitExceededError for malformed bytes).
 */
export async function validateRecord (dhtKey: Uint8Array, bytes: Uint8Array, options: { nowMs: number }): Promise<SignedRecord> {
  let record: SignedRecord
  let key: string
  try {
    key = recordKeyOf(dhtKey)
    record = decodeRecord(bytes)
  } catch (err) {
    throw new RecordRejectedError('malformed', `Rejected state record: ${describeError(err)}`, { cause: err })
  }
  if (record.key !== key) throw new RecordRejectedError('key-mismatch', `Rejected state record: it names key "${record.key}" but was stored under "${key}"`)
  const owner = requiredOwner(key)
  if (owner !== undefined && owner !== record.author) {
    throw new RecordRejectedError('not-owner', `Rejected state record "${key}": only ${owner || '(no peer id)'} may write under agents/${owner}/, not ${record.author}`)
  }
  const verifier = authorVerifier(record.author)
  if (record.expiresAtMs <= options.nowMs) throw new RecordRejectedError('expired', `Rejected state record "${key}": expired ${options.nowMs - record.expiresAtMs} ms ago`)
  if (record.expiresAtMs > options.nowMs + TTL_MS_MAX + CLOCK_SKEW_MAX_MS) {
    throw new RecordRejectedError('from-the-future', `Rejected state record "${key}": expires ${record.expiresAtMs - options.nowMs} ms from now, beyond TTL_MS_MAX (${TTL_MS_MAX}) plus clock skew`)
  }
  if (record.hlc.wallMs > options.nowMs + CLOCK_SKEW_MAX_MS) {
    throw new RecordRejectedError('from-the-future', `Rejected state record "${key}": HLC is ${record.hlc.wallMs - options.nowMs} ms ahead of this clock, beyond CLOCK_SKEW_MAX_MS (${CLOCK_SKEW_MAX_MS})`)
  }
  if (!await verifyRecordSignature(record, verifier)) throw new RecordRejectedError('forged', `Rejected state record "${key}": signature does not verify with the public key of author ${record.author}`)
  return record
}
