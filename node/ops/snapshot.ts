// What the live dashboard shows, as one JSON object read from the node's public API: this node,
// its peers and links, event topics, raft groups with their BFT side, and the services'
// counters (the page turns successive counters into rates). Bounded: a snapshot is sent to
// every open dashboard once a second.

import type { AgentNode } from '../../src/index.ts'
import { EVENTS_GOSSIP_TOPIC_PREFIX } from '../../protocols/events/messages.ts'
import { METRICS_GROUPS_MAX } from './metrics.ts'

/** Peers listed at most: the page draws each as a node of the graph; past a few hundred it is a blur, and a snapshot stays under ~64 KiB. */
export const SNAPSHOT_PEERS_MAX = 256
/** Event topics listed at most, in name order. */
export const SNAPSHOT_TOPICS_MAX = 64

/** One peer as the dashboard draws it. */
export interface SnapshotPeer { peerId: string, name: string, status: string, connected: boolean, lastSeenMs: number }
/** One event topic: events held here and whether this node has caught up. */
export interface SnapshotTopic { topic: string, count: number, caughtUp: boolean, peers: number }
/** One raft group, with its BFT side when it has one. */
export interface SnapshotGroup {
  name: string
  role: string
  term: number
  leader: string | null
  committed: number
  applied: number
  members: string[]
  bft?: { height: number, committedHeight: number, round: number }
}
/** One task queue (filled once the node has a task layer). */
export interface SnapshotQueue { name: string, byState: Record<string, number>, deadLetters: number }

/** Everything one dashboard frame shows. */
export interface Snapshot {
  timeMs: number
  node: { peerId: string, name: string, addresses: string[] }
  peers: SnapshotPeer[]
  peersTotal: number
  /** Peer ids this node has an open connection to: the edges the graph draws from this node. */
  links: string[]
  topics: SnapshotTopic[]
  groups: SnapshotGroup[]
  queues: SnapshotQueue[]
  /** Monotonic counters; the page shows their rate between two snapshots. */
  counters: Record<string, number>
}

/** Read one snapshot of `node` (synchronous: every source is an in-memory read). */
export function takeSnapshot (node: AgentNode, options: { queues?: () => SnapshotQueue[] } = {}): Snapshot {
  const allPeers = node.peers().filter(p => p.peerId !== node.peerId)
  const peers = allPeers.slice(0, SNAPSHOT_PEERS_MAX).map(p => ({ peerId: p.peerId, name: p.name, status: p.status, connected: p.connected, lastSeenMs: p.lastSeenMs }))
  const links = [...new Set(node.libp2p.getConnections().map(c => c.remotePeer.toString()))].sort().slice(0, SNAPSHOT_PEERS_MAX)
  const topics = node.libp2p.services.pubsub.getTopics()
    .filter(t => t.startsWith(EVENTS_GOSSIP_TOPIC_PREFIX))
    .map(t => t.slice(EVENTS_GOSSIP_TOPIC_PREFIX.length))
    .sort()
    .slice(0, SNAPSHOT_TOPICS_MAX)
    .map(topic => {
      const status = node.events.status(topic)
      return { topic, count: status.count, caughtUp: status.caughtUp, peers: status.peers }
    })
  const groups = node.groups.list().sort().slice(0, METRICS_GROUPS_MAX).map(name => {
    const group = node.groups.get(name)
    const s = group.status()
    const bft = node.bft.group(name)?.status()
    return {
      name,
      role: s.role,
      term: s.term,
      leader: s.leader,
      committed: s.committed,
      applied: s.applied,
      members: group.members(),
      ...(bft !== undefined ? { bft: { height: bft.height, committedHeight: bft.committedHeight, round: bft.round } } : {})
    }
  })
  const events = node.events.stats()
  const docs = node.docs.stats()
  const state = node.state.stats()
  const raft = node.groups.stats()
  return {
    timeMs: Date.now(),
    node: { peerId: node.peerId, name: node.name, addresses: node.addresses() },
    peers,
    peersTotal: allPeers.length,
    links,
    topics,
    groups,
    queues: options.queues?.() ?? node.tasks.stats().hosted.map((q) => ({ name: q.name, byState: { ...q.byState } as Record<string, number>, deadLetters: q.deadLetters })),
    counters: {
      eventsPublished: events.published,
      eventsDelivered: events.accepted,
      eventsRejected: events.rejected + events.malformed + events.forged + events.rateLimited + events.tooFarAhead + events.unauthorized,
      docsUpdates: docs.gossipFramesPublished + docs.gossipFramesReceived,
      statePuts: state.puts,
      stateGets: state.gets,
      raftFrames: raft.framesSent + raft.framesReceived,
      directServed: node.direct.stats().served
    }
  }
}
