// The Node.js version check that runs before anything else loads (src/node-version.ts).

import assert from 'node:assert/strict'
import { nodeVersionProblem, NODE_MAJOR_MIN } from '../../src/node-version-check.ts'

describe('Node.js version check', () => {
  it('accepts the minimum and newer', () => {
    assert.equal(nodeVersionProblem(`${NODE_MAJOR_MIN}.0.0`), undefined)
    assert.equal(nodeVersionProblem('24.21.0'), undefined)
    assert.equal(nodeVersionProblem(process.versions.node), undefined)
  })

  it('refuses Node 20 with a message naming both versions and what to do', () => {
    const problem = nodeVersionProblem('20.20.2')
    assert.ok(problem !== undefined)
    assert.match(problem, new RegExp(`needs Node.js ${NODE_MAJOR_MIN} or newer; this is Node.js 20.20.2`))
    assert.match(problem, /nvm install 24/)
  })
})
