// The libp2p port: the few parts of a libp2p host that protocol services use, as narrow types.
// The node (src/) passes its host, which satisfies every one; a test or a simulator may pass
// anything with the same shape. Like js-libp2p's service factories, each service names only what
// it needs: `createX(components, init)`.

import type { Libp2p, Logger, PrivateKey } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'

/** This node's identity on the host. */
export type HostIdentity = Pick<Libp2p, 'peerId' | 'getMultiaddrs'>
/** Protocol handlers: register and remove them. */
export type Registrar = Pick<Libp2p, 'handle' | 'unhandle'>
/** Open a stream to a peer on one protocol (dialling if needed). */
export type ProtocolDialer = Pick<Libp2p, 'dialProtocol'>
/** Host events (`peer:connect`, `peer:disconnect`, `peer:identify`, …). */
export type HostEvents = Pick<Libp2p, 'addEventListener' | 'removeEventListener'>
/** Open connections, and dialling a peer without a protocol. */
export type Connections = Pick<Libp2p, 'getConnections' | 'dial'>
/** The peer store: tags (keep-alive) and addresses. */
export type PeerStoreHost = Pick<Libp2p, 'peerStore'>
/** GossipSub, as the host's `pubsub` service. */
export interface PubSubHost { readonly services: { readonly pubsub: GossipSub } }
/** The Kad-DHT, as the host's `dht` service. */
export interface DhtHost { readonly services: { readonly dht: KadDHT } }

/** A host that serves and opens streams: what request/response and link adapters need. */
export type StreamHost = HostIdentity & Registrar & ProtocolDialer & HostEvents

/** What every service factory gets besides its host: a logger. */
export interface ServiceBase { readonly log: Logger }

/** A service that signs what it publishes: the node's key. */
export interface SigningKey { readonly privateKey: PrivateKey }

/** The lifecycle every node service has. */
export interface Service {
  start (): Promise<void>
  stop (): Promise<void>
}
