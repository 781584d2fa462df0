import assert from 'node:assert/strict'
import { compareRecords, selectBest, selectRecordBytes } from '../../../protocols/state/select.ts'
import { dhtKeyOf, encodeRecord } from '../../../protocols/state/messages.ts'
import type { SignedRecord } from '../../../protocols/state/messages.ts'
import { identity, makeRecord } from './fixtures.ts'
import type { Identity } from './fixtures.ts'

const NOW = 1_800_000_000_000

describe('state selector (last-write-wins)', () => {
  let low: Identity
  let high: Identity
  before(async () => {
    const [a, b] = [await identity(), await identity()]
    ;[low, high] = a.id < b.id ? [a, b] : [b, a]
  })

  // Each row: two records; `winner` names the one every node must pick.
  const rows: Array<{ name: string, make: () => Promise<[SignedRecord, SignedRecord]>, winner: 0 | 1 }> = [
    { name: 'higher HLC wall time wins, whatever the author', winner: 1, make: async () => [await makeRecord(high, { nowMs: NOW }), await makeRecord(low, { nowMs: NOW + 1 })] },
    { name: 'higher HLC logical counter wins at equal wall time', winner: 0, make: async () => [await makeRecord(low, { nowMs: NOW, hlc: { wallMs: NOW, logical: 3 } }), await makeRecord(high, { nowMs: NOW, hlc: { wallMs: NOW, logical: 2 } })] },
    { name: 'equal HLC: the greater author id wins', winner: 1, make: async () => [await makeRecord(low, { nowMs: NOW }), await makeRecord(high, { nowMs: NOW })] },
    { name: 'same HLC and author: higher version wins', winner: 0, make: async () => [await makeRecord(low, { nowMs: NOW, version: 5 }), await makeRecord(low, { nowMs: NOW, version: 4 })] },
    { name: 'republished copy (later expiry) beats the older copy', winner: 1, make: async () => [await makeRecord(low, { nowMs: NOW }), await makeRecord(low, { nowMs: NOW, expiresAtMs: NOW + 7_200_000 })] },
    { name: 'version does not beat a later HLC', winner: 1, make: async () => [await makeRecord(high, { nowMs: NOW, version: 99 }), await makeRecord(low, { nowMs: NOW + 1, version: 1 })] }
  ]

  for (const row of rows) {
    it(row.name, async () => {
      const pair = await row.make()
      assert.equal(selectBest(pair), row.winner)
      assert.equal(selectBest([pair[1], pair[0]]), 1 - row.winner, 'order of arrival must not matter')
      assert.equal(selectRecordBytes(dhtKeyOf('shared/x'), pair.map(encodeRecord)), row.winner)
      assert.equal(Math.sign(compareRecords(pair[0], pair[1])), row.winner === 0 ? 1 : -1)
    })
  }

  it('is a total order: every permutation of a set picks the same record', async () => {
    const records = [
      await makeRecord(low, { nowMs: NOW }), await makeRecord(high, { nowMs: NOW }),
      await makeRecord(low, { nowMs: NOW, version: 2 }), await makeRecord(high, { nowMs: NOW - 5 })
    ]
    const expected = records[selectBest(records)]
    const permutations = (xs: SignedRecord[]): SignedRecord[][] => xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map(p => [x, ...p]))
    for (const p of permutations(records)) assert.equal(p[selectBest(p)], expected)
  })

  it('lets any decodable record beat garbage, and returns -1 for none', async () => {
    const good = encodeRecord(await makeRecord(low, { nowMs: NOW }))
    assert.equal(selectRecordBytes(dhtKeyOf('shared/x'), [new Uint8Array([1, 2, 3]), good]), 1)
    assert.equal(selectBest([]), -1)
  })
})
