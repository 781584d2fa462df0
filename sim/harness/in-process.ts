// Node options for many agent nodes sharing ONE process (memory transport).
//
// A real deployment runs one node per process, so each event loop carries one node's share of
// the mesh. In a simulation every node's share lands on the same loop, and two costs grow with
// N² there instead of N:
// - health: every node receives (and GossipSub forwards ~D times) every announcement;
// - connections: DHT lookups leave a connection open to every peer they ask (libp2p keeps them
//   until its cap, 300), and each connection costs memory and keep-alive work on both ends.
// Measured on 2 cores with `npm run sim -- fanout --nodes 200 --json`: with the defaults the
// start never finished (RSS past 3.4 GB after 19 min, connections still growing); with the
// options below, delivery 1 at 9.4 MB RSS and ~32 connections per node.

import type { AgentNodeOptions } from '../../src/index.ts'
import { HEALTH_INTERVAL_SCALE_MAX } from '../../protocols/health/core.ts'

/** Up to this many nodes, in-process nodes run with production defaults (health scenarios time detection at these sizes). */
export const IN_PROCESS_DEFAULTS_NODES_MAX = 32
/** Health announcements per second the whole in-process mesh aims for past that size. */
export const IN_PROCESS_ANNOUNCES_PER_S = 2
/** Each node's health budget (SPEC H9 `announcesPerIntervalMax`): small, so intervals stretch to their cap. */
const IN_PROCESS_ANNOUNCES_PER_INTERVAL_MAX = 2
/**
 * Connection cap per node past that size: room for the DHT's 20 closest peers (kept alive),
 * GossipSub's mesh (D_hi 12) and discovery links. Nodes fill it and then refuse inbound
 * connections, so joining nodes try several peers (fanout's dials, Cluster's joinPeers).
 */
export const IN_PROCESS_CONNECTIONS_MAX = 32

/** True when `nodes` nodes on `transport` share this process past the defaults: connections are capped, full nodes refuse newcomers. */
export function inProcessCapped (transport: 'memory' | 'tcp', nodes: number): boolean {
  return transport === 'memory' && nodes > IN_PROCESS_DEFAULTS_NODES_MAX
}

/** What an in-process cluster of `nodes` nodes passes to each `createAgentNode`. */
export function inProcessNodeOptions (nodes: number): Pick<AgentNodeOptions, 'healthIntervalMs' | 'healthAnnouncesPerIntervalMax' | 'connectionsMax'> {
  if (!inProcessCapped('memory', nodes)) return {}
  // health SPEC H9: a node announces every intervalMs × min(scaleMax, ⌈N / budget⌉). With this
  // budget the stretch reaches its cap (16) past 32 nodes, so the mesh sends
  // N / (scaleMax × intervalMs) announcements per ms; pick intervalMs to make that IN_PROCESS_ANNOUNCES_PER_S.
  const intervalMs = Math.max(1_000, Math.ceil((nodes * 1_000) / (HEALTH_INTERVAL_SCALE_MAX * IN_PROCESS_ANNOUNCES_PER_S)))
  return { healthIntervalMs: intervalMs, healthAnnouncesPerIntervalMax: IN_PROCESS_ANNOUNCES_PER_INTERVAL_MAX, connectionsMax: IN_PROCESS_CONNECTIONS_MAX }
}
