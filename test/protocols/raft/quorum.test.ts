// Table tests for majority quorum maths.
import assert from 'node:assert/strict'
import { committedIndex, hasQuorum, majority, voteResult } from '../../../protocols/raft/quorum.ts'

describe('raft quorum', () => {
  it('majority sizes', () => {
    for (const [n, m] of [[1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [7, 4]]) assert.equal(majority(n!), m)
  })
  it('committed index is the majority-acknowledged index', () => {
    const table: Array<[Record<string, number>, number]> = [
      [{ a: 5 }, 5],
      [{ a: 5, b: 3, c: 1 }, 3],
      [{ a: 5, b: 5, c: 1 }, 5],
      [{ a: 9, b: 2, c: 4, d: 4 }, 4],
      [{ a: 9, b: 2, c: 4, d: 3, e: 1 }, 3],
      [{ a: 0, b: 0, c: 7 }, 0]
    ]
    for (const [matches, expected] of table) assert.equal(committedIndex(Object.keys(matches), (id) => matches[id]!), expected, JSON.stringify(matches))
    assert.equal(committedIndex(['a', 'b', 'c'], (id) => id === 'a' ? 4 : 0), 0, 'missing voters count as 0')
  })
  it('vote results', () => {
    const v = (o: Record<string, boolean>): Map<string, boolean> => new Map(Object.entries(o))
    assert.equal(voteResult(['a', 'b', 'c'], v({ a: true })), 'pending')
    assert.equal(voteResult(['a', 'b', 'c'], v({ a: true, b: true })), 'won')
    assert.equal(voteResult(['a', 'b', 'c'], v({ a: true, b: false, c: false })), 'lost')
    assert.equal(voteResult(['a', 'b', 'c', 'd'], v({ a: true, b: true, c: false })), 'pending')
    assert.equal(voteResult(['a', 'b', 'c', 'd'], v({ a: true, b: false, c: false })), 'lost')
    assert.equal(voteResult(['a', 'b', 'c'], v({ x: true, y: true, a: true })), 'pending', 'non-voters do not count')
  })
  it('hasQuorum', () => {
    assert.equal(hasQuorum(['a', 'b', 'c'], new Set(['a', 'c'])), true)
    assert.equal(hasQuorum(['a', 'b', 'c', 'd'], new Set(['a', 'c'])), false)
  })
})
