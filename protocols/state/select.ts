// The Kad-DHT selector for `/am/…` records: last-write-wins by HLC, then author (SPEC
// state, "Conflicts"). Pure and total: every node picks the same record from the same set.

import { hlcCompare } from '../kit/hlc.ts'
import { decodeRecord } from './messages.ts'
import type { SignedRecord } from './messages.ts'

/**
 * Total order on records of one key: positive when `a` wins. Highest HLC, then the
 * greater author id (text order), then the higher version, then the later expiry (a
 * republished copy beats its older copy), then the greater signature bytes.
 */
export function compareRecords (a: SignedRecord, b: SignedRecord): number {
  const byHlc = hlcCompare(a.hlc, b.hlc)
  if (byHlc !== 0) return byHlc
  if (a.author !== b.author) return a.author > b.author ? 1 : -1
  if (a.version !== b.version) return a.version - b.version
  if (a.expiresAtMs !== b.expiresAtMs) return a.expiresAtMs - b.expiresAtMs
  return compareBytes(a.signature, b.signature)
}

/** Index of the winning record; -1 for an empty list. */
export function selectBest (records: readonly SignedRecord[]): number {
  let best = -1
  for (let i = 0; i < records.length; i++) {
    if (best === -1 || compareRecords(records[i]!, records[best]!) > 0) best = i
  }
  return best
}

/**
 * The kad-dht selector: index of the best encoded record. Records that do not decode
 * lose to any that do (kad-dht validated them already; this only keeps the function total).
 */
export function selectRecordBytes (_dhtKey: Uint8Array, values: Uint8Array[]): number {
  const decoded: Array<SignedRecord | undefined> = values.map((bytes) => {
    try {
      return decodeRecord(bytes)
    } catch {
      // A malformed value cannot win; the validator reports it where it arrives.
      return undefined
    }
  })
  let best = 0
  for (let i = 1; i < decoded.length; i++) {
    const candidate = decoded[i]
    const current = decoded[best]
    if (candidate !== undefined && (current === undefined || compareRecords(candidate, current) > 0)) best = i
  }
  return best
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.byteLength - b.byteLength
}
