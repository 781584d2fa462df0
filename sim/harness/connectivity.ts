// Connectivity conditions scenarios wait for, read from node snapshots.

import type { Cluster } from './cluster.ts'
import type { NodeSnapshot } from './ops.ts'

/** Snapshots of every running node, in node order. */
export async function snapshots (cluster: Cluster): Promise<NodeSnapshot[]> {
  return await Promise.all(cluster.nodes.filter(n => n.running).map(async n => await n.snapshot()))
}

/** True when every running node other than node 0 has a connection to node 0. */
export async function allConnectedToBootstrap (cluster: Cluster): Promise<boolean> {
  const bootstrap = cluster.nodes[0]!
  if (!bootstrap.running) return false
  const all = await snapshots(cluster)
  return all.every(s => s.peerId === bootstrap.peerId || s.connections.includes(bootstrap.peerId))
}

/** Connections per running node. */
export async function connectionCounts (cluster: Cluster): Promise<number[]> {
  return (await snapshots(cluster)).map(s => s.connections.length)
}
