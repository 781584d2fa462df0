// BFT through the API: four real nodes (TCP loopback) join a group with bft: true by joinGroup,
// one proposes a flagged value, and the decision, carried as JSON (bytes as {"$bytes"}), verifies
// on another node; a tampered copy does not.

import assert from 'node:assert/strict'
import type { AgentNode } from '../../../src/index.ts'
import { createApiApp } from '../../../node/api/server.ts'
import type { ApiApp } from '../../../node/api/context.ts'
import { connectAll, startCluster } from '../../protocols/bft/adapter-helpers.ts'

const TOKEN = 'test-token'

describe('API: BFT propose and verify (four real nodes)', function () {
  this.timeout(120_000)
  let nodes: AgentNode[]
  let cleanup: () => Promise<void>
  let apps: ApiApp[]
  const closing = new AbortController()

  const post = async (app: ApiApp, path: string, body: unknown): Promise<{ status: number, json: any }> => {
    const response = await app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { host: '127.0.0.1', authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
    return { status: response.status, json: await response.json() }
  }

  before(async () => {
    ({ nodes, cleanup } = await startCluster(4))
    await connectAll(nodes)
    apps = nodes.map(node => createApiApp({ node, token: TOKEN, policy: { boundHost: '127.0.0.1' }, closing: closing.signal }).app)
    const members = nodes.map(n => n.peerId)
    const joined = await Promise.all(apps.map(async app => post(app, '/v1/groups/council/join', { members, bft: true })))
    for (const { status, json } of joined) assert.equal(status, 200, JSON.stringify(json))
  })

  after(async () => {
    closing.abort()
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await cleanup()
  })

  it('a flagged decision comes back with a certificate that verifies elsewhere; a tampered one fails', async () => {
    const proposed = await post(apps[1]!, '/v1/groups/council/propose', { command: { approve: 'release-1.0', blob: { $bytes: 'AAEC' } }, bft: true, timeoutMs: 60_000 })
    assert.equal(proposed.status, 200, JSON.stringify(proposed.json))
    const decision = proposed.json.decision
    assert.deepEqual(decision.value, { approve: 'release-1.0', blob: { $bytes: 'AAEC' } })
    assert.ok(decision.certificate.signers.length >= 3, 'a quorum (3 of 4) signed')
    assert.ok(decision.certificate.signatures.every((s: unknown) => typeof (s as { $bytes?: unknown }).$bytes === 'string'), 'signatures travel as {"$bytes"}')
    const verified = await post(apps[3]!, '/v1/groups/council/verify', { decision })
    assert.deepEqual(verified.json, { valid: true })
    const tampered = structuredClone(decision)
    tampered.value.approve = 'release-6.6.6'
    assert.deepEqual((await post(apps[0]!, '/v1/groups/council/verify', { decision: tampered })).json, { valid: false })
  })
})
