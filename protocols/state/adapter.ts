// libp2p adapter of the state protocol: `node.state.put/get/findAgents` over Kad-DHT,
// the republisher for records this node wrote, and the agent-card publisher.
// Signing, validation and selection are pure (messages.ts, validate.ts, select.ts).

import type { StoreBoundStats } from './store-bound.ts'
import type { QueryEvent } from '@libp2p/kad-dht'
import { hlcCompare, hlcNow, hlcReceive, HLC_ZERO } from '../kit/hlc.ts'
import type { Hlc } from '../kit/hlc.ts'
import { deadlineSignal, explainAbort } from '../kit/adapter-abort.ts'
import { describeError, LimitExceededError, NotRunningError } from '../kit/errors.ts'
import type { Connections, DhtHost, HostEvents, HostIdentity, ProtocolDialer, Registrar, ServiceBase, SigningKey } from '../kit/components.ts'
import type { Payload } from '../kit/payload.ts'
import {
  checkKey, decodeRecord, decodeValue, dhtKeyOf, encodeRecord, encodeValue, signRecord, TTL_MS_MAX, TTL_MS_MIN, VERSION_MAX
} from './messages.ts'
import type { SignedRecord } from './messages.ts'
import { compareRecords, selectBest } from './select.ts'
import { requiredOwner } from './validate.ts'
import { assert } from '../kit/assert.ts'
import { backoffDelayMs } from '../kit/backoff.ts'
import { NoReplicasError, RecordRejectedError } from './errors.ts'
import type { StateRules } from './rules.ts'
import { createDirectory } from './adapter-directory.ts'
import { createReplicaReader } from './adapter-read.ts'
import type { ReadStats } from './adapter-read.ts'
import type { AgentCard } from './card.ts'
import type { StateEntry, PutReceipt, PutOptions, GetOptions, FindAgentsOptions } from './options.ts'
import { timed } from '../kit/timing.ts'

/** Lifetime of a record when `put` is given no ttlMs: an hour, republished every 30 min. */
export const DEFAULT_TTL_MS = 60 * 60 * 1000
/** Default deadline of a put or get (a DHT query on a healthy mesh takes milliseconds). */
export const STATE_OP_TIMEOUT_MS = 30_000
/** How often the republisher looks for due records (ms); a record is due at half its TTL. */
export const REPUBLISH_CHECK_MS = 1_000
/** First delay before retrying a republish that reached no peer (ms); doubles per failure. */
export const REPUBLISH_RETRY_MS = 2_000
/** Longest retry delay: a struggling mesh is not flooded with retries (they feed the overload). */
export const REPUBLISH_RETRY_MAX_MS = 60_000
/**
 * Answers a get waits for before it picks the LWW winner (SPEC state "Reads"): 3 of the
 * k = 20 replicas. A put only returns after every reachable replica took the record (or
 * refused it for a newer one), so on a settled mesh any one answer is current; 3 rides out
 * a replica that missed a write, and most queries get 3 answers in their first round trip.
 */
export const GET_QUORUM = 3
/** Most keys whose last-read version a node remembers (oldest forgotten first); bounds memory. */
export const SEEN_VERSIONS_MAX = 10_000
/** Most records one node keeps republishing: bounds memory and republish traffic. */
export const OWNED_RECORDS_MAX = 10_000

export type { StateEntry, PutReceipt, PutOptions, GetOptions, FindAgentsOptions } from './options.ts'

/** The `node.state` API. */
export interface StateService {
  put (key: string, value: Payload, options?: PutOptions): Promise<PutReceipt>
  get (key: string, options?: GetOptions): Promise<StateEntry | undefined>
  /** Stop republishing a key this node wrote; its record expires at the end of its TTL. */
  forget (key: string): void
  /** Agents announcing `capability`, found through DHT provider records (SPEC state, "Agent directory"). */
  findAgents (options: FindAgentsOptions): Promise<AgentCard[]>
  /** This node's own card as published. */
  card (): AgentCard
  /**
   * Replace the capabilities this agent announces (at most CAPABILITIES_MAX) and publish its card
   * again now; resolves to the new card. Agents stop finding it under a dropped capability at once.
   */
  setCapabilities (capabilities: readonly string[]): Promise<AgentCard>
  /** Counters for tests and metrics. */
  stats (): StateStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Counters of the state service. */
export interface StateStats {
  puts: number
  gets: number
  /** Gets that needed the network and had their quorum from one-hop reads alone (SPEC state "One-hop reads"). */
  getsOneHop: number
  /** Gets that walked the DHT (kad-dht GET_VALUE query) for missing answers. */
  getsWalked: number
  republished: number
  republishFailures: number
  owned: number
  /** One-hop read counters, both directions. */
  reads: ReadStats
  /** The DHT record store and its budget (SPEC state "Storage bound"), when the node bounds it. */
  stored?: StoreBoundStats
}

/** What the state service uses of its host: the DHT, one-hop read streams, connections and events. */
export type StateHost = HostIdentity & DhtHost & Registrar & ProtocolDialer & Connections & HostEvents

/** What the state service uses of its node. */
export interface StateComponents extends ServiceBase, SigningKey {
  readonly libp2p: StateHost
  /** The record rules; the node installs the same rules as the DHT's validators and selectors. */
  readonly rules: StateRules
  /** The budget of this node's DHT record store, for its counters. */
  readonly storeBound?: { stats (): StoreBoundStats }
}

/** Who this agent is, and tunables of the state service. */
export interface StateServiceInit {
  name: string
  capabilities: string[]
  /** Lifetime of the agent card (ms); see adapter-directory.ts. */
  cardTtlMs?: number
  /** Peer ids of the live members this node knows (health): who one-hop reads may ask. */
  members?: () => Iterable<string>
  republishCheckMs?: number
}

/** A record this node wrote and keeps alive (SPEC state, "Republish"). */
interface OwnedRecord {
  record: SignedRecord
  ttlMs: number
  /** When to republish next: half-way through the current copy's lifetime, or a retry. */
  dueAtMs: number
  /** True once at least one remote peer stored the current copy. */
  replicated: boolean
  /** True when the last attempt found no DHT peer at all: a newly identified peer retries it at once. */
  unreachable: boolean
  /** Failed attempts in a row, for the retry backoff. */
  retries: number
}

/** Build the state service; `start()` begins republishing and publishes the agent card. */
export function createStateService (components: StateComponents, options: StateServiceInit): StateService {
  const { libp2p, privateKey, rules, log } = components
  const peerId = libp2p.peerId.toString()
  const republishCheckMs = options.republishCheckMs ?? REPUBLISH_CHECK_MS
  const owned = new Map<string, OwnedRecord>()
  /** Highest version read per key, so a read-then-write continues the count (SPEC state "Versions"). */
  const seenVersions = new Map<string, number>()
  const stats = { puts: 0, gets: 0, getsOneHop: 0, getsWalked: 0, republished: 0, republishFailures: 0 }
  const reader = createReplicaReader({ libp2p, peerId, rules, members: options.members ?? (() => []), log: log.newScope('read') })
  let lastHlc: Hlc = HLC_ZERO
  let running = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let republishing: Promise<void> | undefined
  const stopController = new AbortController()

  function assertRunning (what: string): void {
    if (!running) throw new NotRunningError(`Cannot ${what}: the state service is not running (node stopped or not started)`)
  }

  function observe (hlc: Hlc): void {
    try {
      lastHlc = hlcReceive(lastHlc, hlc, Date.now())
    } catch (err) {
      log('ignoring HLC too far ahead: %s', describeError(err))
    }
  }

  /** Send a signed record to the closest peers; returns how many stored it. */
  async function store (record: SignedRecord, signal: AbortSignal): Promise<{ replicas: number, failures: number }> {
    let replicas = 0
    let failures = 0
    for await (const event of libp2p.services.dht.put(dhtKeyOf(record.key), encodeRecord(record), { signal }) as AsyncIterable<QueryEvent>) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') replicas++
      else if (event.name === 'QUERY_ERROR') failures++
    }
    return { replicas, failures }
  }

  async function put (key: string, value: Payload, putOptions: PutOptions = {}): Promise<PutReceipt> {
    assertRunning(`put "${key}"`)
    checkKey(key)
    const owner = requiredOwner(key)
    if (owner !== undefined && owner !== peerId) throw new RecordRejectedError('not-owner', `Cannot put "${key}": keys under agents/${owner}/ belong to that peer; this node is ${peerId}`)
    const ttlMs = putOptions.ttlMs ?? DEFAULT_TTL_MS
    if (!Number.isSafeInteger(ttlMs) || ttlMs < TTL_MS_MIN || ttlMs > TTL_MS_MAX) throw new LimitExceededError(`Cannot put "${key}": ttlMs ${ttlMs} is outside ${TTL_MS_MIN}..${TTL_MS_MAX} (TTL_MS_MIN..TTL_MS_MAX)`)
    const valueBytes = encodeValue(value)
    const timeoutMs = putOptions.timeoutMs ?? STATE_OP_TIMEOUT_MS
    const signal = deadlineSignal(timeoutMs, putOptions.signal)
    const what = `state put "${key}"`
    try {
      // SPEC state "Versions": a write follows every record this node has seen for the key.
      const previous = await rules.readLocal(dhtKeyOf(key), { signal })
      if (previous !== undefined) observe(previous.hlc)
      const nowMs = Date.now()
      lastHlc = hlcNow(lastHlc, nowMs)
      const version = Math.min(VERSION_MAX, Math.max(previous?.version ?? 0, owned.get(key)?.record.version ?? 0, seenVersions.get(key) ?? 0) + 1)
      const record = await signRecord({ key, value: valueBytes, author: peerId, version, hlc: lastHlc, expiresAtMs: nowMs + ttlMs }, privateKey)
      remember(record, ttlMs)
      stats.puts++
      const { replicas, failures } = await store(record, signal)
      const entry = owned.get(key)
      if (entry !== undefined && entry.record === record) noteAttempt(entry, replicas, failures)
      if (replicas === 0 && failures > 0) {
        const winner = await supersedingEntry(record, signal)
        if (winner !== undefined) {
          if (owned.get(key)?.record === record) owned.delete(key)
          return { key, version, hlc: record.hlc, expiresAtMs: record.expiresAtMs, replicas, supersededBy: { author: winner.author, hlc: winner.hlc } }
        }
      }
      if (replicas === 0) {
        const connections = libp2p.getConnections().length
        throw new NoReplicasError(key, failures > 0
          ? `all ${failures} DHT peers asked refused or failed`
          : `no DHT peer is reachable (${connections} open connections, routing table empty)`, failures)
      }
      return { key, version, hlc: record.hlc, expiresAtMs: record.expiresAtMs, replicas }
    } catch (err) {
      if (err instanceof NoReplicasError) throw err
      throw explainAbort(err, { what, timeoutMs, signal: putOptions.signal })
    }
  }

  /** The entry the mesh holds for `record.key` if it beats `record` by LWW order (SPEC state, "Conflicts"). */
  async function supersedingEntry (record: SignedRecord, signal: AbortSignal): Promise<StateEntry | undefined> {
    const best = await get(record.key, { signal })
    if (best === undefined || best.author === record.author) return undefined
    const byHlc = hlcCompare(best.hlc, record.hlc)
    return byHlc > 0 || (byHlc === 0 && best.author > record.author) ? best : undefined
  }

  function remember (record: SignedRecord, ttlMs: number): void {
    if (!owned.has(record.key) && owned.size >= OWNED_RECORDS_MAX) {
      throw new LimitExceededError(`Cannot put "${record.key}": this node already republishes ${owned.size} records (OWNED_RECORDS_MAX); forget() some first`)
    }
    owned.set(record.key, { record, ttlMs, dueAtMs: Date.now() + Math.floor(ttlMs / 2), replicated: false, unreachable: false, retries: 0 })
  }

  /** Record the outcome of storing an owned record; failures back off exponentially (SPEC state "Republish"). */
  function noteAttempt (entry: OwnedRecord, replicas: number, failures: number): void {
    entry.replicated = replicas > 0
    entry.unreachable = replicas === 0 && failures === 0
    if (replicas > 0) {
      entry.retries = 0
      return
    }
    entry.retries++
    const backoffMs = backoffDelayMs(entry.retries, { initialMs: REPUBLISH_RETRY_MS, maxMs: REPUBLISH_RETRY_MAX_MS })
    entry.dueAtMs = Date.now() + Math.max(1, Math.min(backoffMs, Math.floor(entry.ttlMs / 4)))
  }

  function toEntry (record: SignedRecord): StateEntry {
    observe(record.hlc)
    const seen = seenVersions.get(record.key) ?? 0
    seenVersions.delete(record.key)
    seenVersions.set(record.key, Math.max(seen, record.version))
    if (seenVersions.size > SEEN_VERSIONS_MAX) seenVersions.delete(seenVersions.keys().next().value!)
    return { value: decodeValue(record.value), author: record.author, version: record.version, hlc: record.hlc, expiresAtMs: record.expiresAtMs }
  }

  async function get (key: string, getOptions: GetOptions = {}): Promise<StateEntry | undefined> {
    assertRunning(`get "${key}"`)
    checkKey(key)
    const dhtKey = dhtKeyOf(key)
    const timeoutMs = getOptions.timeoutMs ?? STATE_OP_TIMEOUT_MS
    const signal = deadlineSignal(timeoutMs, getOptions.signal)
    stats.gets++
    try {
      const local = await rules.readLocal(dhtKey, { signal })
      if (getOptions.local === true) return local === undefined ? undefined : toEntry(local)
      const found: SignedRecord[] = local === undefined ? [] : [local]
      const quorum = getOptions.quorum ?? GET_QUORUM
      /** Peers whose answer is in `found`: the walk does not count them twice. */
      const answered = new Set<string>()
      if (found.length < quorum && Number.isFinite(quorum)) {
        // SPEC state "One-hop reads": ask the replicas membership points at, over open connections first.
        for (const { from, record } of await reader.read(key, quorum - found.length, signal)) { found.push(record); answered.add(from) }
        signal.throwIfAborted()
        if (found.length >= quorum) stats.getsOneHop++
      }
      try {
        // Records arrive on PEER_RESPONSE events, already validated by kad-dht (SPEC state "Reads").
        if (found.length < quorum) {
          stats.getsWalked++
          for await (const event of libp2p.services.dht.get(dhtKey, { signal }) as AsyncIterable<QueryEvent>) {
            if (event.name === 'PEER_RESPONSE' && event.record != null && !answered.has(event.from.toString())) {
              const record = decodeFound(key, event.record.value)
              if (record !== undefined) found.push(record)
              if (found.length >= quorum) break // ends the query: kad-dht aborts its outstanding requests
            }
          }
        }
      } catch (err) {
        // kad-dht's read-repair ("Could not send correction") can fail after every answer is in.
        if (signal.aborted || found.length === 0 || (err as Error).name !== 'QueryError') throw err
        log('get "%s": kept %d answers after a late query error: %s', key, found.length, describeError(err))
      }
      const best = selectBest(found)
      return best === -1 ? undefined : toEntry(found[best]!)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw explainAbort(err, { what: `state get "${key}"`, timeoutMs, signal: getOptions.signal })
    }
  }

  /**
   * A record from a query answer. kad-dht ran our validator on it (signature included) before
   * emitting the answer, so only decode it and drop it if it expired since.
   */
  function decodeFound (key: string, bytes: Uint8Array): SignedRecord | undefined {
    const record = decodeRecord(bytes)
    assert(record.key === key, 'kad-dht only emits records validated for the queried key')
    if (record.expiresAtMs > Date.now()) return record
    log('dropping a record for "%s" that expired after it was validated', key)
    return undefined
  }

  /** Re-sign a due record with a fresh expiry (same HLC and version: SPEC state "Republish") and store it. */
  async function republish (entry: OwnedRecord): Promise<void> {
    const key = entry.record.key
    const current = await rules.readLocal(dhtKeyOf(key), { signal: stopController.signal })
    if (current !== undefined && current.author !== peerId && compareRecords(current, entry.record) > 0) {
      log('stop republishing "%s": superseded by %s', key, current.author)
      owned.delete(key)
      return
    }
    const record = await signRecord({ ...entry.record, expiresAtMs: Date.now() + entry.ttlMs }, privateKey)
    entry.record = record
    entry.dueAtMs = Date.now() + Math.floor(entry.ttlMs / 2)
    const signal = deadlineSignal(STATE_OP_TIMEOUT_MS, stopController.signal)
    const { replicas, failures } = await store(record, signal)
    noteAttempt(entry, replicas, failures)
    if (replicas > 0) stats.republished++
    else if (failures > 0 && await supersedingEntry(record, signal) !== undefined) {
      log('stop republishing "%s": superseded by a later write', key)
      if (owned.get(key) === entry) owned.delete(key)
    } else {
      stats.republishFailures++
    }
  }

  async function republishDue (): Promise<void> {
    const nowMs = Date.now()
    for (const entry of [...owned.values()]) {
      if (!running) return
      if (entry.dueAtMs > nowMs || owned.get(entry.record.key) !== entry) continue
      try {
        await republish(entry)
      } catch (err) {
        stats.republishFailures++
        noteAttempt(entry, 0, 1)
        if (running) log('republish of "%s" failed: %s', entry.record.key, describeError(err))
      }
    }
  }

  function schedule (delayMs: number): void {
    if (!running) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      republishing ??= republishDue().finally(() => { republishing = undefined; schedule(republishCheckMs) })
    }, delayMs)
  }

  /** A new peer finished identify: records that found no peer at all get another chance now. */
  function onPeerIdentified (): void {
    let due = false
    for (const entry of owned.values()) {
      if (entry.unreachable) { entry.dueAtMs = Math.min(entry.dueAtMs, Date.now()); entry.unreachable = false; due = true }
    }
    if (due && republishing === undefined) schedule(0)
  }

  const directory = createDirectory({
    libp2p,
    peerId,
    name: options.name,
    capabilities: options.capabilities,
    cardTtlMs: options.cardTtlMs,
    log: log.newScope('directory'),
    put: async (key, value, putOptions) => await put(key, value, putOptions),
    get: async (key, getOptions) => await get(key, getOptions)
  })

  return {
    put: (key, value, putOptions) => timed({ peerId, operation: 'state.put' }, performance.now.bind(performance), () => put(key, value, putOptions)),
    get: (key, getOptions) => timed({ peerId, operation: 'state.get' }, performance.now.bind(performance), () => get(key, getOptions)),
    forget (key) { owned.delete(key) },
    async findAgents (findOptions) {
      assertRunning(`find agents with "${findOptions.capability}"`)
      return await directory.findAgents(findOptions)
    },
    card: () => directory.card(),
    async setCapabilities (capabilities) {
      assertRunning('set capabilities')
      return await directory.setCapabilities(capabilities)
    },
    stats: () => ({ ...stats, owned: owned.size, reads: reader.stats(), ...(components.storeBound !== undefined ? { stored: components.storeBound.stats() } : {}) }),
    async start () {
      await reader.start()
      running = true
      libp2p.addEventListener('peer:identify', onPeerIdentified)
      schedule(republishCheckMs)
      directory.start()
    },
    async stop () {
      if (!running) return
      running = false
      clearTimeout(timer)
      libp2p.removeEventListener('peer:identify', onPeerIdentified)
      stopController.abort(new NotRunningError('state service stopped'))
      await directory.stop()
      await republishing
      await reader.stop()
    }
  }
}
