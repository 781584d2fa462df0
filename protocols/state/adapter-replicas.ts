// libp2p adapter of one-hop reads and writes (SPEC state, "One-hop reads and writes"): the k
// members closest to a key hold its record, and every node knows the members, so a get asks
// them and a put sends them the record directly, instead of walking the DHT to find them.
// Which peers to ask is pure (replicas.ts); so is validation (validate.ts, rules.ts).

import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger, Stream, Connection } from '@libp2p/interface'
import type { MeshLibp2p } from '../../src/libp2p.ts'
import { describeError } from '../kit/errors.ts'
import {
  decodeReadRequest, decodeReadResponse, decodeStoreRequest, decodeStoreResponse, dhtKeyOf, encodeReadRequest,
  decodeRecord, encodeReadResponse, encodeRecord, encodeStoreRequest, encodeStoreResponse,
  READ_REQUEST_BYTES_MAX, READ_RESPONSE_BYTES_MAX, STORE_REQUEST_BYTES_MAX, STORE_RESPONSE_BYTES_MAX
} from './messages.ts'
import type { SignedRecord, StoreVerdict } from './messages.ts'
import { validateRecord } from './validate.ts'
import { kadIdOf, readOrder, STATE_REPLICAS } from './replicas.ts'
import type { ReplicaCandidate } from './replicas.ts'
import type { StateRules } from './rules.ts'
import { RecordRejectedError } from './errors.ts'

/** Protocol id of one-hop reads. */
export const STATE_READ_PROTOCOL = '/agentmesh/state-read/1.0.0'
/** Protocol id of one-hop writes. */
export const STATE_STORE_PROTOCOL = '/agentmesh/state-store/1.0.0'
/** Longest wait for one peer's answer (ms); a silent peer counts as failed (a read then asks the next). */
export const REPLICA_PEER_TIMEOUT_MS = 2_000
/** Peers asked per get before it falls back to the Kademlia walk: 2 × GET_QUORUM. */
export const READ_ASKS_MAX = 6
/** Concurrent inbound streams per connection, per protocol. */
export const REPLICA_INBOUND_STREAMS_MAX = 64
/** Peer ids whose Kademlia id is cached; past this the cache starts over. */
const KAD_ID_CACHE_MAX = 10_000

/** What one-hop reads returned: the valid records and who sent each. */
export interface ReplicaAnswers {
  records: Array<{ from: string, record: SignedRecord }>
  /** Peers asked. */
  asked: number
}

/** What a one-hop write reached. */
export interface StoreOutcome {
  /** Peers the record was sent to (the k closest members). */
  asked: number
  /** Peers that stored it. */
  stored: string[]
  /** Peers that answered and refused it (validator verdict: stale, forged…). */
  refused: number
  /** Peers that could not be reached or did not answer in time. */
  unreachable: number
}

/** Counters of one-hop reads and writes, both directions. */
export interface ReplicaStats {
  /** Read requests this node answered, and inbound requests of either kind that failed (malformed, too large, timed out). */
  served: number
  serveErrors: number
  /** Peers asked for a record; of them, how many answered with a valid one, with none, or failed to answer. */
  asked: number
  hits: number
  misses: number
  failures: number
  /** Answers that failed validation (forged, expired, wrong key), counted among misses. */
  rejected: number
  /** Records peers sent this node: stored, or refused by the validator (stale, forged…). */
  storesAccepted: number
  storesRefused: number
}

/** What the service needs from the node. */
export interface ReplicaServiceOptions {
  libp2p: MeshLibp2p
  peerId: string
  rules: StateRules
  /** Peer ids of the live members this node knows (health); the candidates for every key. */
  members: () => Iterable<string>
  log: Logger
}

/** One-hop reads and writes: the server side, `read` and `store`. */
export interface ReplicaService {
  /** Ask the replicas of `key` until `needed` valid records are in or READ_ASKS_MAX peers were asked. */
  read (key: string, needed: number, signal: AbortSignal): Promise<ReplicaAnswers>
  /** Send `record` to the k closest members at once; resolves when each stored, refused or failed. */
  store (record: SignedRecord, signal: AbortSignal): Promise<StoreOutcome>
  stats (): ReplicaStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Build the service; `start()` registers both protocol handlers. */
export function createReplicaService (options: ReplicaServiceOptions): ReplicaService {
  const { libp2p, rules, log } = options
  const stats: ReplicaStats = { served: 0, serveErrors: 0, asked: 0, hits: 0, misses: 0, failures: 0, rejected: 0, storesAccepted: 0, storesRefused: 0 }
  const kadIds = new Map<string, Uint8Array>()
  const selfKadId = kadIdOf(libp2p.peerId.toMultihash().bytes)

  function kadIdOfPeer (peer: string): Uint8Array | undefined {
    let id = kadIds.get(peer)
    if (id !== undefined) return id
    try {
      id = kadIdOf(peerIdFromString(peer).toMultihash().bytes)
    } catch {
      return undefined // health only admits valid ids; skip anything else
    }
    if (kadIds.size >= KAD_ID_CACHE_MAX) kadIds.clear()
    kadIds.set(peer, id)
    return id
  }

  /** The k closest members to `key`, connected ones first (replicas.ts `readOrder`). */
  function replicasOf (key: string): string[] {
    const connected = new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))
    const candidates: ReplicaCandidate[] = []
    for (const peer of options.members()) {
      if (peer === options.peerId) continue
      const kadId = kadIdOfPeer(peer)
      if (kadId !== undefined) candidates.push({ peerId: peer, kadId, connected: connected.has(peer) })
    }
    return readOrder(kadIdOf(dhtKeyOf(key)), selfKadId, candidates, STATE_REPLICAS)
  }

  /** Open `protocol` to `peer`, write one request frame, read one response frame. */
  async function exchange (peer: string, protocol: string, request: Uint8Array, responseBytesMax: number, signal: AbortSignal): Promise<Uint8Array> {
    const askSignal = AbortSignal.any([signal, AbortSignal.timeout(REPLICA_PEER_TIMEOUT_MS)])
    const stream = await libp2p.dialProtocol(peerIdFromString(peer), protocol, { signal: askSignal })
    try {
      const lp = lpStream(stream, { maxDataLength: responseBytesMax })
      await lp.write(request, { signal: askSignal })
      const response = (await lp.read({ signal: askSignal })).subarray()
      await stream.close({ signal: askSignal })
      return response
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /** One peer's valid copy of `key`, or undefined if it has none (or sent an invalid one); throws if it cannot answer. */
  async function ask (peer: string, key: string, signal: AbortSignal): Promise<SignedRecord | undefined> {
    const bytes = decodeReadResponse(await exchange(peer, STATE_READ_PROTOCOL, encodeReadRequest(key), READ_RESPONSE_BYTES_MAX, signal))
    if (bytes === null) return undefined
    try {
      return await validateRecord(dhtKeyOf(key), bytes, { nowMs: Date.now() })
    } catch (err) {
      stats.rejected++
      log('dropping the copy of "%s" from %s: %s', key, peer, describeError(err))
      return undefined
    }
  }

  async function read (key: string, needed: number, signal: AbortSignal): Promise<ReplicaAnswers> {
    const order = replicasOf(key)
    const records: ReplicaAnswers['records'] = []
    let next = 0
    let inFlight = 0
    await new Promise<void>(resolve => {
      const launch = (): void => {
        while (records.length + inFlight < needed && next < order.length && next < READ_ASKS_MAX && !signal.aborted) {
          const peer = order[next++]!
          inFlight++
          stats.asked++
          ask(peer, key, signal).then(record => {
            if (record === undefined) { stats.misses++; return }
            stats.hits++
            records.push({ from: peer, record })
          }, (err: unknown) => {
            stats.failures++
            if (!signal.aborted) log('one-hop read of "%s" from %s failed: %s', key, peer, describeError(err))
          }).finally(() => {
            inFlight--
            launch()
          })
        }
        if (inFlight === 0) resolve()
      }
      launch()
    })
    return { records, asked: next }
  }

  async function store (record: SignedRecord, signal: AbortSignal): Promise<StoreOutcome> {
    const targets = replicasOf(record.key)
    const request = encodeStoreRequest(encodeRecord(record))
    const stored: string[] = []
    let refused = 0
    let unreachable = 0
    await Promise.all(targets.map(async peer => {
      try {
        const verdict = decodeStoreResponse(await exchange(peer, STATE_STORE_PROTOCOL, request, STORE_RESPONSE_BYTES_MAX, signal))
        if (verdict.stored) { stored.push(peer); return }
        refused++
        log('%s refused "%s": %s (%s)', peer, record.key, verdict.reason, verdict.message)
      } catch (err) {
        unreachable++
        if (!signal.aborted) log('one-hop store of "%s" at %s failed: %s', record.key, peer, describeError(err))
      }
    }))
    return { asked: targets.length, stored, refused, unreachable }
  }

  /** Serve one read request: this node's valid copy, or null. */
  async function serveRead (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(REPLICA_PEER_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: READ_REQUEST_BYTES_MAX })
    const key = decodeReadRequest((await lp.read({ signal })).subarray())
    const record = await rules.readLocal(dhtKeyOf(key), { signal })
    await lp.write(encodeReadResponse(record === undefined ? null : encodeRecord(record)), { signal })
    await stream.close({ signal })
    stats.served++
  }

  /** Serve one store request: validate like a PUT_VALUE, store, and say which. */
  async function serveStore (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(REPLICA_PEER_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: STORE_REQUEST_BYTES_MAX })
    const bytes = decodeStoreRequest((await lp.read({ signal })).subarray())
    let verdict: StoreVerdict
    try {
      const dhtKey = dhtKeyOf(decodeRecord(bytes).key)
      await rules.accept(dhtKey, bytes)
      stats.storesAccepted++
      verdict = { stored: true }
    } catch (err) {
      stats.storesRefused++
      verdict = { stored: false, reason: err instanceof RecordRejectedError ? err.reason : 'malformed', message: describeError(err) }
    }
    await lp.write(encodeStoreResponse(verdict), { signal })
    await stream.close({ signal })
  }

  function handler (serve: (stream: Stream) => Promise<void>) {
    return (stream: Stream, connection: Connection): void => {
      serve(stream).catch((err: unknown) => {
        stats.serveErrors++
        log('state request from %s failed: %s', connection.remotePeer.toString(), describeError(err))
        stream.abort(err as Error)
      })
    }
  }

  return {
    read,
    store,
    stats: () => ({ ...stats }),
    async start () {
      await libp2p.handle(STATE_READ_PROTOCOL, handler(serveRead), { maxInboundStreams: REPLICA_INBOUND_STREAMS_MAX })
      await libp2p.handle(STATE_STORE_PROTOCOL, handler(serveStore), { maxInboundStreams: REPLICA_INBOUND_STREAMS_MAX })
    },
    async stop () {
      await libp2p.unhandle([STATE_READ_PROTOCOL, STATE_STORE_PROTOCOL])
    }
  }
}
