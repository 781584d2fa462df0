// The BullMQ baseline of `npm run sim -- tasks --baseline bullmq`: the same no-op workload on a
// Redis 7 started here on a temporary port with the AOF fsynced on every write (`--appendonly yes
// --appendfsync always`, the durability the mesh queue's Raft log has), one producer and W workers
// × C concurrency in this process. Same metric names as the mesh queue.

import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { freePort } from '../harness/free-port.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { latencySummary } from '../stats.ts'

/** What one run measured (or why it was skipped). */
export type BaselineResult = { skipped: string } | Record<string, number | null>

/** Workload of one run. */
export interface BaselineOptions {
  tasks: number
  workers: number
  concurrency: number
  /** Jobs the producer keeps in flight (each slot adds one job and waits until it is done). */
  submitsInFlight: number
  /** Stop half the workers mid-run (force-closed, jobs left active) and start replacements. */
  faults: boolean
  /** Give up waiting for the last task after this long. */
  deadlineMs: number
  /** Jobs run (and waited for) before the clock starts, not counted: JIT-warm, connections open. */
  warmup?: number
  log: (line: string) => void
}

/** How long redis-server gets to answer PING after it starts. */
const REDIS_START_TIMEOUT_MS = 10_000
/**
 * BullMQ's lock and stalled-job check (defaults 30 s): shortened so a force-closed worker's jobs
 * are taken over within a run, as the mesh queue's leases are short in this scenario.
 */
const LOCK_DURATION_MS = 2_000
const STALLED_INTERVAL_MS = 1_000

/** Run the baseline; `{skipped}` when redis-server is not installed. */
export async function runBullmqBaseline (o: BaselineOptions): Promise<BaselineResult> {
  const which = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (which.error !== undefined || which.status !== 0) return { skipped: 'redis-server not found (Debian: apt-get install -y redis-server); the BullMQ baseline was not run' }
  const { Queue, Worker } = await import('bullmq')
  const { Redis } = await import('ioredis')
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-bullmq-'))
  const port = await freePort()
  let redis: ChildProcess | null = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], { stdio: 'ignore' })
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null }
  const closers: Array<() => Promise<unknown>> = []
  try {
    const started = Date.now()
    let probe: InstanceType<typeof Redis>
    for (;;) {
      // a fresh client per try: ioredis keeps one connection attempt per client
      probe = new Redis({ ...connection, lazyConnect: true, retryStrategy: () => null })
      probe.on('error', () => {}) // the failed try is reported by connect() below
      try { await probe.connect(); await probe.ping(); break } catch (err) {
        probe.disconnect()
        if (Date.now() - started > REDIS_START_TIMEOUT_MS) throw new Error(`redis-server did not answer on port ${port} within ${REDIS_START_TIMEOUT_MS} ms: ${(err as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    const aof = await probe.config('GET', 'appendfsync') as string[]
    probe.disconnect()

    const name = 'bench'
    const queue = new Queue(name, { connection })
    closers.push(() => queue.close())
    const submittedAt = new Map<string, number>()
    const startedAt = new Map<string, number>()
    const doneAt = new Map<string, number>()
    const runs = new Map<string, number>()
    const waiting = new Map<string, () => void>()
    const warming = new Map<string, () => void>()
    let completedTwice = 0
    let allDone: () => void = () => {}
    const finished = new Promise<void>((resolve) => { allDone = resolve })
    const startWorker = () => {
      const w = new Worker(name, async (job) => {
        const id = job.id!
        if (!startedAt.has(id)) startedAt.set(id, performance.now())
        runs.set(id, (runs.get(id) ?? 0) + 1)
      }, { connection, concurrency: o.concurrency, lockDuration: LOCK_DURATION_MS, stalledInterval: STALLED_INTERVAL_MS, removeOnComplete: { count: 0 } })
      w.on('completed', (job) => {
        const id = job.id!
        if (id.startsWith('warmup-')) { warming.get(id)?.(); warming.delete(id); return }
        if (doneAt.has(id)) { completedTwice++; return }
        doneAt.set(id, performance.now())
        waiting.get(id)?.()
        waiting.delete(id)
        if (doneAt.size >= o.tasks) allDone()
      })
      w.on('error', (err) => { o.log(`bullmq worker error: ${err.message}`) })
      return w
    }
    let workers = Array.from({ length: o.workers }, startWorker)
    closers.push(async () => { await Promise.all(workers.map((w) => w.close(true))) })
    await Promise.all(workers.map((w) => w.waitUntilReady()))
    await Promise.all(Array.from({ length: o.warmup ?? 0 }, async (_, i) => {
      const id = `warmup-${i}`
      const done = new Promise<void>((resolve) => { warming.set(id, resolve) })
      await queue.add('noop', { i: -1 - i }, { jobId: id, removeOnComplete: true })
      await done
    }))

    const t0 = performance.now()
    let next = 0
    let stopped = false
    const producer = async (): Promise<void> => {
      while (next < o.tasks) {
        const i = next++
        const id = `t${i}`
        submittedAt.set(id, performance.now())
        // closed loop, as the mesh queue's producer: each slot waits for its job to be done
        const done = new Promise<void>((resolve) => { waiting.set(id, resolve) })
        await queue.add('noop', { i }, { jobId: id, removeOnComplete: true })
        await done
        if (o.faults && !stopped && i === Math.floor(o.tasks / 2)) {
          stopped = true
          // half the workers die with jobs active; their jobs stall and are taken over
          const victims = workers.slice(0, Math.max(1, Math.floor(workers.length / 2)))
          o.log(`bullmq: stopping ${victims.length} workers mid-run`)
          await Promise.all(victims.map((w) => w.close(true)))
          workers = [...workers.slice(victims.length), ...victims.map(startWorker)]
        }
      }
    }
    const timeout = new Promise<'timeout'>((resolve) => { const t = setTimeout(() => resolve('timeout'), o.deadlineMs); t.unref() })
    const outcome = await Promise.race([Promise.all(Array.from({ length: Math.min(o.submitsInFlight, o.tasks) }, producer)).then(async () => { await finished; return 'done' as const }), timeout])
    const t1 = outcome === 'done' ? Math.max(...doneAt.values()) : performance.now()
    const toStart: number[] = []
    const toDone: number[] = []
    for (const [id, at] of submittedAt) {
      const s = startedAt.get(id)
      const d = doneAt.get(id)
      if (s !== undefined) toStart.push(s - at)
      if (d !== undefined) toDone.push(d - at)
    }
    const start = latencySummary(toStart)
    const done = latencySummary(toDone)
    return {
      tasks: o.tasks,
      tasks_per_s: Math.round(doneAt.size / ((t1 - t0) / 1000)),
      submit_to_start_p50_ms: start.p50_ms,
      submit_to_done_p50_ms: done.p50_ms,
      submit_to_done_p99_ms: done.p99_ms,
      lost: o.tasks - doneAt.size,
      completed_twice: completedTwice,
      executed_twice: [...runs.values()].filter((n) => n > 1).length,
      appendfsync_always: aof[1] === 'always' ? 1 : 0
    }
  } finally {
    for (const close of closers.reverse()) await close().catch((err: Error) => { o.log(`bullmq close: ${err.message}`) })
    redis?.kill('SIGTERM')
    redis = null
    rmSync(dir, { recursive: true, force: true })
  }
}
