// A child process running one agent node (with a data dir) for real-process raft tests and
// benchmarks; it takes commands over IPC from sim/raft/process-cluster.ts. Kill it with SIGKILL to crash it.

import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode, RaftGroup } from '../../src/index.ts'
import type { KvResult } from '../../protocols/raft/kv.ts'
import type { DriverStats } from '../../protocols/raft/driver.ts'
import { startApiServer } from '../../node/api/server.ts'
import type { ApiServer } from '../../node/api/server.ts'
import { loadOrCreateToken } from '../../node/api/token.ts'

/** A command from the parent. */
export type WorkerCommand =
  | { op: 'dial', addrs: string[] }
  | { op: 'join', group: string, members: string[], heartbeatMs: number, electionMs: number }
  | { op: 'propose', group: string, command: unknown, timeoutMs: number }
  | { op: 'get', group: string, key: string, timeoutMs: number }
  | { op: 'lock', group: string, resource: string, ttlMs: number, timeoutMs: number }
  | { op: 'unlock', group: string, resource: string, owner: string, token: number, timeoutMs: number }
  | { op: 'status', group: string }
  | { op: 'block', peers: string[] }
  | { op: 'unblock' }
  | { op: 'bench', group: string, writes: number, concurrency: number, valueBytes: number }
  | { op: 'api' }
  | { op: 'stop' }

/** Status of a group in a worker. */
export interface WorkerStatus { leader: string | null, isLeader: boolean, term: number, applied: number, /** what the driver did with its storage (fsynced and unsynced writes) */ storage: DriverStats, /** CPU time (user + system) this process used so far */ cpuMs: number }

const blocked = new Set<string>()
const groups = new Map<string, RaftGroup>()
let node: AgentNode
let api: ApiServer | undefined
let dataDir: string | undefined

async function handle (c: WorkerCommand): Promise<unknown> {
  switch (c.op) {
    case 'dial':
      await Promise.all(c.addrs.map(async (a) => node.libp2p.dial(multiaddr(a), { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)))
      return null
    case 'join': {
      const g = await node.groups.join(c.group, { members: c.members, heartbeatMs: c.heartbeatMs, electionMs: c.electionMs })
      groups.set(c.group, g)
      return null
    }
    case 'propose': return group(c.group).propose(c.command, { timeoutMs: c.timeoutMs })
    case 'get': return group(c.group).kv.get(c.key, { timeoutMs: c.timeoutMs })
    case 'lock': {
      const l = await group(c.group).lock(c.resource, { ttlMs: c.ttlMs, timeoutMs: c.timeoutMs })
      return { owner: l.owner, token: l.token }
    }
    case 'unlock': {
      const r = await group(c.group).propose({ op: 'unlock', resource: c.resource, owner: c.owner, token: c.token }, { timeoutMs: c.timeoutMs }) as KvResult
      return 'granted' in r && r.granted
    }
    case 'status': {
      const g = group(c.group)
      return { leader: g.leader(), isLeader: g.isLeader(), term: g.term(), applied: g.appliedIndex(), storage: g.status().storage, cpuMs: cpuMs() } satisfies WorkerStatus
    }
    case 'block':
      for (const p of c.peers) blocked.add(p)
      await Promise.all(c.peers.map(async (p) => node.libp2p.hangUp(peerIdFromString(p)).catch(() => undefined)))
      return null
    case 'unblock': blocked.clear(); return null
    case 'bench': return bench(group(c.group), c.writes, c.concurrency, c.valueBytes)
    case 'api': {
      // the node's HTTP API on a loopback port, as `agentmesh start --api` serves it: the token is
      // the one a user's process reads from <data-dir>/api-token
      if (api === undefined) api = await startApiServer({ node, host: '127.0.0.1', port: 0, token: (await loadOrCreateToken(dataDir)).token })
      return { url: api.url, tokenFile: dataDir === undefined ? null : `${dataDir}/api-token` }
    }
    case 'stop':
      await api?.close()
      await node.stop()
      setImmediate(() => process.exit(0))
      return null
  }
}

/** `writes` puts from `concurrency` proposers inside this process: per-write latency and total time. */
async function bench (g: RaftGroup, writes: number, concurrency: number, valueBytes: number): Promise<{ latenciesMs: number[], elapsedMs: number }> {
  const value = 'x'.repeat(valueBytes)
  const latenciesMs: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async (_, p) => {
    while (next < writes) {
      const i = next++
      const t0 = performance.now()
      await g.propose({ op: 'put', key: `p${p}`, value: `${i}:${value}` }, { timeoutMs: 30_000 })
      latenciesMs.push(performance.now() - t0)
    }
  }))
  return { latenciesMs, elapsedMs: performance.now() - started }
}

function cpuMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

function group (name: string): RaftGroup {
  const g = groups.get(name)
  if (g === undefined) throw new Error(`group ${name} not joined in worker`)
  return g
}

async function main (): Promise<void> {
  const config = JSON.parse(process.env.AGENTMESH_WORKER ?? '{}') as { dataDir?: string, peers?: string[] }
  dataDir = config.dataDir
  const deny = (peer: { toString: () => string }): boolean => blocked.has(peer.toString())
  node = await createAgentNode({
    dataDir: config.dataDir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: config.peers ?? [],
    connectionGater: { denyDialPeer: deny, denyInboundEncryptedConnection: deny, denyOutboundEncryptedConnection: deny }
  })
  process.on('message', (raw) => {
    const { id, command } = raw as { id: number, command: WorkerCommand }
    handle(command).then(
      (result) => { process.send!({ id, ok: true, result }) },
      (err: Error) => { process.send!({ id, ok: false, error: `${err.name}: ${err.message}` }) }
    )
  })
  process.on('disconnect', () => { void node.stop().finally(() => process.exit(0)) })
  process.send!({ ready: true, peerId: node.peerId, addresses: node.addresses() })
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`)
  process.exit(1)
})
