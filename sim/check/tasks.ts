// `npm run sim -- check tasks --seeds N [--seed S] [--nodes 3|5] [--inject <bug>] [--direct] [--trace]`:
// N seeded runs of a task queue hosted by a simulated Raft cluster (the production RaftDriver on a
// simulated clock, disk and network; the TaskMachine is each member's apply function) under member
// crashes, partitions, leader failovers, worker crashes, lost renewals, late and duplicate results,
// retried requests and clock steps, checking SPEC tasks T1–T5 on every applied command, what clients
// observe, and that every replica holds the same state at the same index. `--direct` runs the
// machine alone (no Raft), a faster and denser workload of the same faults.
// `--inject` switches on one deliberate bug in the machine (TASK_FAULTS); each must fail the check.

import type { SimOptions, SimSummary } from '../scenario.ts'
import { SimUsageError } from '../flags.ts'
import { runTasksSeed } from '../tasks/run-seed.ts'
import type { TasksSeedOptions } from '../tasks/run-seed.ts'
import { runTasksRaftSeed } from '../tasks/raft-seed.ts'
import type { TasksRaftSeedOptions } from '../tasks/raft-seed.ts'
import type { TaskFault } from '../../protocols/tasks/state.ts'
import { runSeedLoop } from '../kit/seed-loop.ts'

/** Bugs `--inject` can switch on; each must make the checker fail. */
export const TASK_FAULTS: readonly TaskFault[] = ['accept-stale-token', 'drop-on-expiry', 'reuse-token', 'ignore-idempotency', 'complete-twice']

/** The check's own flags, shown by `npm run sim -- check tasks --help`. */
export const help = [
  'npm run sim -- check tasks [--seeds N] [--seed S] [--nodes 3|5] [--inject BUG] [--direct] [--trace]',
  '  runs the task machine as the apply function of a simulated Raft cluster (3 or 5 members)',
  '  --direct       the machine alone, without Raft (the earlier, denser workload)',
  `  --inject BUG   a deliberate bug the check must catch: ${TASK_FAULTS.join(', ')}`,
  '  --trace        print every applied command and fault of each seed'
].join('\n')

/** Run seeds `seed … seed+seeds-1`; every failing seed is listed with its replay command. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const inject = options.extra.inject
  if (inject !== undefined && (typeof inject !== 'string' || !TASK_FAULTS.includes(inject as TaskFault))) throw new SimUsageError(`--inject must be one of ${TASK_FAULTS.join(', ')}, got ${String(inject)}`)
  if (options.nodes !== undefined && options.nodes !== 3 && options.nodes !== 5) throw new SimUsageError(`--nodes must be 3 or 5 (a queue's members), got ${options.nodes}`)
  const trace = options.extra.trace === true
  const direct = options.extra.direct === true
  const flags = `${options.nodes !== undefined ? ` --nodes ${options.nodes}` : ''}${typeof inject === 'string' ? ` --inject ${inject}` : ''}${direct ? ' --direct' : ''}`
  const totals = { commands: 0, tasks: 0, completed: 0, stale: 0, restores: 0, memberCrashes: 0, workerCrashes: 0, retries: 0 }
  const replay = (seed: number): string => `npm run sim -- check tasks --seed ${seed} --seeds 1${flags} --trace`
  if (direct) {
    const seedOptions: TasksSeedOptions = {}
    if (inject !== undefined) seedOptions.inject = inject as TaskFault
    if (trace) seedOptions.trace = true
    return runSeedLoop(options, {
      scenario: 'check tasks --direct',
      nodes: 0,
      defaultSeeds: 100,
      run: (seed) => runTasksSeed(seed, seedOptions),
      replay,
      add: (r) => { totals.commands += r.commands; totals.tasks += r.tasks; totals.completed += r.completed; totals.stale += r.staleRefused; totals.restores += r.restores },
      metrics: () => ({ commands: totals.commands, tasks: totals.tasks, completed: totals.completed, stale_results_refused: totals.stale, restores: totals.restores })
    })
  }
  const seedOptions: TasksRaftSeedOptions = {}
  if (inject !== undefined) seedOptions.inject = inject as TaskFault
  if (options.nodes !== undefined) seedOptions.nodes = options.nodes
  if (trace) seedOptions.trace = true
  return runSeedLoop(options, {
    scenario: 'check tasks',
    nodes: options.nodes ?? 0,
    defaultSeeds: 100,
    run: (seed) => runTasksRaftSeed(seed, seedOptions),
    replay,
    add: (r) => {
      totals.commands += r.commands; totals.tasks += r.tasks; totals.completed += r.completed; totals.stale += r.staleRefused
      totals.restores += r.restores; totals.memberCrashes += r.memberCrashes; totals.workerCrashes += r.workerCrashes; totals.retries += r.retries
    },
    metrics: () => ({
      commands: totals.commands,
      tasks: totals.tasks,
      completed: totals.completed,
      stale_results_refused: totals.stale,
      snapshot_restores: totals.restores,
      member_crashes: totals.memberCrashes,
      worker_crashes: totals.workerCrashes,
      request_retries: totals.retries
    })
  })
}
