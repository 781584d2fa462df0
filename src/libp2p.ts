// Builds the libp2p host every agent node runs: TCP or in-process memory transport,
// Noise, Yamux, identify, ping, GossipSub, and Kad-DHT on a private protocol id.

import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub, StrictNoSign } from '@libp2p/gossipsub'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { checkedPreSharedKey } from './access.ts'
import type { SwarmKeyMismatch } from './access.ts'
import type { GossipSub, GossipsubOpts } from '@libp2p/gossipsub'
import type { KadDHT, Validators, Selectors } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, PrivateKey, ConnectionGater } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
// Side effect: Noise's frame decoder stops throwing an exception per received chunk (see the file).
import './length-prefix-fast-path.ts'
import type { Registry } from 'prom-client'

/** The mesh's own DHT protocol id, so agentmesh never mixes with the public IPFS DHT. */
export const DHT_PROTOCOL = '/agentmesh/kad/1.0.0'

/**
 * Requests in flight per DHT query path. kad-dht's default (10, with 10 disjoint paths: up to
 * 100 requests per lookup) made a get cost ~20 messages even on a 20-node mesh; 3 is
 * Kademlia's classic alpha. Measured with `npm run sim -- dht` (protocols/state/SPEC.md "Tuning").
 */
export const DHT_ALPHA = 3
/** Disjoint lookup paths (S/Kademlia): 2 keeps a second, independent route past one bad peer. */
export const DHT_DISJOINT_PATHS = 2

/**
 * Ping streams per connection and direction. Two users ping each connection: the connection
 * monitor (every 10 s) and Kad-DHT's routing table (checking old contacts). @libp2p/ping allows
 * ONE outbound stream per connection (and two inbound), so when their pings overlapped (or a
 * slow ping outlived the monitor's interval under load) the second failed with
 * TooManyOutboundProtocolStreamsError, or the remote reset it, and the monitor took any failed
 * ping for a dead link and aborted the whole connection: raft and bft streams on it ended and
 * followers started elections. Room for both users, each with one ping in flight and one
 * waiting to close, keeps that from happening. Measured with
 * `DEBUG='libp2p:connection-monitor*' npm run sim -- raft-write --nodes 5 --writes 60000`: with
 * ping's defaults the monitor aborted 14 connections (10 on TooManyOutboundProtocolStreamsError,
 * 2 on streams the remote reset past its inbound limit); with these limits, none.
 */
export const PING_OUTBOUND_STREAMS_MAX = 4
/** Inbound ping streams per connection: the remote's outbound allowance, doubled for two connections to one peer. */
export const PING_INBOUND_STREAMS_MAX = 2 * PING_OUTBOUND_STREAMS_MAX

/** libp2p's own default cap on open connections; in-process simulations of many nodes pass far less. */
export const CONNECTIONS_MAX = 300

/**
 * Inbound connection limits against sockets that never finish the handshake. libp2p's default
 * pending (not yet upgraded) limit of 10, held for its 10 s upgrade timeout, let about a dozen
 * silent sockets lock every newcomer out. The bound that matters is per host: one address may
 * open INBOUND_CONNECTIONS_PER_HOST_PER_S connections a second, each held pending at most
 * INBOUND_UPGRADE_TIMEOUT_MS, so it holds at most 10 × 5 = 50 of the pending slots; blocking the
 * node takes six addresses working together instead of one, and honest handshakes still get in.
 */
/** Pending inbound connections at most: five hosts' worth (5 × 50) plus room; each costs a socket and a few KB of handshake state. */
export const INBOUND_PENDING_CONNECTIONS_MAX = 256
/** Multistream, Noise XX and Yamux take a few round trips: ms on a LAN, under a second across the world; 5 s also covers an event loop stalled for seconds on a loaded machine (the same deadline as a bootstrap dial). */
export const INBOUND_UPGRADE_TIMEOUT_MS = 5_000
/** New inbound connections per remote host and second (libp2p's default is 5): agents on one machine that start together share an address, and a restarting mesh redials at once. */
export const INBOUND_CONNECTIONS_PER_HOST_PER_S = 10

/** Which wire the node speaks: loopback/LAN TCP, or in-process memory (simulations). */
export type TransportKind = 'tcp' | 'memory'

/** The libp2p services every agent node has. */
export type MeshServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
}

/** A started-or-not libp2p host with the agentmesh services. */
export type MeshLibp2p = Libp2p<MeshServices>

/** What the host needs: identity, storage, addresses and the DHT record rules. */
export interface MeshLibp2pOptions {
  privateKey: PrivateKey
  datastore: Datastore
  transport: TransportKind
  listen: string[]
  dhtValidators: Validators
  dhtSelectors: Selectors
  gossipsub?: Partial<GossipsubOpts>
  connectionGater?: ConnectionGater
  /** Connections kept open at most: libp2p prunes the least valued beyond this and refuses inbound ones at it (default CONNECTIONS_MAX). */
  connectionsMax?: number
  /** One-way latency added to memory-transport links (simulations only). */
  memoryLatencyMs?: number
  /** Register libp2p's own metrics (@libp2p/prometheus-metrics) on this prom-client registry. */
  prometheusRegistry?: Registry
  /** A checked swarm key (src/access.ts): every connection is encrypted with it first (pnet), so only holders connect. */
  swarmKey?: Uint8Array
  /** Called with the address of a connection closed because the peer holds another swarm key, or none. */
  onSwarmKeyMismatch?: (mismatch: SwarmKeyMismatch) => void
}

/**
 * How long the pnet nonce exchange may take: pnet's 1 s default is a round trip on a LAN, but on
 * a loaded machine the event loop alone can stall that long; the upgrade timeout still bounds it.
 */
export const SWARM_KEY_HANDSHAKE_TIMEOUT_MS = INBOUND_UPGRADE_TIMEOUT_MS

/** Default listen address for each transport: an OS-assigned port, or a unique memory name. */
export function defaultListen (transport: TransportKind, peerIdText: string): string[] {
  return transport === 'tcp' ? ['/ip4/0.0.0.0/tcp/0'] : [`/memory/${peerIdText}`]
}

/** Create (but do not start) the libp2p host. */
export async function createMeshLibp2p (options: MeshLibp2pOptions): Promise<MeshLibp2p> {
  const transports = options.transport === 'tcp' ? [tcp()] : [memory({ latency: options.memoryLatencyMs })]
  return createLibp2p({
    privateKey: options.privateKey,
    datastore: options.datastore,
    start: false,
    addresses: { listen: options.listen },
    transports,
    // libp2p's own series (connections, streams, bytes per protocol). @libp2p/prometheus-metrics
    // keeps one table of metric objects per process, so with several nodes in one process the
    // last node built with a registry owns them; the daemon runs one node per process.
    ...(options.prometheusRegistry !== undefined ? { metrics: prometheusMetrics({ registry: options.prometheusRegistry }) } : {}),
    connectionEncrypters: [noise()],
    ...(options.swarmKey !== undefined ? { connectionProtector: checkedPreSharedKey({ psk: options.swarmKey, timeoutMs: SWARM_KEY_HANDSHAKE_TIMEOUT_MS, onMismatch: options.onSwarmKeyMismatch ?? (() => {}) }) } : {}),
    streamMuxers: [yamux()],
    connectionGater: {
      // Loopback and LAN addresses are how agents on one machine or network meet.
      denyDialMultiaddr: () => false,
      ...options.connectionGater
    },
    connectionManager: {
      maxConnections: options.connectionsMax ?? CONNECTIONS_MAX,
      maxIncomingPendingConnections: INBOUND_PENDING_CONNECTIONS_MAX,
      inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_HOST_PER_S
    },
    // The monitor opens a ping stream on every connection every 10 s to find links that died
    // silently (a TCP peer that vanished without a FIN). An in-process memory link cannot die
    // silently: a stopped or crashed node ends both sides at once. With 200 nodes in one process
    // the pings alone were ~500 streams/s, so the memory transport runs without it.
    connectionMonitor: { enabled: options.transport === 'tcp' },
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: PING_OUTBOUND_STREAMS_MAX, maxInboundStreams: PING_INBOUND_STREAMS_MAX }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Sign once: payloads that need authenticity carry their own signature (events envelopes),
        // and StrictSign made every node re-verify every duplicate copy (D per message). Measured
        // with `npm run sim -- fanout`: see protocols/events/SPEC.md, "GossipSub configuration".
        // The message id is then SHA-256 of the data: dedupe by content.
        globalSignaturePolicy: StrictNoSign,
        ...options.gossipsub
      }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        alpha: DHT_ALPHA,
        disjointPaths: DHT_DISJOINT_PATHS,
        validators: options.dhtValidators,
        selectors: options.dhtSelectors
      })
    }
  })
}
