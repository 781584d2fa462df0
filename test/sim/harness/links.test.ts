import assert from 'node:assert/strict'
import { LinkPolicy } from '../../../sim/harness/links.ts'

describe('LinkPolicy', () => {
  it('cuts every link across groups and none within', () => {
    const links = new LinkPolicy()
    links.partition([['a', 'b'], ['c']])
    const table: Array<[string, string, boolean]> = [['a', 'b', false], ['a', 'c', true], ['c', 'b', true], ['a', 'a', false], ['a', 'z', false], ['z', 'c', false]]
    for (const [x, y, cut] of table) assert.equal(links.isCut(x, y), cut, `${x}-${y}`)
    assert.deepEqual(links.deniedFor('c', ['a', 'b', 'c', 'z']), ['a', 'b'])
    links.heal()
    assert.equal(links.isCut('a', 'c'), false)
  })

  it('cuts and restores single links symmetrically, independent of partitions', () => {
    const links = new LinkPolicy()
    links.cut('b', 'a')
    assert.equal(links.isCut('a', 'b'), true)
    links.partition([['a'], ['c']])
    links.heal()
    assert.equal(links.isCut('a', 'b'), true, 'heal leaves single cuts alone')
    links.restore('a', 'b')
    assert.equal(links.isCut('b', 'a'), false)
  })
})
