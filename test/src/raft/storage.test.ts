// RaftStorage: what one group persists (hard state, entries, snapshots) and loads back on restart.

import assert from 'node:assert/strict'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { DecodeError } from '../../../protocols/kit/errors.ts'
import { openStorage } from '../../../src/storage.ts'
import { RaftStorage } from '../../../protocols/raft/storage.ts'
import type { Entry } from '../../../protocols/raft/messages.ts'
import type { Ready } from '../../../protocols/raft/ready.ts'
import type { KvOperation, KvStore, KvWriteOptions } from '../../../protocols/kit/store.ts'

function entry (term: number, index: number): Entry { return { term, index, kind: 'normal', data: new Uint8Array([index]), client: 'c', seq: index } }
function ready (fields: Partial<Ready>): Ready {
  return { hardState: null, snapshot: null, entries: [], messages: [], committedEntries: [], readStates: [], events: [], ...fields }
}
const zero = { term: 0, vote: '', commit: 0 }

describe('raft storage', () => {
  it('round-trips hard state and entries, replaces a conflicting suffix, and syncs only when it must', async () => {
    const db = await openStorage({})
    try {
      const s = new RaftStorage(db.sublevel('raft/g'))
      assert.equal(await s.load(), null)
      const r1 = await s.persist(ready({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: [entry(1, 1), entry(1, 2), entry(1, 3)] }), zero)
      assert.equal(r1.synced, true)
      // a new leader overwrites index 2.. with a shorter suffix of term 2
      await s.persist(ready({ hardState: { term: 2, vote: 'b', commit: 1 }, entries: [entry(2, 2)] }), { term: 1, vote: 'a', commit: 0 })
      const commitOnly = await s.persist(ready({ hardState: { term: 2, vote: 'b', commit: 2 } }), { term: 2, vote: 'b', commit: 1 })
      assert.equal(commitOnly.synced, false, 'a commit-only change is not fsynced (etcd MustSync)')
      await s.flush()
      const loaded = await new RaftStorage(db.sublevel('raft/g')).load()
      assert.deepEqual(loaded?.hardState, { term: 2, vote: 'b', commit: 2 })
      assert.deepEqual(loaded?.entries.map((e) => `${e.term}/${e.index}`), ['1/1', '2/2'])
    } finally {
      await db.close()
    }
  })

  it('a commit-only change is kept back for the next batch or the tick, and batches land in order', async () => {
    const db = await openStorage({})
    try {
      const inner: KvStore = db.sublevel('raft/g')
      const order: string[] = []
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => { release = resolve })
      // a store whose unsynced batches are held until the gate opens
      const store: KvStore = {
        get: async (key) => inner.get(key),
        put: async (key, value, options) => inner.put(key, value, options),
        del: async (key, options) => inner.del(key, options),
        iterator: (range) => inner.iterator(range),
        keys: (range) => inner.keys(range),
        values: (range) => inner.values(range),
        batch: async (ops: KvOperation[], options?: KvWriteOptions) => {
          const what = options?.sync === true ? 'synced' : 'commit-only'
          if (what === 'commit-only') await gate
          await inner.batch(ops, options)
          order.push(what)
        }
      }
      const s = new RaftStorage(store)
      await s.persist(ready({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: [entry(1, 1)] }), zero)
      const commitOnly = await s.persist(ready({ hardState: { term: 1, vote: 'a', commit: 1 } }), { term: 1, vote: 'a', commit: 0 })
      assert.equal(commitOnly.synced, false)
      // the next batch carries the kept-back commit although its Ready has no hard state
      await s.persist(ready({ entries: [entry(1, 2)] }), { term: 1, vote: 'a', commit: 1 })
      assert.deepEqual(order, ['synced', 'synced'], 'no batch of its own for a commit-only change')
      assert.deepEqual((await new RaftStorage(inner).load())?.hardState, { term: 1, vote: 'a', commit: 1 })
      // kept back again, then written on the tick (unsynced, not awaited); the next batch waits for it
      await s.persist(ready({ hardState: { term: 1, vote: 'a', commit: 2 } }), { term: 1, vote: 'a', commit: 1 })
      s.flushCommit()
      const next = s.persist(ready({ entries: [entry(1, 3)] }), { term: 1, vote: 'a', commit: 2 })
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.deepEqual(order, ['synced', 'synced'], 'the next batch waits for the held commit-only one')
      release()
      await next
      assert.deepEqual(order, ['synced', 'synced', 'commit-only', 'synced'])
      const loaded = await new RaftStorage(inner).load()
      assert.deepEqual(loaded?.hardState, { term: 1, vote: 'a', commit: 2 })
      assert.deepEqual(loaded?.entries.map((e) => e.index), [1, 2, 3])
    } finally {
      await db.close()
    }
  })

  it('a snapshot drops the entries it covers; a follower snapshot replaces the whole log', async () => {
    const db = await openStorage({})
    try {
      const s = new RaftStorage(db.sublevel('raft/g'))
      await s.persist(ready({ hardState: { term: 1, vote: 'a', commit: 4 }, entries: [1, 2, 3, 4, 5].map((i) => entry(1, i)) }), zero)
      await s.saveSnapshot({ index: 3, term: 1, voters: ['a', 'b', 'c'], data: new Uint8Array([9]) })
      let loaded = await new RaftStorage(db.sublevel('raft/g')).load()
      assert.equal(loaded?.snapshot?.index, 3)
      assert.deepEqual(loaded?.entries.map((e) => e.index), [4, 5])
      const s2 = new RaftStorage(db.sublevel('raft/g'))
      await s2.load()
      await s2.persist(ready({ snapshot: { index: 10, term: 3, voters: ['a', 'b', 'c'], data: new Uint8Array([7]) } }), { term: 1, vote: 'a', commit: 4 })
      loaded = await new RaftStorage(db.sublevel('raft/g')).load()
      assert.equal(loaded?.snapshot?.index, 10)
      assert.deepEqual(loaded?.entries, [])
      // a leader snapshot below the stored suffix still drops every stored entry (SPEC E1)
      const s3 = new RaftStorage(db.sublevel('raft/h'))
      await s3.persist(ready({ hardState: { term: 1, vote: 'a', commit: 2 }, entries: [1, 2, 3, 4, 5, 6].map((i) => entry(1, i)) }), zero)
      await s3.persist(ready({ snapshot: { index: 4, term: 2, voters: ['a'], data: new Uint8Array([1]) }, entries: [entry(2, 5)] }), { term: 1, vote: 'a', commit: 2 })
      loaded = await new RaftStorage(db.sublevel('raft/h')).load()
      assert.deepEqual(loaded?.entries.map((e) => `${e.term}/${e.index}`), ['2/5'])
    } finally {
      await db.close()
    }
  })

  it('corrupt hard state or snapshot fails load with a typed error naming what is wrong', async () => {
    const db = await openStorage({})
    try {
      const hard = db.sublevel('raft/h')
      await hard.put('hard', encodeCbor({ term: 'one', vote: 'a', commit: 0 }))
      await assert.rejects(new RaftStorage(hard).load(), (err) => err instanceof DecodeError && /hard state: term\/commit/.test(err.message))
      const snap = db.sublevel('raft/s')
      await snap.put('snap', encodeCbor({ index: 3, term: 1, voters: [], data: new Uint8Array(0) }))
      await assert.rejects(new RaftStorage(snap).load(), (err) => err instanceof DecodeError && /snapshot voters/.test(err.message))
    } finally {
      await db.close()
    }
  })
})
