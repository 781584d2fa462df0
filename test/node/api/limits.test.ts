// The API's own bounds on one in-process node: open streams stop at SSE_CLIENTS_MAX (429), and a
// closed stream gives its slot back.

import assert from 'node:assert/strict'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { createApiApp } from '../../../node/api/server.ts'
import type { ApiApp } from '../../../node/api/context.ts'
import { SSE_CLIENTS_MAX } from '../../../node/api/sse.ts'

const TOKEN = 'limits-token'
const HEADERS = { host: '127.0.0.1', authorization: `Bearer ${TOKEN}` }

describe('API limits (one in-process node)', function () {
  this.timeout(60_000)
  let node: AgentNode
  let app: ApiApp
  const closing = new AbortController()

  before(async () => {
    node = await createAgentNode({ transport: 'memory' })
    app = createApiApp({ node, token: TOKEN, policy: { boundHost: '127.0.0.1' }, closing: closing.signal }).app
  })
  after(async () => {
    closing.abort()
    await node.stop()
  })

  it(`refuses stream ${SSE_CLIENTS_MAX + 1} with 429 naming SSE_CLIENTS_MAX, and admits one again after a stream closes`, async () => {
    const open: Response[] = []
    for (let i = 0; i < SSE_CLIENTS_MAX; i++) {
      const response = await app.request(`/v1/events/limits-${i % 4}/stream`, { headers: HEADERS })
      assert.equal(response.status, 200)
      open.push(response)
    }
    const refused = await app.request('/v1/inbox', { headers: HEADERS })
    assert.equal(refused.status, 429)
    const body = await refused.json() as { error: { code: string, message: string } }
    assert.equal(body.error.code, 'ERR_TOO_MANY_STREAMS')
    assert.match(body.error.message, /SSE_CLIENTS_MAX/)
    await open.pop()!.body!.cancel()
    let admitted: Response | undefined
    for (let attempt = 0; attempt < 200 && admitted?.status !== 200; attempt++) {
      // The slot returns once the server notices the cancel: retry briefly.
      admitted = await app.request('/v1/events/limits-0/stream', { headers: HEADERS })
      if (admitted.status !== 200) await new Promise(resolve => setTimeout(resolve, 10))
    }
    assert.equal(admitted?.status, 200)
    open.push(admitted!)
    await Promise.all(open.map(async r => { await r.body!.cancel() }))
  })
})
