// What `node.state` takes and returns: the option and result shapes of put, get and findAgents.

import type { Hlc } from '../kit/hlc.ts'
import type { Payload } from '../kit/payload.ts'

/** A value as `get` returns it. */
export interface StateEntry {
  value: Payload
  author: string
  version: number
  hlc: Hlc
  expiresAtMs: number
}

/** What `put` reports once the record is stored. */
export interface PutReceipt {
  key: string
  version: number
  hlc: Hlc
  expiresAtMs: number
  /** Remote peers that acknowledged storing the record. */
  replicas: number
  /**
   * Set when every replica refused the write because it already holds a later one (by
   * LWW order): the write is ordered before that one and is not republished (SPEC state, "Conflicts").
   */
  supersededBy?: { author: string, hlc: Hlc }
}

/** Options of `put`. */
export interface PutOptions { ttlMs?: number, timeoutMs?: number, signal?: AbortSignal }
/**
 * Options of `get`. `local: true` reads only this node's store (no network). `quorum`: stop
 * the DHT query once this many valid answers are in, this node's own copy counting as one
 * (default GET_QUORUM; `Infinity` walks the whole query, as kad-dht's own get does).
 */
export interface GetOptions { timeoutMs?: number, signal?: AbortSignal, local?: boolean, quorum?: number }
/** Options of `findAgents`. */
export interface FindAgentsOptions { capability: string, timeoutMs?: number, signal?: AbortSignal }
