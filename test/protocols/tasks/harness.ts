// A task machine driven the way a Raft group drives it: commands through CBOR, growing indexes,
// the structural invariants checked after every command.
import assert from 'node:assert/strict'
import { decodeCbor, encodeCbor } from '../../../protocols/kit/cbor.ts'
import { TaskMachine } from '../../../protocols/tasks/machine.ts'
import type { TaskMachineOptions } from '../../../protocols/tasks/machine.ts'
import type { TaskCommand } from '../../../protocols/tasks/messages.ts'
import type { LeaseGrant, TaskResult } from '../../../protocols/tasks/results.ts'

/** A machine plus an index counter and a replicated clock helper. */
export class Queue {
  machine: TaskMachine
  index = 0
  epoch = 1
  elapsedMs = 0

  constructor (options: TaskMachineOptions = {}) {
    this.machine = new TaskMachine(options)
  }

  apply (command: TaskCommand): TaskResult {
    const decoded = decodeCbor(encodeCbor(command), { bytesMax: 1 << 20, what: 'test command' })
    const result = this.machine.apply(decoded, { index: ++this.index })
    this.machine.checkInvariants()
    return result
  }

  /** Advance the replicated clock by `ms` (a tick of the current epoch). */
  advance (ms: number): void {
    this.elapsedMs += ms
    this.apply({ op: 'tick', epoch: this.epoch, elapsedMs: this.elapsedMs })
  }

  submit (fields: Partial<Extract<TaskCommand, { op: 'submit' }>> = {}): string {
    const r = this.apply({ op: 'submit', by: 'client', input: new Uint8Array([1, 2, 3]), ...fields })
    assert.ok(r.ok && r.op === 'submit', JSON.stringify(r))
    return r.taskId
  }

  claim (worker: string, options: { max?: number, kind?: 'work' | 'validate', capabilities?: string[], concurrency?: number } = {}): LeaseGrant[] {
    const r = this.apply({ op: 'claim', worker, max: options.max ?? 1, ...options })
    assert.ok(r.ok && r.op === 'claim', JSON.stringify(r))
    return r.leases
  }

  complete (worker: string, lease: LeaseGrant, output = new Uint8Array([7])): TaskResult {
    return this.apply({ op: 'complete', worker, taskId: lease.taskId, token: lease.token, output })
  }

  fail (worker: string, lease: LeaseGrant, type = 'Oops', retryable?: boolean): TaskResult {
    return this.apply({ op: 'fail', worker, taskId: lease.taskId, token: lease.token, error: { type, message: 'went wrong' }, ...(retryable === undefined ? {} : { retryable }) })
  }

  state (taskId: string): string | undefined { return this.machine.get(taskId)?.state }
}
