// Structural invariants of a queue's replicated data (SPEC tasks T1, T3): leases, the ready list,
// timers and retention indexes agree. A timer is never lost: the next timer pass is due no later
// than it (or already due, when a pass ran out of budget). Messages are built only on failure:
// this runs after every command in the simulator.

import { AssertionError } from '../kit/assert.ts'
import { TERMINAL_STATES, chargeOf } from './state.ts'
import type { QueueState } from './state.ts'

function check (condition: boolean, message: () => string): void {
  if (!condition) throw new AssertionError(`assertion failed: ${message()}`)
}

/** Throw AssertionError naming the first broken invariant. */
export function checkQueueInvariants (s: QueueState): void {
  const leased = new Map<string, string>()
  const ready = new Set(s.ready)
  let storedBytes = 0
  for (const t of s.tasks.values()) {
    storedBytes += t.charge
    check(t.charge === chargeOf(t), () => `task ${t.id} charged ${t.charge} bytes but holds ${chargeOf(t)}`)
    const lease = t.lease
    if (lease !== undefined) {
      check(lease.token <= s.token, () => `task ${t.id} lease token ${lease.token} above the counter ${s.token}`)
      check(s.workers.get(lease.worker)?.leases.has(t.id) === true, () => `task ${t.id} leased to ${lease.worker}, who does not list it`)
      check(t.state === (lease.kind === 'work' ? 'working' : 'validating'), () => `task ${t.id} leased for ${lease.kind} but ${t.state}`)
      check(s.nextDueMs <= Math.max(lease.expiresAtMs, s.clockMs), () => `task ${t.id} leased with no timer due by ${lease.expiresAtMs}`)
      leased.set(t.id, lease.worker)
    }
    check(t.state !== 'working' || lease !== undefined, () => `task ${t.id} working without a lease`)
    check((t.state === 'submitted') === ready.has(t.id), () => `task ${t.id} is ${t.state} but ${ready.has(t.id) ? '' : 'not '}in the ready list`)
    check(t.state !== 'retrying' || s.nextDueMs <= Math.max(t.notBeforeMs, s.clockMs), () => `task ${t.id} retrying with no timer due by ${t.notBeforeMs}`)
    check(TERMINAL_STATES.has(t.state) === (s.deadLetters.has(t.id) || s.ended.has(t.id)), () => `task ${t.id} ${t.state} but the retention indexes disagree`)
  }
  for (const w of s.workers.values()) for (const id of w.leases) check(leased.get(id) === w.id, () => `worker ${w.id} lists ${id} without holding its lease`)
  check(s.ready.length === ready.size, () => 'a task is in the ready list twice')
  for (const id of s.ready) check(s.tasks.has(id), () => `ready list names unknown task ${id}`)
  check(s.deadLetters.size + s.ended.size <= s.tasks.size, () => 'retention indexes name purged tasks')
  check(storedBytes === s.storedBytes, () => `byte accounting says ${s.storedBytes} bytes, tasks are charged ${storedBytes}`)
}
