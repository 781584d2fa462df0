// The machine plugs into a Raft group as `groups.join(name, { members, apply, snapshot })`: the
// group's custom state machine decodes entries, de-duplicates retried requests and snapshots it.
import assert from 'node:assert/strict'
import { CustomStateMachine } from '../../../protocols/raft/state-machine.ts'
import type { Entry } from '../../../protocols/raft/messages.ts'
import { createTaskMachine } from '../../../protocols/tasks/machine.ts'
import { encodeTaskCommand } from '../../../protocols/tasks/messages.ts'
import type { TaskCommand } from '../../../protocols/tasks/messages.ts'

let index = 0
function entry (command: TaskCommand, client = '', seq = 0): Entry {
  return { term: 1, index: ++index, kind: 'normal', data: encodeTaskCommand(command), client, seq }
}

describe('tasks machine hosted by a raft group', () => {
  it('applies through the group\'s state machine; a retried request applies once; snapshots carry the queue', async () => {
    const { machine, apply, snapshot } = createTaskMachine({ members: ['m1'] })
    const group = new CustomStateMachine(apply, snapshot)
    const submitted = await group.apply(entry({ op: 'submit', by: 'c', input: new Uint8Array([1]), idempotencyKey: 'k' }, 'c', 1))
    assert.ok(submitted.ok)
    const claim = entry({ op: 'claim', worker: 'w', max: 2 }, 'w', 1)
    const first = await group.apply(claim)
    const retried = await group.apply({ ...claim, index: ++index }) // same request id, new log position
    assert.deepEqual(retried, first, 'the retried claim gets the first answer')
    assert.equal(machine.lastToken, 1, 'and leased nothing more')
    const bad = await group.apply(entry({ op: 'claim', worker: 'w', max: 10_000 } as TaskCommand))
    assert.ok(!bad.ok && /max/.test(bad.error), 'a malformed command is a deterministic failure')

    const bytes = group.snapshot()!
    const other = createTaskMachine({ members: ['m1'] })
    const replica = new CustomStateMachine(other.apply, other.snapshot)
    replica.restore(bytes)
    assert.deepEqual(other.machine.snapshot(), machine.snapshot())
    assert.deepEqual(await replica.apply({ ...claim, index: ++index }), first, 'the session table travels with the snapshot')
  })
})
