// Simulation ops for the `bft` scenario: join a group (optionally as a Byzantine/silent double),
// time proposals, run a closed-loop load, and report the log. Runs in-process or in a TCP worker.

import type { AgentNode } from '../../src/index.ts'
import type { PluginOp } from '../harness/ops.ts'
import { verifyChain } from '../../protocols/bft/certificate.ts'
import { createEd25519Verifier } from '../../protocols/bft/ed25519.ts'
import { blockHash } from '../../protocols/bft/signing.ts'
import { toHex } from '../../protocols/kit/bytes.ts'
import { byzantineRewrite } from './byzantine-double.ts'
import { joinWithSeams } from '../../protocols/bft/adapter.ts'
import type { ByzantineMode } from './byzantine-double.ts'

function group (node: AgentNode, name: string): NonNullable<ReturnType<AgentNode['bft']['group']>> {
  const g = node.bft.group(name)
  if (g === undefined) throw new Error(`bft group "${name}" is not joined on ${node.peerId}`)
  return g
}

/** The ops (see sim/harness/ops.ts PluginModule). */
export const ops: Record<string, PluginOp> = {
  /** Dial every given address (a full mesh, so no frame waits for a dial). */
  'bft.connect': async (node, args) => {
    for (const address of (args as { addresses: string[] }).addresses) {
      if (address.endsWith(node.peerId)) continue
      const { multiaddr } = await import('@multiformats/multiaddr')
      await node.libp2p.dial(multiaddr(address))
    }
    return null
  },
  'bft.join': async (node, args) => {
    const { name, members, mode, timeouts } = args as { name: string, members: string[], mode?: ByzantineMode, timeouts?: Record<string, number> }
    await joinWithSeams(node.bft, name, { members, timeouts, seams: mode === undefined ? {} : { rewrite: byzantineRewrite(mode) } })
    return null
  },
  /** One proposal; returns its commit latency on this member in ms. */
  'bft.propose': async (node, args) => {
    const { name, value } = args as { name: string, value: unknown }
    const start = performance.now()
    await group(node, name).propose(value, { timeoutMs: 30_000 })
    return performance.now() - start
  },
  /** Closed loop: `concurrency` proposals in flight for `durationMs`; returns committed values and their latencies. */
  'bft.load': async (node, args) => {
    const { name, durationMs, concurrency } = args as { name: string, durationMs: number, concurrency: number }
    const g = group(node, name)
    const end = performance.now() + durationMs
    const latencies: number[] = []
    let failed = 0
    let seq = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const start = performance.now()
        try {
          await g.propose({ load: node.peerId.slice(-6), seq: seq++ }, { timeoutMs: 30_000 })
          if (performance.now() <= end) latencies.push(performance.now() - start)
        } catch (err) {
          if (!(err instanceof Error)) throw err
          failed++
        }
      }
    }))
    return { committed: latencies.length, failed, latencies }
  },
  /** CPU time this node's process used so far (ms): with one process per node, what a decision costs. */
  'bft.cpu': () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000 },
  /** This member's log: block hashes by height, whether it verifies from genesis, and its evidence count. */
  'bft.log': async (node, args) => {
    const g = group(node, (args as { name: string }).name)
    const log = await g.log()
    const chain = verifyChain(log, { groupId: g.name, members: g.members, verifier: createEd25519Verifier() })
    const evidence = await g.evidence()
    return { hashes: log.map(d => toHex(blockHash(d.groupId, d.block))), laterRounds: log.filter(d => d.certificate.round > 0).length, items: log.reduce((sum, d) => sum + d.block.items.length, 0), chainOk: chain.ok, evidence: evidence.length, status: g.status() }
  }
}
