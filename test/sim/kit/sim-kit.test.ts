// The simulator's clock and disk (sim/kit): timers in order on virtual time, and a disk whose
// crashes keep exactly what was synced, never tear a synced batch, and may tear an unsynced one.

import assert from 'node:assert/strict'
import { createRng } from '../../../protocols/kit/rng.ts'
import { SYNC } from '../../../protocols/kit/store.ts'
import type { KvOperation } from '../../../protocols/kit/store.ts'
import { SimClock } from '../../../sim/kit/sim-clock.ts'
import { SimDisk } from '../../../sim/kit/sim-disk.ts'

const bytes = (n: number): Uint8Array => Uint8Array.from([n])
const puts = (prefix: string, count: number): KvOperation[] => Array.from({ length: count }, (_, i) => ({ type: 'put', key: `${prefix}${i}`, value: bytes(i) }))

describe('sim kit: clock', () => {
  it('fires timers in (time, creation) order, runs intervals, and a halted view drops its timers', async () => {
    const clock = new SimClock()
    const fired: string[] = []
    clock.setTimeout(() => fired.push(`b@${clock.nowMs()}`), 20)
    clock.setTimeout(() => fired.push(`a@${clock.nowMs()}`), 10)
    clock.setTimeout(() => fired.push(`c@${clock.nowMs()}`), 20)
    const interval = clock.setInterval(() => fired.push(`i@${clock.nowMs()}`), 15)
    const view = clock.view()
    view.setTimeout(() => fired.push('never'), 25)
    view.setInterval(() => fired.push('never'), 5)
    clock.setTimeout(() => { view.halt() }, 4)
    await clock.runUntil(31)
    interval.cancel()
    await clock.runUntil(100)
    assert.deepEqual(fired, ['a@10', 'i@15', 'b@20', 'c@20', 'i@30'])
    assert.equal(clock.nowMs(), 100)
  })

  it('lets promise continuations run before time moves on', async () => {
    const clock = new SimClock()
    const seen: number[] = []
    clock.setTimeout(() => { void Promise.resolve().then(() => { seen.push(clock.nowMs()) }) }, 7)
    await clock.runUntil(50)
    assert.deepEqual(seen, [7])
  })
})

describe('sim kit: disk', () => {
  it('reads what completed writes wrote, in key order, with ranges', async () => {
    const clock = new SimClock()
    const disk = new SimDisk({ clock, rng: createRng(1) })
    const done = disk.batch([...puts('log/', 3), { type: 'put', key: 'state', value: bytes(9) }], SYNC)
    assert.equal(await disk.get('state'), undefined, 'not visible before the write completes')
    await clock.runUntil(10)
    await done
    assert.deepEqual(await disk.get('state'), bytes(9))
    const keys: string[] = []
    for await (const key of disk.keys({ gte: 'log/', lt: 'log/~', reverse: true, limit: 2 })) keys.push(key)
    assert.deepEqual(keys, ['log/2', 'log/1'])
  })

  it('a crash keeps synced writes, loses unsynced ones, and a later sync makes earlier writes durable', async () => {
    const clock = new SimClock()
    const disk = new SimDisk({ clock, rng: createRng(2) })
    void disk.put('a', bytes(1), SYNC)
    void disk.put('b', bytes(2))
    await clock.runUntil(10)
    assert.deepEqual(await disk.get('b'), bytes(2), 'visible while the process lives')
    const image = disk.crash()
    assert.deepEqual([...image.keys()], ['a'])
    const again = new SimDisk({ clock, rng: createRng(3), image })
    void again.put('b', bytes(2))
    void again.put('c', bytes(3), SYNC)
    await clock.runUntil(20)
    assert.deepEqual([...again.crash().keys()].sort(), ['a', 'b', 'c'])
  })

  it('an in-flight synced batch survives whole or not at all; an unsynced one may be torn', async () => {
    const synced = new Set<number>()
    const unsynced = new Set<number>()
    for (let seed = 1; seed <= 40; seed++) {
      const clock = new SimClock()
      const disk = new SimDisk({ clock, rng: createRng(seed) })
      void disk.batch(puts('s', 4), SYNC)
      synced.add(disk.crash().size)
      const other = new SimDisk({ clock, rng: createRng(seed) })
      void other.batch(puts('u', 4))
      unsynced.add(other.crash().size)
    }
    assert.deepEqual([...synced].sort(), [0, 4], 'never a part of a synced batch; both outcomes happen')
    assert.ok([...unsynced].some(size => size > 0 && size < 4), `an unsynced batch is torn in some seed (sizes ${[...unsynced].join(',')})`)
  })

  it('never completes a write issued after the crash (the process is gone)', async () => {
    const clock = new SimClock()
    const disk = new SimDisk({ clock, rng: createRng(4) })
    disk.crash()
    let settled = false
    disk.put('x', bytes(1), SYNC).finally(() => { settled = true })
    await clock.runUntil(100)
    assert.equal(settled, false)
  })
})
