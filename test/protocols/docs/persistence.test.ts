import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { openStorage } from '../../../src/storage.ts'
import { DocStore, shouldCompact, DOCS_COMPACT_UPDATES_MAX, DOCS_COMPACT_BYTES_MAX } from '../../../protocols/docs/persistence.ts'

describe('docs persistence', () => {
  it('shouldCompact: either bound triggers (table)', () => {
    const table: Array<[number, number, boolean]> = [
      [0, 0, false],
      [DOCS_COMPACT_UPDATES_MAX - 1, DOCS_COMPACT_BYTES_MAX - 1, false],
      [DOCS_COMPACT_UPDATES_MAX, 0, true],
      [1, DOCS_COMPACT_BYTES_MAX, true]
    ]
    for (const [updates, bytes, expected] of table) assert.equal(shouldCompact({ updates, bytes }), expected, `${updates} updates, ${bytes} bytes`)
    assert.equal(shouldCompact({ updates: 3, bytes: 0 }, { updatesMax: 3 }), true)
  })

  it('appends, compacts atomically into one snapshot, and restores the same document', async () => {
    const storage = await openStorage({})
    try {
      const db = storage.sublevel('docs')
      const source = new Y.Doc()
      const store = new DocStore(db, 'notes')
      const other = new DocStore(db, 'notes/sub')
      await store.load()
      await other.append(Y.encodeStateAsUpdate(new Y.Doc()))
      const pending: Uint8Array[] = []
      source.on('update', (u: Uint8Array) => { pending.push(u) })
      for (let i = 0; i < 5; i++) source.getText('t').insert(i, String(i))
      for (const u of pending.splice(0)) await store.append(u)
      assert.deepEqual(store.size().updates, 5)
      await store.compact(Y.encodeStateAsUpdate(source))
      assert.deepEqual(store.size(), { updates: 0, bytes: 0 })
      source.getText('t').insert(5, '!')
      for (const u of pending.splice(0)) await store.append(u)

      const reopened = new DocStore(db, 'notes')
      const stored = await reopened.load()
      assert.ok(stored.snapshot !== undefined)
      assert.equal(stored.updates.length, 1, 'only the update after the snapshot is logged')
      const restored = new Y.Doc()
      Y.applyUpdate(restored, stored.snapshot)
      for (const u of stored.updates) Y.applyUpdate(restored, u)
      assert.equal(restored.getText('t').toString(), '01234!')
      // A document whose name extends another's keeps its own log.
      assert.equal((await new DocStore(db, 'notes/sub').load()).updates.length, 1)
      // Appending after reopening continues the sequence instead of overwriting.
      await reopened.append(new Uint8Array([0, 0]))
      assert.equal((await new DocStore(db, 'notes').load()).updates.length, 2)
    } finally {
      await storage.close()
    }
  })
})
