// `npm run sim -- tasks [--tasks N] [--workers W] [--concurrency C] [--faults] [--baseline bullmq]
// [--transport memory|tcp] --json`: throughput and latency of `node.tasks` on real in-process nodes.
// A queue hosted by 3 members, W worker nodes (not members) each running `work()` with concurrency
// C on no-op tasks, and one producer node that submits N tasks (SUBMITS_IN_FLIGHT submits at a
// time, each waiting for its result before the next) and waits for every result. `--faults` kills half the worker nodes and then the queue's leader
// mid-run; every task must still complete exactly once. `--baseline bullmq` runs the same workload
// on BullMQ over a Redis 7 with the AOF fsynced on every write, in the same JSON object.

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { positiveIntegerFlag, SimUsageError } from '../flags.ts'
import { latencySummary } from '../stats.ts'
import { runBullmqBaseline } from '../tasks/bullmq-baseline.ts'

/** Tasks submitted when `--tasks` is absent. */
export const TASKS_DEFAULT = 2_000
/** Worker nodes when `--workers` is absent. */
export const WORKERS_DEFAULT = 2
/** Tasks each worker runs at once when `--concurrency` is absent. */
export const CONCURRENCY_DEFAULT = 32
/**
 * Tasks each side runs before its clock starts, not counted (the BullMQ baseline runs as many):
 * both are measured with their code JIT-compiled and their connections open, as a queue that has
 * been up for a while is.
 */
export const WARMUP_TASKS = 200
/** Submits the one producer keeps in flight (the BullMQ producer keeps as many). */
export const SUBMITS_IN_FLIGHT = 256
/**
 * The queue's lease in this scenario: a stopped worker's tasks return to the queue after it (the
 * default 30 s would outlast the run); workers renew every leaseMs/3.
 */
const LEASE_MS = 3_000
/** A run that has not finished all tasks by then reports the rest as lost. */
const DEADLINE_MS = 300_000
const QUEUE = 'bench'
/** A rate-limited or timed-out request is asked again up to this many times, after about this long. */
const ASK_AGAIN_MAX = 100
const ASK_AGAIN_BACKOFF_MS = 50

/** Measure the mesh queue (and the baseline): one JSON object with both. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const tasks = positiveIntegerFlag(options, 'tasks', TASKS_DEFAULT)
  const workers = positiveIntegerFlag(options, 'workers', WORKERS_DEFAULT)
  const concurrency = positiveIntegerFlag(options, 'concurrency', CONCURRENCY_DEFAULT)
  const faults = options.extra.faults === true
  const baseline = options.extra.baseline
  if (baseline !== undefined && baseline !== 'bullmq') throw new SimUsageError(`--baseline must be bullmq, got ${String(baseline)}`)
  if (faults && workers < 2) throw new SimUsageError('--faults kills half the workers: it needs --workers 2 or more')

  const mesh = await runMesh({ tasks, workers, concurrency, faults, transport: options.transport, log: options.log })
  const metrics: SimSummary['metrics'] = { tasks, workers, concurrency, faults, transport: options.transport, ...mesh }
  let ok = mesh.lost === 0 && mesh.completed_twice === 0
  if (baseline === 'bullmq') {
    const b = await runBullmqBaseline({ tasks, workers, concurrency, submitsInFlight: SUBMITS_IN_FLIGHT, faults, deadlineMs: DEADLINE_MS, warmup: WARMUP_TASKS, log: options.log })
    if ('skipped' in b) {
      options.log(`baseline: ${String(b.skipped)}`)
      metrics.bullmq_skipped = String(b.skipped)
    } else {
      for (const [k, v] of Object.entries(b)) metrics[`bullmq_${k}`] = v
      const mine = mesh.tasks_per_s
      const theirs = b.tasks_per_s
      metrics.tasks_per_s_ratio_to_bullmq = typeof theirs === 'number' && theirs > 0 && mine !== null ? Math.round(100 * mine / theirs) / 100 : null
      ok &&= b.lost === 0 && b.completed_twice === 0
    }
  }
  return { scenario: 'tasks', nodes: 4 + workers, seed: options.seed, ok, metrics }
}

interface MeshRun { tasks: number, workers: number, concurrency: number, faults: boolean, transport: 'memory' | 'tcp', log: (line: string) => void }

async function runMesh (o: MeshRun): Promise<{ tasks_per_s: number | null, submit_to_start_p50_ms: number | null, submit_to_done_p50_ms: number | null, submit_to_done_p99_ms: number | null, lost: number, completed_twice: number, executed_twice: number, failed: number, producer_rate_limited: number, producer_timeouts: number, cpu_ms_per_task: number, raft_entries_per_task: number, proposals_per_task: number, commands_per_task: number }> {
  const nodes: AgentNode[] = []
  const stopped = new Set<AgentNode>()
  try {
    const first = await createAgentNode({ transport: o.transport })
    nodes.push(first)
    // 3 members, W workers, 1 producer; everyone dials the first member
    for (let i = 1; i < 3 + o.workers + 1; i++) nodes.push(await createAgentNode({ transport: o.transport, peers: [first.addresses()[0]!] }))
    const memberNodes = nodes.slice(0, 3)
    const workerNodes = nodes.slice(3, 3 + o.workers)
    const producer = nodes[nodes.length - 1]!
    const members = memberNodes.map((n) => n.peerId)
    await Promise.all(memberNodes.map(async (n) => n.tasks.open(QUEUE, { members, leaseMs: LEASE_MS })))
    await memberNodes[0]!.groups.get(`tasks/${QUEUE}`).waitForLeader({ timeoutMs: 20_000 })

    const submittedAt = new Map<number, number>()
    const startedAt = new Map<number, number>()
    const runs = new Map<number, number>()
    const handles: Array<{ stats: () => { completed: number } }> = []
    for (const w of workerNodes) {
      await w.tasks.open(QUEUE, { members })
      handles.push(w.tasks.work(QUEUE, (input) => {
        const i = (input as { i: number }).i
        if (!startedAt.has(i)) startedAt.set(i, performance.now())
        runs.set(i, (runs.get(i) ?? 0) + 1)
        return input
      }, { concurrency: o.concurrency, pollMs: 1000 }))
    }
    const q = await producer.tasks.open(QUEUE, { members })
    await Promise.all(Array.from({ length: WARMUP_TASKS }, async (_, k) => {
      const t = await q.submit({ i: -1 - k }, { idempotencyKey: `warmup/${k}`, timeoutMs: DEADLINE_MS })
      await q.result(t.id, { timeoutMs: DEADLINE_MS })
    }))

    const doneAt = new Map<number, number>()
    let failed = 0
    // a kill as the harness does it (sim/harness/memory-node.ts): every connection aborts, then the node stops
    const kill = async (n: AgentNode, what: string): Promise<void> => {
      o.log(`tasks: killing ${what}`)
      stopped.add(n)
      for (const connection of n.libp2p.getConnections()) connection.abort(new Error(`${what} killed (simulated)`))
      await n.stop()
    }
    const group = (): { appliedIndex: () => number } | undefined => memberNodes.find((n) => !stopped.has(n))?.groups.get(`tasks/${QUEUE}`)
    const appliedBefore = group()?.appliedIndex() ?? 0
    const countersBefore = memberNodes.reduce((s, n) => { const c = n.tasks.stats(); return { proposals: s.proposals + c.proposals, commands: s.commands + c.commands } }, { proposals: 0, commands: 0 })
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let next = 0
    const submitter = async (): Promise<void> => {
      while (next < o.tasks) {
        const i = next++
        if (o.faults && i === Math.floor(o.tasks / 3)) void Promise.all(workerNodes.slice(0, Math.floor(o.workers / 2)).map(async (w, k) => kill(w, `worker ${k}`)))
        if (o.faults && i === Math.floor(2 * o.tasks / 3)) {
          const leader = memberNodes.find((n) => !stopped.has(n) && n.groups.get(`tasks/${QUEUE}`).isLeader())
          if (leader !== undefined) void kill(leader, 'the queue\'s leader')
        }
        submittedAt.set(i, performance.now())
        try {
          const t = await askAgain(async () => q.submit({ i }, { idempotencyKey: `bench/${i}`, timeoutMs: DEADLINE_MS }))
          ids.set(i, t.id)
          await askAgain(async () => q.result(t.id, { timeoutMs: DEADLINE_MS }))
          doneAt.set(i, performance.now())
        } catch (err) {
          unanswered.push(i)
          o.log(`tasks: task ${i}: ${(err as Error).message}`)
        }
      }
    }
    // A member refuses a peer's requests past REQUESTS_PER_PEER_PER_S, and a call to a member that
    // was killed times out: the producer asks again, as a client would (a submit carries its
    // idempotency key and a result wait is a read, so asking again is safe). Both are counted.
    let rateLimited = 0
    let timedOut = 0
    const askAgain = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn()
        } catch (err) {
          const message = (err as Error).message
          const limited = /rate-limited|REQUESTS_PER_PEER_PER_S/.test(message)
          const timeout = /did not answer/.test(message)
          if ((!limited && !timeout) || attempt >= ASK_AGAIN_MAX) throw err
          if (limited) rateLimited++
          else timedOut++
          await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_BACKOFF_MS * (1 + Math.random())))
        }
      }
    }
    const ids = new Map<number, string>()
    const unanswered: number[] = []
    // closed loop: each slot submits one task and waits for its result (the baseline does the same)
    await Promise.all(Array.from({ length: Math.min(SUBMITS_IN_FLIGHT, o.tasks) }, submitter))
    const elapsedS = (performance.now() - t0) / 1000
    // CPU of this process (every node of the mesh runs in it): steadier than tasks/s on a loaded machine
    const cpu = process.cpuUsage(cpu0)
    // Raft entries and the commands batched into them, per task: a killed member's counters stay readable
    const entries = (group()?.appliedIndex() ?? 0) - appliedBefore
    const countersAfter = memberNodes.reduce((s, n) => { const c = n.tasks.stats(); return { proposals: s.proposals + c.proposals, commands: s.commands + c.commands } }, { proposals: 0, commands: 0 })
    const toStart: number[] = []
    const toDone: number[] = []
    for (const [i, at] of submittedAt) {
      const s = startedAt.get(i)
      const d = doneAt.get(i)
      if (s !== undefined) toStart.push(s - at)
      if (d !== undefined) toDone.push(d - at)
    }
    // a task whose wait failed is judged by its state on the queue
    let completedUnseen = 0
    for (const i of unanswered) {
      const id = ids.get(i)
      const state = id === undefined ? undefined : (await q.get(id, { timeoutMs: 10_000 }).catch(() => undefined))?.state
      if (state === 'completed') completedUnseen++
      else if (state === 'failed' || state === 'rejected' || state === 'canceled') failed++
    }
    const completed = doneAt.size + completedUnseen
    // acknowledged completions across workers (the machine accepts one per task; a killed worker's count stays readable)
    // each warm-up task completed once (its acknowledgement may land after its result was read)
    const acknowledged = handles.reduce((sum, h) => sum + h.stats().completed, 0) - WARMUP_TASKS
    const start = latencySummary(toStart)
    const done = latencySummary(toDone)
    return {
      tasks_per_s: Math.round(completed / elapsedS),
      submit_to_start_p50_ms: start.p50_ms,
      submit_to_done_p50_ms: done.p50_ms,
      submit_to_done_p99_ms: done.p99_ms,
      lost: o.tasks - completed - failed,
      completed_twice: Math.max(0, acknowledged - completed),
      executed_twice: [...runs.values()].filter((n) => n > 1).length,
      failed,
      producer_rate_limited: rateLimited,
      producer_timeouts: timedOut,
      cpu_ms_per_task: Math.round(1000 * (cpu.user + cpu.system) / 1000 / o.tasks) / 1000,
      raft_entries_per_task: Math.round(1000 * entries / o.tasks) / 1000,
      proposals_per_task: Math.round(1000 * (countersAfter.proposals - countersBefore.proposals) / o.tasks) / 1000,
      commands_per_task: Math.round(100 * (countersAfter.commands - countersBefore.commands) / o.tasks) / 100
    }
  } finally {
    await Promise.all(nodes.filter((n) => !stopped.has(n)).map(async (n) => n.stop().catch((err: Error) => { o.log(`tasks: stop: ${err.message}`) })))
  }
}
