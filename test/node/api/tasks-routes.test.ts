// The HTTP task endpoints, the MCP task tools at /mcp and the A2A gateway's port over the API's
// queue handles, on one real node's API server and its own `node.tasks` (one-member queues).
// Across nodes and processes (Python manager and worker, the SDK clients): tasks.test.ts.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client'
import { Role, TaskState } from '@a2a-js/sdk'
import type { Task } from '@a2a-js/sdk'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { startApiServer } from '../../../node/api/server.ts'
import type { ApiServer } from '../../../node/api/server.ts'

const TOKEN = 'tasks-routes-token'

describe('task endpoints, MCP task tools and the A2A port on one node\'s queues', function () {
  this.timeout(60_000)
  let node: AgentNode
  let api: ApiServer
  const authed: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers)
    headers.set('authorization', `Bearer ${TOKEN}`)
    if (init?.body !== undefined) headers.set('content-type', 'application/json')
    return fetch(input, { ...init, headers })
  }
  const call = async (path: string, body?: unknown): Promise<{ status: number, json: any }> => {
    const response = await authed(`${api.url}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
    return { status: response.status, json: await response.json() }
  }
  const ok = async (path: string, body?: unknown): Promise<any> => {
    const { status, json } = await call(path, body)
    assert.equal(status, 200, `${path}: ${JSON.stringify(json)}`)
    return json
  }

  before(async () => {
    node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'tasks-routes' })
    api = await startApiServer({ node, host: '127.0.0.1', port: 0, token: TOKEN })
  })
  after(async () => {
    await api?.close()
    await node?.stop()
  })

  it('openQueue creates with members, finds without, and 404s an unknown queue', async () => {
    assert.deepEqual(await ok('/v1/queues/work', { members: [node.peerId] }), { name: 'work', members: [node.peerId] })
    assert.equal((await ok('/v1/queues/work', {})).name, 'work')
    const missing = await call('/v1/queues/nowhere', {})
    assert.deepEqual([missing.status, missing.json.error.code], [404, 'ERR_QUEUE_NOT_FOUND'])
  })

  it('a long-poll claim gets a task submitted meanwhile; complete; the result long poll and getTask show it', async () => {
    const claiming = ok('/v1/queues/work/claim', { max: 1, waitMs: 10_000 })
    const submitted = await ok('/v1/queues/work/tasks', { input: { text: 'hi' }, idempotencyKey: 'k1' })
    assert.deepEqual((await ok('/v1/queues/work/tasks', { input: { text: 'hi' }, idempotencyKey: 'k1' })).id, submitted.id)
    const { tasks } = await claiming
    assert.deepEqual([tasks[0].taskId, tasks[0].input], [submitted.id, { text: 'hi' }])
    const waiting = ok(`/v1/queues/work/tasks/${submitted.id}/result?waitMs=10000`)
    await ok(`/v1/queues/work/tasks/${submitted.id}/renew`, { token: tasks[0].token })
    await ok(`/v1/queues/work/tasks/${submitted.id}/complete`, { token: tasks[0].token, output: { text: 'HI', raw: { $bytes: 'AAE=' } } })
    assert.deepEqual(await waiting, { taskId: submitted.id, done: true, state: 'completed', result: { text: 'HI', raw: { $bytes: 'AAE=' } } })
    const task = await ok(`/v1/queues/work/tasks/${submitted.id}`)
    assert.deepEqual([task.queue, task.state, task.attempt], ['work', 'completed', 1])
    const empty = await ok('/v1/queues/work/claim', { max: 1, waitMs: 50 })
    assert.deepEqual(empty.tasks, [])
  })

  it('watchTask streams the task, then each state change, and ends at the outcome', async () => {
    const { id } = await ok('/v1/queues/work/tasks', { input: 1 })
    const response = await authed(`${api.url}/v1/queues/work/tasks/${id}/stream`)
    const text = response.text()
    const { tasks } = await ok('/v1/queues/work/claim', { max: 1, waitMs: 5000 })
    await ok(`/v1/queues/work/tasks/${id}/complete`, { token: tasks[0].token, output: 2 })
    const events = (await text).split('\n\n').filter(chunk => chunk.includes('data: ')).map(chunk => {
      const lines = chunk.split('\n')
      return { event: lines.find(l => l.startsWith('event: '))?.slice(7), data: JSON.parse(lines.find(l => l.startsWith('data: '))!.slice(6)) }
    })
    assert.equal(events[0]!.event, 'task')
    assert.deepEqual(events.slice(1).map(e => e.data.state), ['working', 'completed'])
  })

  it('a stale token is 409 ERR_STALE_LEASE; a final failure is a dead letter; redrive sends it back', async () => {
    const { id } = await ok('/v1/queues/work/tasks', { input: 'x' })
    const { tasks } = await ok('/v1/queues/work/claim', { max: 1, waitMs: 5000 })
    const stale = await call(`/v1/queues/work/tasks/${id}/complete`, { token: tasks[0].token + 1, output: 1 })
    assert.deepEqual([stale.status, stale.json.error.code], [409, 'ERR_STALE_LEASE'])
    await ok(`/v1/queues/work/tasks/${id}/fail`, { token: tasks[0].token, error: { type: 'fatal', message: 'no' }, retryable: false })
    assert.deepEqual((await ok('/v1/queues/work/dead-letters')).tasks.map((t: any) => [t.id, t.error.type]), [[id, 'fatal']])
    await ok(`/v1/queues/work/tasks/${id}/redrive`, {})
    assert.equal((await ok(`/v1/queues/work/tasks/${id}`)).state, 'submitted')
    await ok(`/v1/queues/work/tasks/${id}/cancel`, {})
    assert.equal((await ok(`/v1/queues/work/tasks/${id}/result?waitMs=0`)).state, 'canceled')
  })

  it('MCP at /mcp: delegate_task then await_task (done: false until a worker completes it)', async () => {
    const client = new McpClient({ name: 'tasks-routes-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${api.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }))
    try {
      const delegated = await client.callTool({ name: 'delegate_task', arguments: { queue: 'work', input: { text: 'model' } } })
      const { taskId } = delegated.structuredContent as { taskId: string }
      const early = await client.callTool({ name: 'await_task', arguments: { queue: 'work', taskId, timeoutMs: 50 } })
      assert.deepEqual(early.structuredContent, { taskId, done: false, state: 'submitted' })
      const { tasks } = await ok('/v1/queues/work/claim', { max: 1, waitMs: 5000 })
      await ok(`/v1/queues/work/tasks/${taskId}/complete`, { token: tasks[0].token, output: 'done' })
      const awaited = await client.callTool({ name: 'await_task', arguments: { queue: 'work', taskId, timeoutMs: 5000 } })
      assert.deepEqual(awaited.structuredContent, { taskId, done: true, state: 'completed', result: 'done' })
      const missing = await client.callTool({ name: 'get_task', arguments: { queue: 'work', taskId: '999' } })
      assert.equal(missing.isError, true)
    } finally {
      await client.close()
    }
  })

  it('A2A: the card lists the opened queues; a message is worked through the queue handles', async () => {
    const client = await new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: authed })] })).createFromUrl(api.url)
    assert.deepEqual((await client.getAgentCard()).skills.map(s => s.id), ['work'])
    const worker = (async () => {
      const { tasks } = await ok('/v1/queues/work/claim', { max: 1, waitMs: 10_000 })
      await ok(`/v1/queues/work/tasks/${tasks[0].taskId}/complete`, { token: tasks[0].token, output: { text: `${tasks[0].input.text}!` } })
    })()
    const task = await client.sendMessage({ tenant: '', configuration: undefined, metadata: undefined, message: { messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, extensions: [], referenceTaskIds: [], metadata: undefined, parts: [{ content: { $case: 'text', value: 'go' }, mediaType: 'text/plain', filename: '', metadata: undefined }] } }) as Task
    await worker
    assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED)
    assert.deepEqual(task.artifacts[0]!.parts.map(p => p.content), [{ $case: 'text', value: 'go!' }, { $case: 'data', value: { text: 'go!' } }])
  })
})
