// The A2A gateway driven by the A2A project's own JS client, over real HTTP on a real node's API
// server, with real task queues (node.tasks, one member each) worked by handlers on that node.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client'
import type { Client } from '@a2a-js/sdk/client'
import { Role, TaskState } from '@a2a-js/sdk'
import type { Message, SendMessageRequest, Task } from '@a2a-js/sdk'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { startApiServer } from '../../../node/api/server.ts'
import type { ApiServer } from '../../../node/api/server.ts'

const TOKEN = 'a2a-gateway-token'

function userMessage (text: string, metadata?: Record<string, unknown>): Message {
  return { messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [{ content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: undefined }], metadata, extensions: [], referenceTaskIds: [] }
}

function send (message: Message, returnImmediately = false): SendMessageRequest {
  return { tenant: '', message, configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately }, metadata: undefined }
}

function textOf (task: Task): string[] {
  return task.artifacts.flatMap((a) => a.parts).flatMap((p) => p.content?.$case === 'text' ? [p.content.value] : [])
}

describe('A2A gateway on real task queues (SDK client over HTTP)', function () {
  this.timeout(60_000)
  let node: AgentNode
  let api: ApiServer
  let client: Client
  /** The inputs the queues' workers were given, last last. */
  const inputs: unknown[] = []
  const authed: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers)
    headers.set('authorization', `Bearer ${TOKEN}`)
    return fetch(input, { ...init, headers })
  }

  before(async () => {
    node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'gateway-test' })
    api = await startApiServer({ node, host: '127.0.0.1', port: 0, token: TOKEN })
    const handlers: Record<string, (input: any, signal: AbortSignal) => Promise<unknown>> = {
      echo: async (input) => ({ text: `echo: ${(input as { text: string }).text}` }),
      shout: async (input) => (input as { text: string }).text.toUpperCase(),
      slow: async (_input, signal) => new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(new Error('aborted')) }) }),
      broken: async () => { throw new Error('the handler broke') }
    }
    for (const [name, handler] of Object.entries(handlers)) {
      // Opened through the API, so the gateway offers them as skills, in this order.
      const opened = await authed(`${api.url}/v1/queues/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ members: [node.peerId] }) })
      assert.equal(opened.status, 200, await opened.text())
      node.tasks.work(name, async (input, ctx) => { inputs.push(input); return await handler(input, ctx.signal) as never }, { nonRetryableErrors: ['Error'], pollMs: 500 })
    }
    client = await new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: authed })] })).createFromUrl(api.url)
  })
  after(async () => {
    await api?.close()
    await node?.stop()
  })

  it('serves a card listing the queues as skills, with the bearer scheme, without a token', async () => {
    const card = await client.getAgentCard()
    assert.deepEqual(card.skills.map((s) => s.id), ['echo', 'shout', 'slow', 'broken'])
    assert.equal(card.securitySchemes.bearer?.scheme?.$case, 'httpAuthSecurityScheme')
    assert.deepEqual(card.supportedInterfaces.map((i) => i.protocolVersion).sort(), ['0.3', '1.0'])
    assert.equal(card.supportedInterfaces[0]!.url, `${api.url}/a2a`)
    const legacy = await (await fetch(`${api.url}/.well-known/agent-card.json`)).json() as any
    assert.equal(legacy.protocolVersion, '0.3.0')
    assert.deepEqual(legacy.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: legacy.securitySchemes.bearer.description })
  })

  it('refuses JSON-RPC without the token', async () => {
    const response = await fetch(`${api.url}/a2a`, { method: 'POST', headers: { 'content-type': 'application/json', 'a2a-version': '1.0' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'x' } }) })
    assert.equal(response.status, 401)
  })

  it('message/send runs a task on the first skill and returns it completed with the output', async () => {
    const result = await client.sendMessage(send(userMessage('hello')))
    const task = result as Task
    assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED)
    assert.deepEqual(textOf(task), ['echo: hello'])
    assert.equal(task.metadata?.queue, 'echo')
    assert.deepEqual(inputs.at(-1), { text: 'hello' })
    const again = await client.getTask({ tenant: '', id: task.id, historyLength: undefined })
    assert.equal(again.status?.state, TaskState.TASK_STATE_COMPLETED)
  })

  it('metadata.skill picks the queue; message/stream follows the task to its end', async () => {
    const states: TaskState[] = []
    let final: Task | undefined
    for await (const event of client.sendMessageStream(send(userMessage('quiet', { skill: 'shout' })))) {
      if (event.payload?.$case === 'task') final = event.payload.value
      if (event.payload?.$case === 'statusUpdate') states.push(event.payload.value.status!.state)
    }
    assert.equal(states.at(-1), TaskState.TASK_STATE_COMPLETED)
    const task = await client.getTask({ tenant: '', id: final!.id, historyLength: undefined })
    assert.deepEqual(textOf(task), ['QUIET'])
  })

  it('a failing worker gives a failed task with the reason; an unknown skill is rejected', async () => {
    const failed = await client.sendMessage(send(userMessage('x', { skill: 'broken' }))) as Task
    assert.equal(failed.status?.state, TaskState.TASK_STATE_FAILED)
    const reason = failed.status?.message?.parts[0]?.content
    assert.match(reason?.$case === 'text' ? reason.value : '', /the handler broke/)
    const rejected = await client.sendMessage(send(userMessage('x', { skill: 'nope' }))) as Task
    assert.equal(rejected.status?.state, TaskState.TASK_STATE_REJECTED)
  })

  it('tasks/cancel cancels the queue task; tasks/get then says canceled', async () => {
    const started = await client.sendMessage(send(userMessage('wait', { skill: 'slow' }), true)) as Task
    assert.ok(started.status?.state === TaskState.TASK_STATE_SUBMITTED || started.status?.state === TaskState.TASK_STATE_WORKING)
    const canceled = await client.cancelTask({ tenant: '', id: started.id, metadata: undefined })
    assert.equal(canceled.status?.state, TaskState.TASK_STATE_CANCELED)
    const view = await (await node.tasks.open('slow')).get(started.metadata?.meshTaskId as string)
    assert.equal(view?.state, 'canceled')
    const got = await client.getTask({ tenant: '', id: started.id, historyLength: undefined })
    assert.equal(got.status?.state, TaskState.TASK_STATE_CANCELED)
  })

  it('speaks v0.3 too: message/send and tasks/get without a version header', async () => {
    const rpc = async (method: string, params: unknown): Promise<any> => {
      const response = await authed(`${api.url}/a2a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }) })
      assert.equal(response.status, 200)
      return response.json()
    }
    const sent = await rpc('message/send', { message: { kind: 'message', messageId: randomUUID(), role: 'user', parts: [{ kind: 'text', text: 'old' }] } })
    assert.equal(sent.result.kind, 'task', JSON.stringify(sent))
    assert.equal(sent.result.status.state, 'completed')
    const got = await rpc('tasks/get', { id: sent.result.id })
    assert.equal(got.result.status.state, 'completed')
    assert.equal(got.result.artifacts[0].parts[0].text, 'echo: old')
  })

  it('speaks v0.3 message/stream: SSE events up to the completed status', async () => {
    const response = await authed(`${api.url}/a2a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'message/stream', params: { message: { kind: 'message', messageId: randomUUID(), role: 'user', parts: [{ kind: 'text', text: 'streamed' }], metadata: { skill: 'shout' } } } }) })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/)
    const events = (await response.text()).split('\n\n').filter(chunk => chunk.startsWith('data: ')).map(chunk => JSON.parse(chunk.slice(6)))
    assert.equal(events[0].result.kind, 'task')
    const last = events.at(-1).result
    assert.deepEqual([last.kind, last.status.state, last.final], ['status-update', 'completed', true])
    assert.ok(events.some(e => e.result.kind === 'artifact-update' && e.result.artifact.parts[0].text === 'STREAMED'))
  })

  it('answers a body that is not JSON with a JSON-RPC parse error, and an unknown method with -32601', async () => {
    const garbage = await authed(`${api.url}/a2a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })
    assert.equal(((await garbage.json()) as any).error.code, -32700)
    const unknown = await authed(`${api.url}/a2a`, { method: 'POST', headers: { 'content-type': 'application/json', 'a2a-version': '1.0' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'NoSuchMethod', params: {} }) })
    assert.equal(((await unknown.json()) as any).error.code, -32601)
  })
})

describe('A2A gateway: mesh ↔ A2A conversions (pure)', () => {
  it('maps mesh states to A2A states; retrying and validating stay non-terminal', async () => {
    const { a2aState, A2A_TERMINAL } = await import('../../../node/a2a/convert.ts')
    assert.equal(a2aState('retrying'), TaskState.TASK_STATE_WORKING)
    assert.equal(a2aState('validating'), TaskState.TASK_STATE_WORKING)
    assert.equal(a2aState('input-required'), TaskState.TASK_STATE_INPUT_REQUIRED)
    for (const state of ['submitted', 'working', 'validating', 'retrying', 'input-required'] as const) assert.ok(!A2A_TERMINAL.has(a2aState(state)), state)
    for (const state of ['completed', 'failed', 'canceled', 'rejected'] as const) assert.ok(A2A_TERMINAL.has(a2aState(state)), state)
  })

  it('text parts become input.text, data parts input.data; outputs become text and data parts', async () => {
    const { inputOf, outputParts, dataPart, textPart } = await import('../../../node/a2a/convert.ts')
    const message = { ...userMessage('a'), parts: [textPart('a'), dataPart({ n: 1 }), textPart('b')] }
    assert.deepEqual(inputOf(message), { text: 'a\nb', data: { n: 1 } })
    assert.deepEqual(outputParts('hi').map(p => p.content), [{ $case: 'text', value: 'hi' }])
    assert.deepEqual(outputParts({ text: 'hi', n: 2 }).map(p => p.content), [{ $case: 'text', value: 'hi' }, { $case: 'data', value: { text: 'hi', n: 2 } }])
    assert.deepEqual(outputParts(7).map(p => p.content), [{ $case: 'data', value: 7 }])
  })
})
