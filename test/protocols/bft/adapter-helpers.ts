// Helpers for the bft real-node tests: loopback TCP nodes with data dirs, a full mesh of
// connections, and checks that logs agree and verify from genesis.

import assert from 'node:assert/strict'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { verifyChain } from '../../../protocols/bft/certificate.ts'
import { createEd25519Verifier } from '../../../protocols/bft/ed25519.ts'
import { blockHash } from '../../../protocols/bft/signing.ts'
import { toHex } from '../../../protocols/kit/bytes.ts'
import type { Decision } from '../../../protocols/bft/messages.ts'
import type { BftGroup } from '../../../protocols/bft/adapter-group.ts'
import { tempDir, waitFor } from '../../helpers.ts'

/** Start a loopback TCP node, persisting to `dataDir` when given. */
export async function startNode (dataDir?: string): Promise<AgentNode> {
  return await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], dataDir })
}

/** Connect `node` to every other node (bft dials members by peer id, so they must be reachable). */
export async function connectAll (nodes: AgentNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) await dialWithRetry(nodes[i]!, nodes[j]!)
  }
}

/** Dial `b` from `a`, retrying a few times: a loaded machine sometimes resets a fresh TCP connect. */
async function dialWithRetry (a: AgentNode, b: AgentNode): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
      return
    } catch (err) {
      if (attempt >= 5) throw err
      await new Promise(resolve => setTimeout(resolve, 100 * attempt))
    }
  }
}

/** `count` nodes, fully connected; each with its own data dir unless `persist` is false. */
export async function startCluster (count: number, persist = true): Promise<{ nodes: AgentNode[], dirs: string[], cleanup: () => Promise<void> }> {
  const dirs = persist ? await Promise.all(Array.from({ length: count }, async () => await tempDir('agentmesh-bft-'))) : []
  const nodes = await Promise.all(Array.from({ length: count }, async (_, i) => await startNode(dirs[i]?.path)))
  await connectAll(nodes)
  return {
    nodes,
    dirs: dirs.map(d => d.path),
    cleanup: async () => { await Promise.all(dirs.map(async d => { await d.remove() })) }
  }
}

/** One line per log entry: height and block hash. */
export function logHashes (log: Decision[]): string[] {
  return log.map(d => `${d.block.height}:${toHex(blockHash(d.groupId, d.block))}`)
}

/** Wait until every group committed at least `height`, then check the logs are identical and verify from genesis. */
export async function expectSameVerifiedLogs (groups: BftGroup[], height: number, timeoutMs = 30_000): Promise<Decision[]> {
  await waitFor(() => groups.every(g => g.status().committedHeight >= height), `every member to commit height ${height} (at ${groups.map(g => g.status().committedHeight).join(',')})`, timeoutMs)
  const logs = await Promise.all(groups.map(async g => (await g.log()).slice(0, height)))
  const verifier = createEd25519Verifier()
  for (const log of logs) {
    assert.equal(log.length, height)
    assert.deepEqual(logHashes(log), logHashes(logs[0]!))
    assert.deepEqual(verifyChain(log, { groupId: groups[0]!.name, members: groups[0]!.members, verifier }), { ok: true })
  }
  return logs[0]!
}

/** Stop a node the hard way: abort every connection first (peers see a reset, not a goodbye). */
export async function killNode (node: AgentNode): Promise<void> {
  for (const connection of node.libp2p.getConnections()) connection.abort(new Error('killed by test'))
  await node.stop()
}
