// `npm run sim -- exec [--messages N] --json`: what the `--exec` bridge adds to a task. One
// in-process node hosts two queues; one is worked by an in-process handler, the other by the
// Python example (node/examples/python/exec_worker.py) through node.tasks.work(queue, { exec }).
// Tasks go one at a time, submit to result, alternating the queues; prints p50/p99 of both and
// the p50 the child process adds.

import { fileURLToPath } from 'node:url'
import { createAgentNode } from '../../src/index.ts'
import type { Payload } from '../../src/index.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { latencySummary, quantile } from '../stats.ts'

/** Measured tasks per path when --messages is not given. */
export const ROUNDS_DEFAULT = 500
/** Unmeasured tasks first: JIT, the child's start, caches. */
export const WARMUP_ROUNDS = 50

const WORKER = fileURLToPath(new URL('../../node/examples/python/exec_worker.py', import.meta.url))

/** Run the comparison. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const rounds = options.messages ?? ROUNDS_DEFAULT
  const node = await createAgentNode({ transport: 'memory' })
  try {
    const inProcess = await node.tasks.open('bench-inprocess', { members: [node.peerId] })
    const exec = await node.tasks.open('bench-exec', { members: [node.peerId] })
    const handler = node.tasks.work('bench-inprocess', async (input: Payload) => ({ text: String((input as { text: string }).text).toUpperCase() }))
    const child = node.tasks.work('bench-exec', { exec: ['python3', WORKER, 'bench-exec'], log: options.log })
    await child.started
    const times = { inProcess: [] as number[], exec: [] as number[] }
    const started = performance.now()
    for (let i = 0; i < WARMUP_ROUNDS + rounds; i++) {
      const pair: Array<[typeof exec, number[]]> = [[inProcess, times.inProcess], [exec, times.exec]]
      if (i % 2 === 1) pair.reverse()
      for (const [queue, into] of pair) {
        const t0 = performance.now()
        await queue.result((await queue.submit({ text: `task ${i}` })).id, { timeoutMs: 30_000 })
        if (i >= WARMUP_ROUNDS) into.push(performance.now() - t0)
      }
    }
    const elapsedMs = performance.now() - started
    await handler.stop()
    await child.stop()
    const a = latencySummary(times.inProcess)
    const b = latencySummary(times.exec)
    const metrics = {
      rounds,
      inprocess_p50_ms: a.p50_ms,
      inprocess_p99_ms: a.p99_ms,
      exec_p50_ms: b.p50_ms,
      exec_p99_ms: b.p99_ms,
      exec_added_p50_ms: Math.round((quantile(times.exec, 0.5) - quantile(times.inProcess, 0.5)) * 1000) / 1000,
      tasks_per_s: Math.round((2 * (WARMUP_ROUNDS + rounds)) / elapsedMs * 1000 * 10) / 10,
      exec_restarts: child.supervisor.stats.crashes,
      exec_lines_malformed: child.supervisor.stats.linesMalformed
    }
    options.log(`one task at a time, submit to result: in process p50 ${metrics.inprocess_p50_ms} ms, through the Python child p50 ${metrics.exec_p50_ms} ms (added ${metrics.exec_added_p50_ms} ms)`)
    return {
      scenario: 'exec',
      nodes: 1,
      seed: options.seed,
      ok: times.exec.length === rounds && metrics.exec_restarts === 0,
      metrics,
      latenciesMs: times.exec
    }
  } finally {
    await node.stop()
  }
}
