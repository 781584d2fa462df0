// The task machine alone, no Raft: how many commands per second one replica applies in a
// submit → claim → renew → complete cycle with `--live` tasks waiting. Prints one JSON line.
// `node sim/tasks/bench-machine.ts [--tasks N] [--live L] [--batch B]`

import { TaskMachine } from '../../protocols/tasks/machine.ts'
import type { SingleCommand, TaskCommand } from '../../protocols/tasks/messages.ts'

function flag (name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}

const tasks = flag('tasks', 50_000)
const live = flag('live', 1000)
const batch = flag('batch', 1)
const machine = new TaskMachine({ leaseMs: 30_000 })
let index = 0
let commands = 0
const pending: SingleCommand[] = []
const apply = (c: SingleCommand): void => {
  pending.push(c)
  if (pending.length < batch) return
  const command: TaskCommand = batch === 1 ? pending[0]! : { op: 'batch', commands: pending.splice(0) }
  pending.length = 0
  const result = machine.apply(command, { index: ++index })
  if (!result.ok) throw new Error(`bench command refused: ${result.message}`)
  commands++
}
const input = new Uint8Array(64)
for (let i = 0; i < live; i++) apply({ op: 'submit', by: 'client', input })
const started = performance.now()
let elapsedMs = 0
for (let done = 0; done < tasks; done++) {
  apply({ op: 'submit', by: 'client', input })
  if (pending.length > 0) continue
  const claim = machine.apply({ op: 'claim', worker: `w${done % 8}`, max: 1, concurrency: 4 }, { index: ++index })
  commands++
  if (!claim.ok || claim.op !== 'claim' || claim.leases.length === 0) continue
  const lease = claim.leases[0]!
  machine.apply({ op: 'complete', worker: `w${done % 8}`, taskId: lease.taskId, token: lease.token, output: input }, { index: ++index })
  commands++
  if (done % 100 === 0) { elapsedMs += 100; machine.apply({ op: 'tick', epoch: 1, elapsedMs }, { index: ++index }); commands++ }
  machine.drainUpdates()
}
const seconds = (performance.now() - started) / 1000
process.stdout.write(JSON.stringify({ bench: 'tasks machine', tasks, live, batch, commands, commands_per_s: Math.round(commands / seconds), tasks_per_s: Math.round(tasks / seconds), snapshot_bytes: machine.snapshot().byteLength }) + '\n')
