// The raft driver on the kit ports: it runs on any Clock and KvStore, and a core that throws
// stops the group with a clear error for every waiter instead of escaping a timer.
import assert from 'node:assert/strict'
import type { Logger } from '@libp2p/interface'
import { createRng } from '../../../protocols/kit/rng.ts'
import { encodeKvCommand } from '../../../protocols/raft/kv.ts'
import { COMPACT_ENTRIES_DEFAULT, COMPACT_LOG_BYTES_MIN, ENTRY_MEMORY_OVERHEAD_BYTES, RaftDriver } from '../../../protocols/raft/driver.ts'
import type { ApplyOutcome } from '../../../protocols/raft/state-machine.ts'
import { BuiltInKv } from '../../../protocols/raft/state-machine.ts'
import { RaftStorage } from '../../../protocols/raft/storage.ts'
import { settle, SimClock } from '../../../sim/kit/sim-clock.ts'
import { SimDisk } from '../../../sim/kit/sim-disk.ts'

function recordingLogger (errors: string[]): Logger {
  const log = Object.assign(() => {}, { error: (f: string, ...args: unknown[]) => { errors.push([f, ...args].join(' ')) }, trace: () => {}, enabled: false, newScope: () => log })
  return log as unknown as Logger
}

async function runFor (clock: SimClock, ms: number): Promise<void> {
  const until = clock.nowMs() + ms
  await settle()
  while (clock.step(until)) await settle()
  clock.advanceTo(until)
}

async function startDriver (clock: SimClock, voters: string[], errors: string[]): Promise<RaftDriver> {
  const disk = new SimDisk({ clock, rng: createRng(1) })
  return RaftDriver.start({
    storage: new RaftStorage(disk),
    machine: new BuiltInKv(),
    send: () => {},
    options: { id: 'n1', voters, heartbeatMs: 10, electionMs: 100, seed: 7, log: recordingLogger(errors), clock: clock.view() }
  })
}

describe('raft driver', () => {
  it('a single-member group elects itself and applies a proposal on the simulated clock and disk', async () => {
    const clock = new SimClock()
    const driver = await startDriver(clock, ['n1'], [])
    await runFor(clock, 500)
    assert.equal(driver.core.role, 'leader')
    let outcome: ApplyOutcome | undefined
    driver.propose(encodeKvCommand({ op: 'put', key: 'k', value: 'v' }), 'c', 1, (o) => { outcome = o })
    await runFor(clock, 50)
    assert.deepEqual(outcome, { ok: true, value: { ok: true, value: 'v' } })
    assert.ok(driver.stats().syncedWrites > 0, 'entries were fsynced')
    await driver.stop()
  })

  it('an exception from tick() stops the group, fails its waiters with a clear error, and never escapes the timer', async () => {
    const clock = new SimClock()
    const errors: string[] = []
    // two absent voters: no quorum, so the proposal and the read wait
    const driver = await startDriver(clock, ['n1', 'n2', 'n3'], errors)
    await runFor(clock, 50)
    let failed: Error | undefined
    driver.propose(encodeKvCommand({ op: 'put', key: 'k', value: 'v' }), 'c', 1, () => { assert.fail('must not apply') }, (err) => { failed = err })
    const applied = driver.waitApplied(1_000, new AbortController().signal).then(() => null, (err: Error) => err)
    const failedEvents: Error[] = []
    driver.addEventListener('failed', (e) => { failedEvents.push(e.detail.error) })
    driver.core.tick = () => { throw new Error('assertion failed: broken invariant') }
    await runFor(clock, 50) // would throw out of clock.step if the driver let it escape
    assert.equal(driver.stopped, true)
    assert.match(driver.failure?.message ?? '', /raft group stopped: tick threw: .*broken invariant/)
    assert.match(failed?.message ?? '', /raft group stopped: tick threw/)
    assert.match((await applied)?.message ?? '', /raft group stopped/)
    await assert.rejects(driver.readIndex(new AbortController().signal), /raft group stopped/)
    assert.equal(failedEvents.length, 1)
    assert.equal(errors.length, 1, 'logged once')
    assert.throws(() => { driver.propose(new Uint8Array(1), 'c', 2, () => {}) }, /raft group stopped/)
  })

  it('by default compacts once the applied log costs COMPACT_LOG_BYTES_MIN of memory, long before COMPACT_ENTRIES_DEFAULT small writes', async () => {
    const clock = new SimClock()
    const driver = await startDriver(clock, ['n1'], [])
    await runFor(clock, 500)
    assert.equal(driver.core.role, 'leader')
    // writes over a few keys: the state stays small, so the memory floor is what triggers
    const value = 'v'.repeat(64)
    const perEntry = encodeKvCommand({ op: 'put', key: 'k0', value }).byteLength + ENTRY_MEMORY_OVERHEAD_BYTES
    const writes = Math.ceil(COMPACT_LOG_BYTES_MIN / perEntry) + 50
    assert.ok(writes < COMPACT_ENTRIES_DEFAULT / 4, 'the count rule alone would not compact yet')
    let applied = 0
    for (let i = 1; i <= writes; i++) {
      driver.propose(encodeKvCommand({ op: 'put', key: `k${i % 8}`, value }), 'c', i, () => { applied++ })
      if (i % 100 === 0) await runFor(clock, 20)
    }
    await runFor(clock, 200)
    assert.equal(applied, writes)
    assert.ok(driver.core.log.snapshotIndex > 0, 'the log was compacted into a snapshot')
    assert.ok(driver.core.log.entries.length * perEntry <= COMPACT_LOG_BYTES_MIN, `at most the floor's worth of entries stay in memory (${driver.core.log.entries.length} entries)`)
    await driver.stop()
  })
})
