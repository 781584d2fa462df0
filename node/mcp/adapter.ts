// The node's MCP server (Model Context Protocol, SDK 1.x, revision 2025-11-25): every tool is
// stateless and takes explicit ids, so the next revision, which drops sessions, changes only this
// file. Served over stdio (`agentmesh mcp`) and as stateless Streamable HTTP at /mcp on the API.

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import * as z from 'zod'
import type { AgentNode } from '../../src/index.ts'
import { describeError } from '../../protocols/kit/errors.ts'
import { packageVersion } from '../../src/version.ts'
import { errorResponse } from '../api/errors.ts'
import { fromJson, toJson } from '../api/json.ts'
import { LockTable } from '../api/locks.ts'
import { nodeInfo } from '../api/routes/node.ts'
import { QueueTable } from '../api/queues.ts'
import { ApiError } from '../api/errors.ts'
import { awaitOutcome, taskJson } from '../api/routes/tasks.ts'

/** Longest wait a tool accepts: a model cannot hold a call open for long, so waits are bounded long-polls. */
export const MCP_WAIT_MS_MAX = 60_000
/** Most events read_events returns: a model's context is small. */
export const MCP_EVENTS_LIMIT_MAX = 100
/** Most agents find_agents returns. */
export const MCP_AGENTS_LIMIT_MAX = 20

/** Most dead letters list_dead_letters returns. */
export const MCP_DEAD_LETTERS_LIMIT_MAX = 100

/**
 * What the MCP tools need: the node, where lock handles taken by `lock` wait for `unlock`, and
 * the task queue handles (shared with the HTTP API when served at /mcp; one per stdio server).
 */
export interface McpContext { node: AgentNode, locks: LockTable, queues?: QueueTable }

/** One tool result: compact JSON text plus the same value as structuredContent. */
function result (value: unknown): CallToolResult {
  const json = toJson(value)
  const structured = json !== null && typeof json === 'object' && !Array.isArray(json) ? json as Record<string, unknown> : { value: json }
  return { content: [{ type: 'text', text: JSON.stringify(json) }], structuredContent: structured }
}

/** A failed tool call the model can read: {error: {code, message}}. */
function failure (err: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(errorResponse(err).body) }] }
}

async function run (fn: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return result(await fn())
  } catch (err) {
    return failure(err)
  }
}

const timeoutMs = z.number().int().min(1).max(MCP_WAIT_MS_MAX).optional().describe(`Deadline in ms (at most ${MCP_WAIT_MS_MAX})`)
const json = z.any().describe('Any JSON value; bytes as {"$bytes": "<base64>"}')

/** An MCP server exposing the node as tools (a new one per HTTP request, one for stdio). */
export function createMcpServer (context: McpContext): McpServer {
  const { node, locks } = context
  const queues = context.queues ?? new QueueTable(node)
  const server = new McpServer({ name: 'agentmesh', version: packageVersion() }, { instructions: 'Tools of one agentmesh node: message other agents, publish and read events, share state, agree through Raft groups. Every tool is stateless: pass ids explicitly.' })

  server.registerTool('mesh_status', {
    title: 'Mesh status',
    description: 'This node (peer id, name, addresses, capabilities), the peers it knows with their status, its groups with leaders, and open docs.',
    inputSchema: {},
    annotations: { readOnlyHint: true }
  }, async () => run(async () => nodeInfo({ node })))

  server.registerTool('publish_event', {
    title: 'Publish an event',
    description: 'Publish an event on a topic; every agent subscribed to the topic gets it, and late joiners can replay it.',
    inputSchema: { topic: z.string().min(1).max(256), type: z.string().min(1).max(128), data: json.optional() }
  }, async ({ topic, type, data }) => run(async () => node.events.publish(topic, { type, data: fromJson(data ?? null) })))

  server.registerTool('read_events', {
    title: 'Read events',
    description: `Stored events of a topic in order, after an event id (omit for the oldest). At most ${MCP_EVENTS_LIMIT_MAX}; pass the last id as after for the next page.`,
    inputSchema: { topic: z.string().min(1).max(256), after: z.string().max(128).optional(), limit: z.number().int().min(1).max(MCP_EVENTS_LIMIT_MAX).optional() },
    annotations: { readOnlyHint: true }
  }, async ({ topic, after, limit }) => run(async () => {
    const events = await node.events.history(topic, { ...(after !== undefined ? { after } : {}), limit: limit ?? 20 })
    return { events, lastEventId: events.at(-1)?.id ?? after ?? null }
  }))

  server.registerTool('state_get', {
    title: 'Read shared state',
    description: 'Read a key from the mesh\'s shared state (DHT): the value, its author and version, or found: false.',
    inputSchema: { key: z.string().min(1).max(1024), timeoutMs },
    annotations: { readOnlyHint: true }
  }, async ({ key, timeoutMs }) => run(async () => {
    const entry = await node.state.get(key, timeoutMs !== undefined ? { timeoutMs } : {})
    return entry === undefined ? { key, found: false } : { key, found: true, ...entry }
  }))

  server.registerTool('state_put', {
    title: 'Write shared state',
    description: 'Write a key in the mesh\'s shared state (signed, last writer wins), with an optional time to live.',
    inputSchema: { key: z.string().min(1).max(1024), value: json, ttlMs: z.number().int().min(1).optional() },
    annotations: { idempotentHint: true }
  }, async ({ key, value, ttlMs }) => run(async () => {
    try {
      return await node.state.put(key, fromJson(value), ttlMs !== undefined ? { ttlMs } : {})
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_NO_REPLICAS') return { key, replicas: 0, pending: true, message: (err as Error).message }
      throw err
    }
  }))

  server.registerTool('find_agents', {
    title: 'Find agents',
    description: 'Agents on the mesh that announce a capability: their peer ids, names and capabilities.',
    inputSchema: { capability: z.string().min(1).max(128), limit: z.number().int().min(1).max(MCP_AGENTS_LIMIT_MAX).optional(), timeoutMs },
    annotations: { readOnlyHint: true }
  }, async ({ capability, limit, timeoutMs }) => run(async () => {
    const agents = await node.state.findAgents({ capability, ...(timeoutMs !== undefined ? { timeoutMs } : {}) })
    return { agents: agents.slice(0, limit ?? MCP_AGENTS_LIMIT_MAX) }
  }))

  server.registerTool('send_request', {
    title: 'Ask another agent',
    description: 'Call a method on another agent (by peer id) and wait for its reply.',
    inputSchema: { peer: z.string().min(1).max(128), method: z.string().min(1).max(256), payload: json.optional(), timeoutMs }
  }, async ({ peer, method, payload, timeoutMs }) => run(async () => ({
    payload: await node.direct.request(peer, method, fromJson(payload ?? null), timeoutMs !== undefined ? { timeoutMs } : {})
  })))

  server.registerTool('propose', {
    title: 'Propose to a group',
    description: 'Commit a command in a Raft group this node has joined (same order on every member); bft: true for a Byzantine-fault-tolerant decision with a certificate.',
    inputSchema: { group: z.string().min(1).max(256), command: json, bft: z.boolean().optional(), timeoutMs }
  }, async ({ group, command, bft, timeoutMs }) => run(async () => {
    const raft = node.groups.get(group)
    const options = timeoutMs !== undefined ? { timeoutMs } : {}
    if (bft === true) return { decision: await raft.propose(fromJson(command), { ...options, bft: true }) }
    return { result: (await raft.propose(fromJson(command), options)) ?? null }
  }))

  server.registerTool('lock', {
    title: 'Lock a resource',
    description: 'Take a lease on a resource in a joined group; returns a fencing token to pass to unlock (and to any store that checks tokens). While another holds it, waits up to waitMs (0: ask once), then fails with LockUnavailableError.',
    inputSchema: { group: z.string().min(1).max(256), resource: z.string().min(1).max(1024), ttlMs: z.number().int().min(1).max(3_600_000), timeoutMs, waitMs: z.number().int().min(0).max(300_000).optional().describe('how long to wait while another holds the lock (0: ask once); default timeoutMs') }
  }, async ({ group, resource, ttlMs, timeoutMs, waitMs }) => run(async () => {
    const handle = await node.groups.get(group).lock(resource, { ttlMs, ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(waitMs !== undefined ? { waitMs } : {}) })
    try {
      locks.add(group, handle)
    } catch (err) {
      await handle.release()
      throw err
    }
    return { group, resource, token: handle.token }
  }))

  server.registerTool('unlock', {
    title: 'Unlock a resource',
    description: 'Release a lock taken with the lock tool, by group, resource and token.',
    inputSchema: { group: z.string().min(1).max(256), resource: z.string().min(1).max(1024), token: z.number().int().min(0) },
    annotations: { destructiveHint: true, idempotentHint: true }
  }, async ({ group, resource, token }) => run(async () => ({ released: await locks.take(group, resource, token).release() })))

  const queue = z.string().min(1).max(128).describe('The task queue\'s name')
  const taskId = z.string().min(1).max(64).describe('The task id delegate_task returned')

  server.registerTool('delegate_task', {
    title: 'Delegate a task',
    description: 'Put a task on a mesh queue; a worker anywhere on the mesh does it. Returns the task id: pass it to await_task for the result. members (3 or 5 peer ids) creates the queue if it does not exist yet.',
    inputSchema: {
      queue,
      input: json,
      capability: z.string().min(1).max(128).optional(),
      priority: z.number().int().min(0).max(1000).optional(),
      idempotencyKey: z.string().min(1).max(256).optional().describe('The same key returns the same task instead of a new one'),
      members: z.array(z.string().min(1).max(128)).min(1).max(7).optional()
    }
  }, async ({ queue, input, capability, priority, idempotencyKey, members }) => run(async () => {
    const handle = await queues.open(queue, members !== undefined ? { members } : {})
    const submitted = await handle.submit(fromJson(input ?? null), { ...(capability !== undefined ? { capability } : {}), ...(priority !== undefined ? { priority } : {}), ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) })
    return { queue, taskId: submitted.id, state: submitted.state, duplicate: submitted.duplicate }
  }))

  server.registerTool('await_task', {
    title: 'Wait for a task',
    description: `Wait up to timeoutMs (at most ${MCP_WAIT_MS_MAX}) for a delegated task to end. done: true with the result or error; done: false when the wait ran out (call again).`,
    inputSchema: { queue, taskId, timeoutMs },
    annotations: { readOnlyHint: true }
  }, async ({ queue, taskId, timeoutMs }) => run(async () => awaitOutcome({ queues }, queue, taskId, timeoutMs ?? 30_000)))

  server.registerTool('get_task', {
    title: 'Read a task',
    description: 'A task now: state, attempt, worker, input, result or error, history. Does not wait.',
    inputSchema: { queue, taskId },
    annotations: { readOnlyHint: true }
  }, async ({ queue, taskId }) => run(async () => {
    const info = await (await queues.open(queue)).get(taskId)
    if (info === undefined) throw new ApiError(404, 'ERR_TASK_NOT_FOUND', `No task "${taskId}" on queue "${queue}"`)
    return taskJson(queue, info)
  }))

  server.registerTool('cancel_task', {
    title: 'Cancel a task',
    description: 'Cancel a delegated task that has not ended; its worker stops at its next renewal.',
    inputSchema: { queue, taskId },
    annotations: { destructiveHint: true, idempotentHint: true }
  }, async ({ queue, taskId }) => run(async () => {
    await (await queues.open(queue)).cancel(taskId)
    return { queue, taskId, canceled: true }
  }))

  server.registerTool('list_dead_letters', {
    title: 'List failed tasks',
    description: `Tasks of a queue that failed for good (dead letters), with their errors; at most ${MCP_DEAD_LETTERS_LIMIT_MAX}.`,
    inputSchema: { queue, limit: z.number().int().min(1).max(MCP_DEAD_LETTERS_LIMIT_MAX).optional() },
    annotations: { readOnlyHint: true }
  }, async ({ queue, limit }) => run(async () => {
    const tasks = await (await queues.open(queue)).deadLetters({ limit: limit ?? 20 })
    return { tasks: tasks.map((t) => taskJson(queue, t)) }
  }))

  return server
}

/**
 * Stateless Streamable HTTP: a fresh server and transport per request (the SDK's stateless
 * pattern), JSON responses rather than SSE. Host, Origin and the token are checked by the API.
 */
export function mcpHttpHandler (context: McpContext): (request: Request) => Promise<Response> {
  return async (request) => {
    const server = createMcpServer(context)
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    try {
      await server.connect(transport)
      return await transport.handleRequest(request)
    } finally {
      await server.close()
    }
  }
}

/**
 * Serve MCP on stdin/stdout until stdin closes (the host quit or closed the pipe), then call
 * `onClosed`. The SDK's stdio transport does not notice a closed stdin by itself, which leaves
 * orphaned servers behind, so this listens for 'end' and 'close' too.
 */
export async function serveMcpStdio (context: McpContext, options: { onClosed: (why: string) => void }): Promise<void> {
  const server = createMcpServer({ ...context, queues: context.queues ?? new QueueTable(context.node) })
  const transport = new StdioServerTransport()
  let closed = false
  const close = (why: string): void => {
    if (closed) return
    closed = true
    server.close().catch((err: unknown) => { process.stderr.write(`agentmesh mcp: closing the MCP server failed: ${describeError(err)}\n`) })
    options.onClosed(why)
  }
  transport.onclose = () => { close('the MCP transport closed') }
  process.stdin.once('end', () => { close('stdin ended') })
  process.stdin.once('close', () => { close('stdin closed') })
  await server.connect(transport)
}
