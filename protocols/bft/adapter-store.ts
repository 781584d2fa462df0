// Durable state of one BFT group in LevelDB (`bft/<group>` sublevel): the signing state, the
// hash-chained log and a bounded evidence ring. Writes that guard safety are fsynced (SPEC bft E1–E3).

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { SYNC } from '../kit/store.ts'
import type { KvStore } from '../kit/store.ts'
import type { ChainHead, PersistedState } from './effects.ts'
import type { Decision, Evidence } from './messages.ts'
import { checkDecision, checkMessage } from './messages.ts'
import { blockHash, genesisHash } from './signing.ts'

/** Evidence entries kept on disk per group; the oldest is dropped first. */
export const EVIDENCE_STORED_MAX = 256
/** Log entries the core gets back after a restart, to serve catch-up (core keeps 64). */
export const RESTORE_DECISIONS_MAX = 64
/** Bytes of one stored record we are willing to decode (our own writes; bounds a corrupt disk). */
const STORED_BYTES_MAX = 8 * 1024 * 1024

/** Key of the signing state (SPEC bft "PersistedState"). */
export const STATE_KEY = 'state'
const LOG_PREFIX = 'log/'
const EVIDENCE_PREFIX = 'evidence/'

function logKey (height: number): string { return `${LOG_PREFIX}${String(height).padStart(15, '0')}` }
function evidenceKey (seq: number): string { return `${EVIDENCE_PREFIX}${String(seq).padStart(15, '0')}` }

/** What a restarted member hands its core (SPEC bft E4). */
export interface Restored { state: PersistedState | null, head: ChainHead, recentDecisions: Decision[], evidenceSeq: number }

/** One group's durable records. */
export class BftStore {
  readonly #db: KvStore
  readonly #groupId: string
  readonly #members: readonly string[]
  #evidenceSeq = 0

  constructor (db: KvStore, groupId: string, members: readonly string[]) {
    this.#db = db
    this.#groupId = groupId
    this.#members = members
  }

  /** Read the signing state, log head and recent decisions written by an earlier run. */
  async load (): Promise<Restored> {
    const stateBytes = await this.#db.get(STATE_KEY)
    const state = stateBytes === undefined ? null : decodeState(stateBytes)
    const recent: Decision[] = []
    for await (const value of this.#db.values({ gte: LOG_PREFIX, lt: `${LOG_PREFIX}~`, reverse: true, limit: RESTORE_DECISIONS_MAX })) {
      recent.unshift(checkDecision(decodeCbor(value, { bytesMax: STORED_BYTES_MAX, what: 'stored bft decision' })))
    }
    const last = recent.at(-1)
    const head: ChainHead = last === undefined
      ? { height: 0, hash: genesisHash(this.#groupId, this.#members) }
      : { height: last.block.height, hash: blockHash(this.#groupId, last.block) }
    for await (const key of this.#db.keys({ gte: EVIDENCE_PREFIX, lt: `${EVIDENCE_PREFIX}~`, reverse: true, limit: 1 })) {
      this.#evidenceSeq = Number(key.slice(EVIDENCE_PREFIX.length)) + 1
    }
    return { state, head, recentDecisions: recent, evidenceSeq: this.#evidenceSeq }
  }

  /**
   * One fsynced batch: the decisions committed since the last write (in height order), the
   * latest signing state, and new evidence. Written before any message that follows leaves.
   */
  async write (batch: { state: PersistedState | null, decisions: Decision[], evidence: Evidence[] }): Promise<void> {
    const ops: Array<{ type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }> = []
    for (const decision of batch.decisions) ops.push({ type: 'put', key: logKey(decision.block.height), value: encodeCbor(decision) })
    if (batch.state !== null) ops.push({ type: 'put', key: STATE_KEY, value: encodeCbor(batch.state) })
    for (const evidence of batch.evidence) {
      const seq = this.#evidenceSeq++
      ops.push({ type: 'put', key: evidenceKey(seq), value: encodeCbor(evidence) })
      if (seq >= EVIDENCE_STORED_MAX) ops.push({ type: 'del', key: evidenceKey(seq - EVIDENCE_STORED_MAX) })
    }
    if (ops.length > 0) await this.#db.batch(ops, SYNC)
  }

  /** Committed decisions with heights in [fromHeight, fromHeight + limit), oldest first. */
  async log (fromHeight = 1, limit = Number.MAX_SAFE_INTEGER): Promise<Decision[]> {
    const out: Decision[] = []
    for await (const value of this.#db.values({ gte: logKey(fromHeight), lt: `${LOG_PREFIX}~`, limit: Math.min(limit, 1_000_000) })) {
      out.push(checkDecision(decodeCbor(value, { bytesMax: STORED_BYTES_MAX, what: 'stored bft decision' })))
    }
    return out
  }

  /** Stored evidence, oldest first (at most EVIDENCE_STORED_MAX). */
  async evidence (): Promise<Evidence[]> {
    const out: Evidence[] = []
    for await (const value of this.#db.values({ gte: EVIDENCE_PREFIX, lt: `${EVIDENCE_PREFIX}~` })) {
      const message = checkMessage(decodeCbor(value, { bytesMax: STORED_BYTES_MAX, what: 'stored bft evidence' }))
      if (message.type === 'evidence') out.push(message)
    }
    return out
  }
}

function decodeState (bytes: Uint8Array): PersistedState {
  const raw = decodeCbor(bytes, { bytesMax: STORED_BYTES_MAX, what: 'stored bft signing state' }) as PersistedState
  // Re-check every signed message with the wire checker: a restored core trusts this state.
  return { ...raw, signedMessages: raw.signedMessages.map(m => checkMessage(m) as PersistedState['signedMessages'][number]) }
}
