// End-to-end tests of the local HTTP API: two real node processes started with
// `--api 127.0.0.1:0 --data-dir <tmp> --json`, the Python example run against them with python3,
// and the API's guards (token, Host/Origin, body limits), errors and SSE resume.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { stat, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as Y from 'yjs'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { tempDir } from '../../helpers.ts'
import { NodeProcess, REPO } from './node-process.ts'
import type { Line } from './node-process.ts'

const run = promisify(execFile)
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0']
const PYTHON_DIR = join(REPO, 'node/examples/python')

/** The DESIGN contract's operationIds ("Agents in any language"). */
const CONTRACT_OPERATIONS = ['getNode', 'openQueue', 'publishEvent', 'listEvents', 'streamEvents', 'getState', 'putState', 'findAgents', 'sendRequest', 'propose', 'submitTask', 'getTask', 'claimTask', 'completeTask', 'failTask']

interface Running { process: NodeProcess, ready: Line, url: string, token: string, dataDir: string }

/** Read SSE events from a response until `count` arrived; returns them with their ids. */
async function readSse (response: Response, count: number): Promise<Array<{ id?: string, event?: string, data: string }>> {
  const events: Array<{ id?: string, event?: string, data: string }> = []
  const decoder = new TextDecoder()
  let buffer = ''
  let current: { id?: string, event?: string, data: string[] } = { data: [] }
  const reader = response.body!.getReader()
  try {
    while (events.length < count) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let newline: number
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '')
        buffer = buffer.slice(newline + 1)
        if (line === '') {
          if (current.data.length > 0) events.push({ ...(current.id !== undefined ? { id: current.id } : {}), ...(current.event !== undefined ? { event: current.event } : {}), data: current.data.join('\n') })
          current = { data: [] }
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':')
          const field = line.slice(0, colon)
          const value = line.slice(colon + 1).replace(/^ /, '')
          if (field === 'id') current.id = value
          else if (field === 'event') current.event = value
          else if (field === 'data') current.data.push(value)
        }
      }
    }
  } finally {
    await reader.cancel()
  }
  return events
}

/** A raw HTTP request with any Host header (fetch does not let a caller set Host). */
async function rawGet (url: string, headers: Record<string, string>): Promise<{ status: number, body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) })
    })
    req.on('error', reject).end()
  })
}

describe('local HTTP API (real node processes, Python example)', function () {
  this.timeout(120_000)
  const cleanups: Array<() => Promise<void>> = []
  let a: Running
  let b: Running

  async function start (args: string[]): Promise<Running> {
    const dir = await tempDir('agentmesh-api-')
    const process = new NodeProcess(['--api', '127.0.0.1:0', '--data-dir', dir.path, ...LOOPBACK, ...args])
    cleanups.push(async () => { await process.stop(); await dir.remove() })
    const ready = await process.ready()
    const token = (await readFile(join(dir.path, 'api-token'), 'utf8')).trim()
    return { process, ready, url: ready.api as string, token, dataDir: dir.path }
  }

  const call = async (node: Running, path: string, init: RequestInit = {}): Promise<Response> => fetch(`${node.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${node.token}`, ...(init.body !== undefined && typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}), ...init.headers as Record<string, string> }
  })

  before(async () => {
    a = await start(['--name', 'a', '--capability', 'reverse'])
    const joinA = (a.ready.addresses as string[]).find(x => x.startsWith('/ip4/127.0.0.1/'))!
    b = await start(['--name', 'b', '--peer', joinA])
  })
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('the ready line names the API and the token file, which is mode 0600', async () => {
    assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(a.ready.apiTokenFile, join(a.dataDir, 'api-token'))
    assert.equal((await stat(join(a.dataDir, 'api-token'))).mode & 0o777, 0o600)
    assert.ok(a.token.length >= 32)
  })

  it('serves an OpenAPI 3.1 document with the contract operationIds', async () => {
    const document = await (await fetch(`${a.url}/openapi.json`)).json() as { openapi: string, paths: Record<string, Record<string, { operationId?: string }>> }
    assert.equal(document.openapi, '3.1.0')
    const ids = Object.values(document.paths).flatMap(methods => Object.values(methods).map(op => op.operationId))
    for (const id of CONTRACT_OPERATIONS) assert.ok(ids.includes(id), `operationId ${id} in /openapi.json`)
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique')
  })

  it('the Python example: two agents on two nodes publish and read events, share state, and one serves a method the other calls', async () => {
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }
    const server = run('python3', ['agent.py', '--api', a.url, '--token-file', join(a.dataDir, 'api-token'), '--serve', '1'], { cwd: PYTHON_DIR, env, timeout: 90_000 })
    const caller = run('python3', ['agent.py', '--api', b.url, '--token-file', join(b.dataDir, 'api-token'), '--call', a.ready.peerId as string], { cwd: PYTHON_DIR, env, timeout: 90_000 })
    const [served, called] = await Promise.all([server, caller])
    const steps = (stdout: string): Map<string, any> => new Map(stdout.trim().split('\n').map(line => { const value = JSON.parse(line); return [value.step, value] }))
    const s = steps(served.stdout)
    const c = steps(called.stdout)
    assert.equal(s.get('node').peerId, a.ready.peerId)
    assert.equal(c.get('node').peerId, b.ready.peerId)
    for (const out of [s, c]) {
      assert.deepEqual(out.get('listed').types, ['hello', 'bytes'], 'listEvents returns what this agent published, in order')
      assert.notEqual(out.get('resumed').next, out.get('resumed').after, 'the resumed stream starts after Last-Event-ID')
      assert.equal(out.get('state').found, true)
      assert.deepEqual(out.get('state').value, { language: 'python', ok: true })
      assert.ok(out.has('done'))
    }
    assert.equal(s.get('served').payload, 'hello mesh')
    assert.equal(s.get('served').caller, b.ready.peerId, 'the inbox names the calling peer')
    assert.equal(c.get('reply').payload, 'hsem olleh', 'the reply from the Python agent behind node A')
  })

  it('findAgents finds node A by the capability it announced (--capability)', async () => {
    const deadline = Date.now() + 45_000
    let agents: Array<{ peerId: string, capabilities: string[] }> = []
    while (!agents.some(x => x.peerId === a.ready.peerId) && Date.now() < deadline) {
      const response = await call(b, '/v1/agents?capability=reverse')
      assert.equal(response.status, 200)
      agents = (await response.json() as { agents: typeof agents }).agents
      if (!agents.some(x => x.peerId === a.ready.peerId)) await new Promise(resolve => setTimeout(resolve, 250))
    }
    assert.deepEqual(agents.find(x => x.peerId === a.ready.peerId)?.capabilities, ['reverse'])
  })

  it('setCapabilities replaces what node B announces at runtime: found by the new one, no longer by the old one', async () => {
    const set = await call(b, '/v1/node/capabilities', { method: 'PUT', body: JSON.stringify({ capabilities: ['summarise'] }) })
    assert.equal(set.status, 200)
    assert.deepEqual((await set.json() as { capabilities: string[] }).capabilities, ['summarise'])
    const found = async (capability: string): Promise<boolean> => {
      const response = await call(a, `/v1/agents?capability=${capability}`)
      assert.equal(response.status, 200)
      return (await response.json() as { agents: Array<{ peerId: string }> }).agents.some(x => x.peerId === b.ready.peerId)
    }
    const deadline = Date.now() + 45_000
    while (!await found('summarise') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 250))
    assert.ok(await found('summarise'), 'B is found by the capability it set')
    const cleared = await call(b, '/v1/node/capabilities', { method: 'PUT', body: JSON.stringify({ capabilities: [] }) })
    assert.deepEqual((await cleared.json() as { capabilities: string[] }).capabilities, [])
    assert.equal(await found('summarise'), false, 'its card no longer lists it, so findAgents leaves it out')
    const bad = await call(b, '/v1/node/capabilities', { method: 'PUT', body: JSON.stringify({ capabilities: ['x'.repeat(200)] }) })
    assert.equal(bad.status, 400)
  })

  it('the inbox stream replays unanswered requests on connect, and only those after Last-Event-ID on resume', async () => {
    assert.equal((await call(a, '/v1/inbox/methods/ts.double', { method: 'PUT' })).status, 200)
    const ask = async (n: number): Promise<Response> => call(b, `/v1/peers/${a.ready.peerId as string}/requests`, { method: 'POST', body: JSON.stringify({ method: 'ts.double', payload: n }) })
    const first = ask(1)
    const [request1] = await readSse(await call(a, '/v1/inbox'), 1) // read, then drop the stream without replying
    assert.equal(JSON.parse(request1!.data).payload, 1)
    const second = ask(2)
    // Wait until the second request is queued: a fresh stream (no Last-Event-ID) replays both, in order.
    let pending: Array<{ id?: string, data: string }> = []
    while (pending.length < 2) pending = await readSse(await call(a, '/v1/inbox'), 2)
    assert.deepEqual(pending.map(e => JSON.parse(e.data).payload), [1, 2])
    const resumed = await readSse(await call(a, '/v1/inbox', { headers: { 'last-event-id': request1!.id! } }), 1)
    assert.deepEqual(resumed.map(e => JSON.parse(e.data).payload), [2], 'only what came after Last-Event-ID')
    for (const event of pending) {
      const { id, payload } = JSON.parse(event.data) as { id: string, payload: number }
      assert.equal((await call(a, `/v1/inbox/${id}/reply`, { method: 'POST', body: JSON.stringify({ payload: payload * 2 }) })).status, 200)
    }
    assert.deepEqual(await Promise.all([first, second].map(async r => (await (await r).json() as { payload: number }).payload)), [2, 4])
    const late = await call(a, `/v1/inbox/${request1!.id!}/reply`, { method: 'POST', body: JSON.stringify({ payload: 0 }) })
    assert.equal(late.status, 404, 'a request is answered once')
    assert.equal((await call(a, '/v1/inbox/methods/ts.double', { method: 'DELETE' })).status, 200)
  })

  it('refuses requests without the token, or with a wrong one (401)', async () => {
    const none = await fetch(`${a.url}/v1/node`)
    assert.equal(none.status, 401)
    assert.equal((await none.json() as any).error.code, 'ERR_UNAUTHORIZED')
    const wrong = await fetch(`${a.url}/v1/node`, { headers: { authorization: 'Bearer not-the-token' } })
    assert.equal(wrong.status, 401)
    const right = await call(a, '/v1/node')
    assert.equal(right.status, 200)
    assert.equal((await right.json() as any).peerId, a.ready.peerId)
  })

  it('answers a bad body with 400 and the schema error, malformed JSON with 400, an oversized body with 413 naming the limit', async () => {
    const missing = await call(a, '/v1/events/checks', { method: 'POST', body: JSON.stringify({ data: 1 }) })
    assert.equal(missing.status, 400)
    const missingBody = await missing.json() as any
    assert.equal(missingBody.error.code, 'ERR_BAD_REQUEST')
    assert.match(missingBody.error.message, /type/, 'the message names the field')
    const malformed = await call(a, '/v1/events/checks', { method: 'POST', body: '{"type": ' })
    assert.equal(malformed.status, 400)
    const big = await call(a, '/v1/events/checks', { method: 'POST', body: JSON.stringify({ type: 'x', data: 'a'.repeat(3 * 1024 * 1024) }) })
    assert.equal(big.status, 413)
    assert.match((await big.json() as any).error.message, /API_BODY_BYTES_MAX/)
    // Within the API's limit but past the event's own (EVENT_BYTES_MAX): the node's typed error, 413 too.
    const event = await call(a, '/v1/events/checks', { method: 'POST', body: JSON.stringify({ type: 'x', data: 'a'.repeat(512 * 1024) }) })
    assert.equal(event.status, 413)
    assert.equal((await event.json() as any).error.code, 'ERR_LIMIT_EXCEEDED')
  })

  it('maps the node\'s typed errors to statuses with {error: {code, message}}', async () => {
    const group = await call(a, '/v1/groups/none')
    assert.equal(group.status, 404)
    assert.equal((await group.json() as any).error.code, 'ERR_GROUP_NOT_JOINED')
    const method = await call(a, `/v1/peers/${b.ready.peerId as string}/requests`, { method: 'POST', body: JSON.stringify({ method: 'nobody-serves-this' }) })
    assert.equal(method.status, 404)
    assert.equal((await method.json() as any).error.code, 'ERR_UNKNOWN_METHOD')
    const peer = await call(a, '/v1/peers/not-a-peer-id/requests', { method: 'POST', body: JSON.stringify({ method: 'x' }) })
    assert.equal(peer.status, 400)
    assert.equal((await peer.json() as any).error.code, 'ERR_DECODE')
  })

  it('refuses a foreign Host or Origin (DNS rebinding) with 403, even with the token', async () => {
    const auth = { authorization: `Bearer ${a.token}` }
    const host = await rawGet(`${a.url}/v1/node`, { ...auth, host: 'attacker.example:80' })
    assert.equal(host.status, 403)
    assert.equal(host.body.error.code, 'ERR_HOST_REFUSED')
    const origin = await rawGet(`${a.url}/v1/node`, { ...auth, origin: 'http://attacker.example' })
    assert.equal(origin.status, 403)
    assert.equal(origin.body.error.code, 'ERR_ORIGIN_REFUSED')
    const local = await rawGet(`${a.url}/v1/node`, { ...auth, host: `localhost:${new URL(a.url).port}`, origin: 'http://localhost:3000' })
    assert.equal(local.status, 200)
  })

  it('an event stream resumes right after the Last-Event-ID it is given', async () => {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const response = await call(a, '/v1/events/resume', { method: 'POST', body: JSON.stringify({ type: 'n', data: i }) })
      ids.push((await response.json() as any).id)
    }
    const response = await call(a, '/v1/events/resume/stream', { headers: { 'last-event-id': ids[0]! } })
    assert.equal(response.headers.get('content-type'), 'text/event-stream')
    const events = await readSse(response, 2)
    assert.deepEqual(events.map(e => e.id), [ids[1], ids[2]])
    assert.deepEqual(events.map(e => JSON.parse(e.data).data), [1, 2])
    const unknown = await call(a, '/v1/events/resume/stream', { headers: { 'last-event-id': 'f'.repeat(64) } })
    assert.equal(unknown.status, 404)
    assert.equal((await unknown.json() as any).error.code, 'ERR_EVENT_NOT_FOUND')
  })

  it('docs: a Yjs update applied as bytes on one node reads back as base64 JSON on the other', async () => {
    const local = new Y.Doc()
    local.getText('t').insert(0, 'from the API')
    const applied = await call(a, '/v1/docs/api-notes/updates', { method: 'POST', body: Y.encodeStateAsUpdate(local), headers: { 'content-type': 'application/octet-stream' } })
    assert.equal(applied.status, 200)
    const deadline = Date.now() + 30_000
    let text = ''
    while (text !== 'from the API' && Date.now() < deadline) {
      const state = await (await call(b, '/v1/docs/api-notes')).json() as { update: string }
      const copy = new Y.Doc()
      Y.applyUpdate(copy, Buffer.from(state.update, 'base64'))
      text = copy.getText('t').toString()
      if (text !== 'from the API') await new Promise(resolve => setTimeout(resolve, 100))
    }
    assert.equal(text, 'from the API')
    const garbage = await call(a, '/v1/docs/api-notes/updates', { method: 'POST', body: JSON.stringify({ update: Buffer.from('not yjs').toString('base64') }) })
    assert.equal(garbage.status, 400)
  })

  it('groups: join a one-member Raft group, propose, KV put/get, lock then unlock with the fencing token', async () => {
    const joined = await call(a, '/v1/groups/solo/join', { method: 'POST', body: JSON.stringify({ members: [a.ready.peerId] }) })
    assert.equal(joined.status, 200)
    assert.deepEqual((await joined.json() as any).members, [a.ready.peerId])
    const put = await call(a, '/v1/groups/solo/kv/colour', { method: 'PUT', body: JSON.stringify({ value: 'blue' }) })
    assert.equal(put.status, 200, await put.clone().text())
    assert.deepEqual(await (await call(a, '/v1/groups/solo/kv/colour')).json(), { key: 'colour', value: 'blue' })
    const proposed = await call(a, '/v1/groups/solo/propose', { method: 'POST', body: JSON.stringify({ command: { op: 'get', key: 'colour' } }) })
    assert.deepEqual((await proposed.json() as any).result, { ok: true, value: 'blue' })
    const first = await (await call(a, '/v1/groups/solo/locks/printer', { method: 'POST', body: JSON.stringify({ ttlMs: 60_000 }) })).json() as { token: number }
    const busy = await call(a, '/v1/groups/solo/locks/printer', { method: 'POST', body: JSON.stringify({ ttlMs: 60_000, timeoutMs: 300 }) })
    assert.equal(busy.status, 409)
    assert.equal((await busy.json() as any).error.code, 'ERR_LOCK_UNAVAILABLE')
    // waitMs: 0 asks once: 409 at once, even with a long timeoutMs
    const once = await call(a, '/v1/groups/solo/locks/printer', { method: 'POST', body: JSON.stringify({ ttlMs: 60_000, timeoutMs: 120_000, waitMs: 0 }) })
    assert.equal(once.status, 409)
    assert.match((await once.json() as any).error.message, /after waiting 0 ms \(waitMs\)/)
    assert.deepEqual(await (await call(a, `/v1/groups/solo/locks/printer?token=${first.token}`, { method: 'DELETE' })).json(), { released: true })
    const again = await call(a, `/v1/groups/solo/locks/printer?token=${first.token}`, { method: 'DELETE' })
    assert.equal(again.status, 404, 'a handle is released once')
    const second = await (await call(a, '/v1/groups/solo/locks/printer', { method: 'POST', body: JSON.stringify({ ttlMs: 60_000 }) })).json() as { token: number }
    assert.ok(second.token > first.token, 'fencing tokens only grow')
  })

  it('MCP over Streamable HTTP at /mcp: the SDK client lists the tools and calls mesh_status', async () => {
    const client = new Client({ name: 'api-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${a.token}` } } }))
    try {
      const { tools } = await client.listTools()
      assert.ok(tools.some(t => t.name === 'publish_event'))
      const status = await client.callTool({ name: 'mesh_status', arguments: {} })
      assert.equal((status.structuredContent as any).peerId, a.ready.peerId)
      await client.callTool({ name: 'state_put', arguments: { key: 'mcp/colour', value: { colour: 'green' } } })
      const got = await client.callTool({ name: 'state_get', arguments: { key: 'mcp/colour' } })
      assert.deepEqual((got.structuredContent as any).value, { colour: 'green' })
      // Locks from MCP: stateless calls with the group, resource and token passed back explicitly.
      await call(a, '/v1/groups/mcp-locks/join', { method: 'POST', body: JSON.stringify({ members: [a.ready.peerId] }) })
      const locked = await client.callTool({ name: 'lock', arguments: { group: 'mcp-locks', resource: 'db', ttlMs: 60_000 } })
      const token = (locked.structuredContent as { token: number }).token
      // Held: with waitMs 0 the second lock fails at once, naming why.
      const busy = await client.callTool({ name: 'lock', arguments: { group: 'mcp-locks', resource: 'db', ttlMs: 60_000, waitMs: 0 } })
      assert.equal(busy.isError, true)
      assert.match(JSON.stringify(busy.content), /ERR_LOCK_UNAVAILABLE/)
      const unlocked = await client.callTool({ name: 'unlock', arguments: { group: 'mcp-locks', resource: 'db', token } })
      assert.deepEqual(unlocked.structuredContent, { released: true })
    } finally {
      await client.close()
    }
  })
})
