// One seeded run of a task queue under faults: a workload (sim/tasks/workload.ts) proposes
// commands to a replica and a twin replica; the checker (sim/tasks/checker.ts) judges every step;
// now and then the replica is rebuilt from its own snapshot; a drain phase checks that work ends.

import { encodeCbor, decodeCbor } from '../../protocols/kit/cbor.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { describeCommand } from '../../protocols/tasks/messages.ts'
import type { TaskCommand } from '../../protocols/tasks/messages.ts'
import { TaskMachine } from '../../protocols/tasks/machine.ts'
import { describeResult } from '../../protocols/tasks/results.ts'
import type { TaskResult } from '../../protocols/tasks/results.ts'
import type { TaskFault } from '../../protocols/tasks/state.ts'
import { TasksChecker } from './checker.ts'
import { TasksWorkload, drawConfig } from './workload.ts'

/** Options of one seed. */
export interface TasksSeedOptions {
  /** A deliberate bug in the machine, to see the checker catch it. */
  inject?: TaskFault
  /** Steps of the faulty phase (default drawn: 150–400). */
  steps?: number
  trace?: boolean
}

/** What one seed did. */
export interface TasksSeedResult {
  seed: number
  ok: boolean
  failures: string[]
  commands: number
  tasks: number
  completed: number
  staleRefused: number
  restores: number
  trace: string[]
}

/** Rounds of the drain phase before the queue must be quiet. */
const DRAIN_ROUNDS_MAX = 400

/** Run one seed. */
export function runTasksSeed (seed: number, options: TasksSeedOptions = {}): TasksSeedResult {
  const rng = createRng(seed)
  const config = drawConfig(rng, options.steps !== undefined ? { steps: options.steps } : {})
  const faults = options.inject !== undefined ? [options.inject] : []
  let machine = new TaskMachine({ ...config.queue, faults })
  const twin = new TaskMachine({ ...config.queue, faults }) // a second replica: the same commands give the same bytes
  const workload = new TasksWorkload(rng.fork(), config)
  const checker = new TasksChecker()
  const trace: string[] = []
  let index = 0
  let restores = 0

  // in a fifth of the seeds commands travel as CBOR, as a Raft group's apply receives them (the
  // workload already builds the decoded shapes; the round trip is what costs most in a seed)
  const roundTrip = rng.chance(0.2)
  const apply = (command: TaskCommand): TaskResult => {
    const decoded = roundTrip ? decodeCbor(encodeCbor(command), { bytesMax: 1 << 20, what: 'sim command' }) : command
    index++
    checker.before(command, machine)
    const result = machine.apply(decoded, { index })
    twin.apply(decoded, { index })
    twin.drainUpdates()
    checker.after(command, result, machine, machine.drainUpdates())
    if (options.trace === true) trace.push(`${index} clock=${machine.clockMs} ${describeCommand(command)} → ${describeResult(result)}`)
    workload.observe(command, result)
    return result
  }

  apply(workload.start())
  const faultRng = rng.fork()
  for (let step = 0; step < config.steps && checker.failures.length === 0; step++) {
    apply(workload.next(machine))
    if (step % 25 === 0) checker.checkNoLoss(machine)
    if (faultRng.chance(0.02)) { // a replica restarts from its snapshot
      const bytes = machine.snapshot()
      machine = new TaskMachine({ ...config.queue, faults })
      machine.restore(bytes)
      restores++
    }
  }
  for (let round = 0; round < DRAIN_ROUNDS_MAX && checker.failures.length === 0; round++) {
    if (machine.tasks().every((t) => ['completed', 'failed', 'canceled', 'rejected'].includes(t.state))) break
    for (const command of workload.healthyRound(machine)) apply(command)
  }
  if (checker.failures.length === 0) {
    checker.checkNoLoss(machine)
    checker.checkAllEnded(machine)
    if (Buffer.compare(Buffer.from(machine.snapshot()), Buffer.from(twin.snapshot())) !== 0) checker.failures.push('determinism: two replicas that applied the same commands hold different state')
  }
  return { seed, ok: checker.failures.length === 0, failures: checker.failures, commands: index, tasks: checker.tasksCreated, completed: checker.completed, staleRefused: checker.staleRefused, restores, trace }
}
