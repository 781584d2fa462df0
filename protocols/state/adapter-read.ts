// libp2p adapter of one-hop reads (SPEC state, "One-hop reads"): serve this node's stored
// copy of a record on `/agentmesh/state-read/1.0.0`, and ask the peers that membership says
// hold a key for theirs. Which peers to ask is pure (replicas.ts); so is validation.

import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger, Stream, Connection } from '@libp2p/interface'
import type { Connections, HostIdentity, ProtocolDialer, Registrar } from '../kit/components.ts'
import { describeError } from '../kit/errors.ts'
import { closeServedStream } from '../kit/adapter-abort.ts'
import {
  decodeReadRequest, decodeReadResponse, dhtKeyOf, encodeReadRequest, encodeReadResponse, encodeRecord,
  READ_REQUEST_BYTES_MAX, READ_RESPONSE_BYTES_MAX
} from './messages.ts'
import type { SignedRecord } from './messages.ts'
import { validateRecord } from './validate.ts'
import { kadIdOf, readOrder, STATE_REPLICAS } from './replicas.ts'
import type { ReplicaCandidate } from './replicas.ts'
import type { StateRules } from './rules.ts'

/** Protocol id of one-hop reads. */
export const STATE_READ_PROTOCOL = '/agentmesh/state-read/1.0.0'
/** Longest wait for one peer's answer (ms); a silent peer counts as a miss and the next is asked. */
export const READ_PEER_TIMEOUT_MS = 2_000
/** Peers asked per get before it falls back to the Kademlia walk: 2 × GET_QUORUM. */
export const READ_ASKS_MAX = 6
/** Concurrent inbound read streams per connection. */
export const READ_INBOUND_STREAMS_MAX = 64
/** Peer ids whose Kademlia id is cached; past this the cache starts over. */
const KAD_ID_CACHE_MAX = 10_000

/** A valid record a replica sent, and which peer sent it. */
export interface ReplicaAnswer { from: string, record: SignedRecord }

/** Counters of one-hop reads. */
export interface ReadStats {
  /** Requests this node answered. */
  served: number
  /** Inbound requests that failed (malformed, too large, timed out). */
  serveErrors: number
  /** Peers asked; of them, how many answered with a valid record, with none, or failed to answer. */
  asked: number
  hits: number
  misses: number
  failures: number
  /** Answers that failed validation (forged, expired, wrong key): the peer is not trusted for that answer. */
  rejected: number
}

/** What the reader needs from the node. */
export interface ReplicaReaderOptions {
  libp2p: HostIdentity & Connections & Registrar & ProtocolDialer
  peerId: string
  rules: StateRules
  /** Peer ids of the live members this node knows (health); the candidates for every key. */
  members: () => Iterable<string>
  log: Logger
}

/** The one-hop read service: the server side and `read`. */
export interface ReplicaReader {
  /** Ask the replicas of `key` until `needed` valid records are in or READ_ASKS_MAX peers were asked. */
  read (key: string, needed: number, signal: AbortSignal): Promise<ReplicaAnswer[]>
  stats (): ReadStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Build the reader; `start()` registers the protocol handler. */
export function createReplicaReader (options: ReplicaReaderOptions): ReplicaReader {
  const { libp2p, rules, log } = options
  const stats: ReadStats = { served: 0, serveErrors: 0, asked: 0, hits: 0, misses: 0, failures: 0, rejected: 0 }
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

  function candidatesFor (key: string): string[] {
    const connected = new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))
    const candidates: ReplicaCandidate[] = []
    for (const peer of options.members()) {
      if (peer === options.peerId) continue
      const kadId = kadIdOfPeer(peer)
      if (kadId !== undefined) candidates.push({ peerId: peer, kadId, connected: connected.has(peer) })
    }
    return readOrder(kadIdOf(dhtKeyOf(key)), selfKadId, candidates, STATE_REPLICAS)
  }

  /** One peer's valid copy of `key`, or undefined if it has none; throws if it cannot answer. */
  async function ask (peer: string, key: string, signal: AbortSignal): Promise<SignedRecord | undefined> {
    const askSignal = AbortSignal.any([signal, AbortSignal.timeout(READ_PEER_TIMEOUT_MS)])
    const stream = await libp2p.dialProtocol(peerIdFromString(peer), STATE_READ_PROTOCOL, { signal: askSignal })
    let bytes: Uint8Array | null
    try {
      const lp = lpStream(stream, { maxDataLength: READ_RESPONSE_BYTES_MAX })
      await lp.write(encodeReadRequest(key), { signal: askSignal })
      bytes = decodeReadResponse((await lp.read({ signal: askSignal })).subarray())
      await stream.close({ signal: askSignal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
    if (bytes === null) return undefined
    try {
      return await validateRecord(dhtKeyOf(key), bytes, { nowMs: Date.now() })
    } catch (err) {
      stats.rejected++
      log('dropping the copy of "%s" from %s: %s', key, peer, describeError(err))
      return undefined
    }
  }

  async function read (key: string, needed: number, signal: AbortSignal): Promise<ReplicaAnswer[]> {
    const order = candidatesFor(key)
    const records: ReplicaAnswer[] = []
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
    return records
  }

  async function serve (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(READ_PEER_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: READ_REQUEST_BYTES_MAX })
    const key = decodeReadRequest((await lp.read({ signal })).subarray())
    const record = await rules.readLocal(dhtKeyOf(key), { signal })
    await lp.write(encodeReadResponse(record === undefined ? null : encodeRecord(record)), { signal })
    await closeServedStream(stream, { what: `state read from ${connection.remotePeer.toString()}` })
    stats.served++
  }

  return {
    read,
    stats: () => ({ ...stats }),
    async start () {
      await libp2p.handle(STATE_READ_PROTOCOL, (stream, connection) => {
        serve(stream, connection).catch((err: unknown) => {
          stats.serveErrors++
          log('state read from %s failed: %s', connection.remotePeer.toString(), describeError(err))
          stream.abort(err as Error)
        })
      }, { maxInboundStreams: READ_INBOUND_STREAMS_MAX })
    },
    async stop () {
      await libp2p.unhandle(STATE_READ_PROTOCOL)
    }
  }
}
