// The task queue from other languages, end to end on real node processes: the HTTP task
// endpoints (guards, errors, the Python manager and worker), the A2A gateway answered by a mesh
// worker through the queue (the A2A project's own client), and the MCP task tools over stdio
// (the MCP SDK's own client).

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client'
import { Role, TaskState } from '@a2a-js/sdk'
import type { Message, SendMessageRequest, Task } from '@a2a-js/sdk'
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { tempDir } from '../../helpers.ts'
import { NodeProcess, REPO } from './node-process.ts'
import type { Line } from './node-process.ts'

const run = promisify(execFile)
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0']
const PYTHON_DIR = join(REPO, 'node/examples/python')

interface Running { process: NodeProcess, ready: Line, url: string, token: string, dataDir: string, address: string }

function userMessage (text: string, skill: string): Message {
  return { messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [{ content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: undefined }], metadata: { skill }, extensions: [], referenceTaskIds: [] }
}

function sendRequest (message: Message, returnImmediately = false): SendMessageRequest {
  return { tenant: '', message, configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately }, metadata: undefined }
}

describe('task queues from other languages (real node processes: HTTP, Python, A2A, MCP)', function () {
  this.timeout(180_000)
  const cleanups: Array<() => Promise<void>> = []
  let a: Running
  let b: Running

  async function start (args: string[]): Promise<Running> {
    const dir = await tempDir('agentmesh-tasks-api-')
    const process = new NodeProcess(['--api', '127.0.0.1:0', '--data-dir', dir.path, ...LOOPBACK, ...args])
    cleanups.push(async () => { await process.stop(); await dir.remove() })
    const ready = await process.ready()
    const token = (await readFile(join(dir.path, 'api-token'), 'utf8')).trim()
    const address = (ready.addresses as string[]).find(x => x.startsWith('/ip4/127.0.0.1/'))!
    return { process, ready, url: ready.api as string, token, dataDir: dir.path, address }
  }

  const call = async (node: Running, path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<Response> => fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${node.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const ok = async (node: Running, path: string, body?: unknown): Promise<any> => {
    const response = await call(node, path, body)
    const json = await response.json()
    assert.equal(response.status, 200, `${path}: ${JSON.stringify(json)}`)
    return json
  }

  /** Work one task of `queue` through node `on`'s HTTP worker endpoints: claim, then complete with `output(input)`. */
  async function workOne (on: Running, queue: string, output: (input: any) => unknown): Promise<any> {
    for (;;) {
      const { tasks } = await ok(on, `/v1/queues/${queue}/claim`, { max: 1, waitMs: 5000 })
      if (tasks.length === 0) continue
      const task = tasks[0]
      await ok(on, `/v1/queues/${queue}/tasks/${task.taskId}/complete`, { token: task.token, output: output(task.input) })
      return task
    }
  }

  before(async () => {
    a = await start(['--name', 'a'])
    b = await start(['--name', 'b', '--peer', a.address])
  })
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('guards the task endpoints: 401 without the token, 400 for a bad body, 413 for an oversized one', async () => {
    const noToken = await fetch(`${a.url}/v1/queues/q/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: 1 }) })
    assert.equal(noToken.status, 401)
    const bad = await call(a, '/v1/queues/q/tasks', { input: 1, priority: 'high' })
    assert.equal(bad.status, 400)
    assert.match((await bad.json() as any).error.message, /priority/)
    const badClaim = await call(a, '/v1/queues/q/claim', { max: 1000 })
    assert.equal(badClaim.status, 400)
    const huge = await call(a, '/v1/queues/q/tasks', { input: 'x'.repeat(3 * 1024 * 1024) })
    assert.equal(huge.status, 413)
  })

  it('the Python manager and worker share work through a queue, across two nodes, with one retried attempt', async () => {
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }
    const manager = run('python3', ['tasks.py', '--api', a.url, '--token-file', join(a.dataDir, 'api-token'), 'manager', '--queue', 'py-work', '--count', '3', '--members', a.ready.peerId as string], { cwd: PYTHON_DIR, env, timeout: 150_000 })
    const worker = run('python3', ['tasks.py', '--api', b.url, '--token-file', join(b.dataDir, 'api-token'), 'worker', '--queue', 'py-work', '--count', '3'], { cwd: PYTHON_DIR, env, timeout: 150_000 })
    const [m, w] = await Promise.all([manager, worker])
    const lines = (stdout: string): any[] => stdout.trim().split('\n').map(line => JSON.parse(line))
    const results = lines(m.stdout).filter(l => l.step === 'result')
    assert.deepEqual(results.map(r => [r.state, r.result]), [['completed', { text: 'ykalf 0 ksat' }], ['completed', { text: '1 ksat' }], ['completed', { text: '2 ksat' }]])
    assert.equal(lines(m.stdout).find(l => l.step === 'done').attempts, 2, 'the flaky task took two attempts')
    assert.deepEqual(lines(m.stdout).find(l => l.step === 'watched').states.at(-1), 'completed')
    assert.equal(lines(w.stdout).filter(l => l.step === 'failed').length, 1)
    assert.equal(lines(w.stdout).filter(l => l.step === 'completed').length, 3)
  })

  it('a stale token gets 409 ERR_STALE_LEASE; an unknown task 404; dead letters and redrive', async () => {
    await ok(a, '/v1/queues/errs', { members: [a.ready.peerId] })
    const { id } = await ok(a, '/v1/queues/errs/tasks', { input: 'x' })
    const { tasks } = await ok(a, '/v1/queues/errs/claim', { max: 1, waitMs: 5000 })
    assert.equal(tasks[0].taskId, id)
    const stale = await call(a, `/v1/queues/errs/tasks/${id}/complete`, { token: tasks[0].token + 1000, output: 1 })
    assert.equal(stale.status, 409)
    assert.equal((await stale.json() as any).error.code, 'ERR_STALE_LEASE')
    const missing = await call(a, '/v1/queues/errs/tasks/999999')
    assert.equal(missing.status, 404)
    await ok(a, `/v1/queues/errs/tasks/${id}/fail`, { token: tasks[0].token, error: { type: 'fatal', message: 'no retry' }, retryable: false })
    const outcome = await ok(a, `/v1/queues/errs/tasks/${id}/result?waitMs=1000`)
    assert.deepEqual([outcome.done, outcome.state, outcome.error?.type], [true, 'failed', 'fatal'])
    const dead = await ok(a, '/v1/queues/errs/dead-letters')
    assert.deepEqual(dead.tasks.map((t: any) => t.id), [id])
    await ok(a, `/v1/queues/errs/tasks/${id}/redrive`, {})
    assert.equal((await ok(a, `/v1/queues/errs/tasks/${id}`)).state, 'submitted')
  })

  it('A2A: the SDK client sends a message; a mesh worker on another node answers through the queue; tasks/get and tasks/cancel', async () => {
    await ok(a, '/v1/queues/a2a-work', { members: [a.ready.peerId] })
    const authed: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers)
      headers.set('authorization', `Bearer ${a.token}`)
      return fetch(input, { ...init, headers })
    }
    const client = await new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: authed })] })).createFromUrl(a.url)
    const card = await client.getAgentCard()
    assert.ok(card.skills.some(s => s.id === 'a2a-work'), 'the opened queue is a skill of the card')

    await ok(b, '/v1/queues/a2a-work', {})
    const worked = workOne(b, 'a2a-work', (input) => ({ text: `done: ${input.text}` }))
    const task = await client.sendMessage(sendRequest(userMessage('translate this', 'a2a-work'))) as Task
    assert.deepEqual((await worked).input, { text: 'translate this' })
    assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED)
    const texts = task.artifacts.flatMap(x => x.parts).flatMap(p => p.content?.$case === 'text' ? [p.content.value] : [])
    assert.deepEqual(texts, ['done: translate this'])
    const got = await client.getTask({ tenant: '', id: task.id, historyLength: undefined })
    assert.equal(got.status?.state, TaskState.TASK_STATE_COMPLETED)

    // A queue that A never opened, hosted on B: a message naming it reaches it by name (DHT).
    await ok(b, '/v1/queues/a2a-far', { members: [b.ready.peerId] })
    const far = workOne(b, 'a2a-far', (input) => input.text.length)
    const farTask = await client.sendMessage(sendRequest(userMessage('four', 'a2a-far'))) as Task
    await far
    assert.equal(farTask.status?.state, TaskState.TASK_STATE_COMPLETED)
    assert.deepEqual(farTask.artifacts[0]?.parts.map(p => p.content), [{ $case: 'data', value: 4 }])
    const cardNow = await (await fetch(`${a.url}/.well-known/agent-card.json`)).json() as { skills: Array<{ id: string }> }
    assert.deepEqual(cardNow.skills.map(s => s.id).slice(-2), ['a2a-work', 'a2a-far'], 'a queue reached once is a skill of the card')

    const waiting = await client.sendMessage(sendRequest(userMessage('nobody works this', 'a2a-work'), true)) as Task
    const canceled = await client.cancelTask({ tenant: '', id: waiting.id, metadata: undefined })
    assert.equal(canceled.status?.state, TaskState.TASK_STATE_CANCELED)
    const meshId = canceled.metadata?.meshTaskId as string
    assert.equal((await ok(a, `/v1/queues/a2a-work/tasks/${meshId}`)).state, 'canceled', 'the queue task is canceled too')
  })

  it('MCP over stdio: delegate_task, then await_task returns what a worker answered', async () => {
    await ok(a, '/v1/queues/mcp-work', { members: [a.ready.peerId] })
    const transport = new StdioClientTransport({ command: process.execPath, args: ['node/cli.ts', 'mcp', ...LOOPBACK, '--peer', a.address], cwd: REPO, stderr: 'pipe' })
    const client = new McpClient({ name: 'tasks-test', version: '1.0.0' })
    await client.connect(transport)
    try {
      const names = (await client.listTools()).tools.map(t => t.name)
      for (const name of ['delegate_task', 'await_task', 'get_task', 'cancel_task', 'list_dead_letters']) assert.ok(names.includes(name), `tool ${name}`)
      let delegated: any
      for (const deadline = Date.now() + 60_000; ;) {
        delegated = await client.callTool({ name: 'delegate_task', arguments: { queue: 'mcp-work', input: { text: 'from a model' } } })
        // The new node may not have found the queue's record in the DHT yet.
        if (delegated.isError !== true || Date.now() > deadline) break
        await new Promise(resolve => setTimeout(resolve, 500))
      }
      assert.notEqual(delegated.isError, true, JSON.stringify(delegated.content))
      const { taskId } = delegated.structuredContent as { taskId: string }
      await workOne(a, 'mcp-work', (input) => ({ text: input.text.toUpperCase() }))
      const awaited = await client.callTool({ name: 'await_task', arguments: { queue: 'mcp-work', taskId, timeoutMs: 30_000 } })
      assert.deepEqual(awaited.structuredContent, { taskId, done: true, state: 'completed', result: { text: 'FROM A MODEL' } })
      const got = await client.callTool({ name: 'get_task', arguments: { queue: 'mcp-work', taskId } })
      assert.equal((got.structuredContent as any).state, 'completed')
    } finally {
      await client.close()
    }
  })
})
