// `npm run sim -- check tasks --seeds N [--seed S] [--inject <bug>] [--trace]`: N seeded runs of a
// task queue's state machine under worker crashes, lost renewals, failovers, late and duplicate
// results and clock steps, checking SPEC tasks T1–T5 after every command.

import type { SimOptions, SimSummary } from '../scenario.ts'
import { SimUsageError } from '../flags.ts'
import { runTasksSeed } from '../tasks/run-seed.ts'
import type { TasksSeedOptions } from '../tasks/run-seed.ts'
import type { TaskFault } from '../../protocols/tasks/state.ts'

/** Bugs `--inject` can switch on; each must make the checker fail. */
export const TASK_FAULTS: readonly TaskFault[] = ['accept-stale-token', 'drop-on-expiry', 'reuse-token', 'ignore-idempotency', 'complete-twice']

/** Run seeds `seed … seed+seeds-1`; every failing seed is listed with its replay command. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const first = options.seed
  const count = options.seeds ?? 100
  const seedOptions: TasksSeedOptions = {}
  const inject = options.extra.inject
  if (inject !== undefined) {
    if (typeof inject !== 'string' || !TASK_FAULTS.includes(inject as TaskFault)) throw new SimUsageError(`--inject must be one of ${TASK_FAULTS.join(', ')}, got ${String(inject)}`)
    seedOptions.inject = inject as TaskFault
  }
  if (options.extra.trace === true) seedOptions.trace = true
  const injectFlag = typeof inject === 'string' ? ` --inject ${inject}` : ''
  const failures: string[] = []
  let commands = 0
  let tasks = 0
  let completed = 0
  let stale = 0
  let restores = 0
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const seed = first + i
    const r = runTasksSeed(seed, seedOptions)
    commands += r.commands
    tasks += r.tasks
    completed += r.completed
    stale += r.staleRefused
    restores += r.restores
    if (!r.ok) failures.push(`seed ${seed} FAILED: ${r.failures.join('; ')}\n  replay: npm run sim -- check tasks --seed ${seed} --seeds 1${injectFlag} --trace`)
    if (seedOptions.trace === true) for (const line of r.trace) options.log(line)
    options.progress(i + 1, count)
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve))
  }
  const wallMs = performance.now() - started
  return {
    scenario: 'check tasks',
    nodes: 0,
    seed: first,
    ok: failures.length === 0,
    metrics: {
      seeds: count,
      failures: failures.length,
      commands,
      tasks,
      completed,
      stale_results_refused: stale,
      restores,
      wall_ms: Math.round(wallMs),
      ms_per_seed: Math.round(100 * wallMs / Math.max(1, count)) / 100
    },
    failures
  }
}
