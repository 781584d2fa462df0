// Throughput of node.tasks on real in-process nodes over loopback TCP: a queue hosted by three
// members, W worker nodes (not members) with concurrency C, N tasks submitted from a member.
// Prints JSON: tasks_per_s, submit_to_done_p50_ms / p99, raft entries and proposals per task.
// node sim/tasks/bench-node.ts [--tasks N] [--workers W] [--concurrency C]

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}
const N = arg('tasks', 2000)
const W = arg('workers', 2)
const C = arg('concurrency', 32)

const nodes: AgentNode[] = []
const first = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
nodes.push(first)
for (let i = 1; i < 3 + W; i++) nodes.push(await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [first.addresses()[0]!] }))
const members = nodes.slice(0, 3).map((n) => n.peerId)
const queues = await Promise.all(nodes.slice(0, 3).map(async (n) => n.tasks.open('bench', { members })))
await nodes[0]!.groups.get('tasks/bench').waitForLeader({ timeoutMs: 20_000 })
for (const w of nodes.slice(3)) {
  await w.tasks.open('bench', { members })
  w.tasks.work('bench', async (input) => input, { concurrency: C, pollMs: 1000 })
}
const q = queues[0]!
const startIndex = nodes[0]!.groups.get('tasks/bench').appliedIndex()
const proposalsBefore = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().proposals, 0)
const started = performance.now()
const latencies: number[] = []
await Promise.all(Array.from({ length: N }, async (_, i) => {
  const t0 = performance.now()
  const t = await q.submit({ i }, { timeoutMs: 600_000 })
  await q.result(t.id, { timeoutMs: 600_000 })
  latencies.push(performance.now() - t0)
}))
const elapsedS = (performance.now() - started) / 1000
const entries = nodes[0]!.groups.get('tasks/bench').appliedIndex() - startIndex
const proposals = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().proposals, 0) - proposalsBefore
const commands = nodes.slice(0, 3).reduce((s, n) => s + n.tasks.stats().commands, 0)
latencies.sort((a, b) => a - b)
const pct = (p: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!)
console.log(JSON.stringify({ tasks: N, workers: W, concurrency: C, tasks_per_s: Math.round(N / elapsedS), submit_to_done_p50_ms: pct(0.5), submit_to_done_p99_ms: pct(0.99), raft_entries: entries, raft_entries_per_task: +(entries / N).toFixed(3), task_proposals: proposals, proposals_per_task: +(proposals / N).toFixed(3), commands_per_task: +(commands / N).toFixed(2) }))
await Promise.all(nodes.map(async (n) => { await n.stop() }))
