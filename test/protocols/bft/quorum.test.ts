// Table tests for the quorum arithmetic (SPEC bft B1).

import assert from 'node:assert/strict'
import { faultsTolerated, quorumSize, skipThreshold } from '../../../protocols/bft/quorum.ts'

describe('bft quorum math', () => {
  const table: Array<[n: number, f: number, quorum: number, skip: number]> = [
    [1, 0, 1, 1], [2, 0, 2, 1], [3, 0, 3, 1], [4, 1, 3, 2], [5, 1, 4, 2], [6, 1, 5, 2],
    [7, 2, 5, 3], [10, 3, 7, 4], [13, 4, 9, 5], [64, 21, 43, 22]
  ]
  for (const [n, f, quorum, skip] of table) {
    it(`n=${n}: f=${f}, quorum=${quorum}, skip=${skip}`, () => {
      assert.equal(faultsTolerated(n), f)
      assert.equal(quorumSize(n), quorum)
      assert.equal(skipThreshold(n), skip)
    })
  }

  it('any two quorums share at least f+1 members (so one honest) for n = 1..64', () => {
    for (let n = 1; n <= 64; n++) assert.ok(2 * quorumSize(n) - n >= faultsTolerated(n) + 1, `n=${n}`)
  })

  it('a quorum is reachable with f members silent', () => {
    for (let n = 1; n <= 64; n++) assert.ok(n - faultsTolerated(n) >= quorumSize(n), `n=${n}`)
  })

  it('rejects a non-positive member count', () => {
    assert.throws(() => faultsTolerated(0), RangeError)
    assert.throws(() => quorumSize(-1), RangeError)
  })
})
