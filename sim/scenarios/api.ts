// `npm run sim -- api [--messages N] [--size B] --json`: what the local HTTP API adds to a call.
// Two in-process nodes; node A serves the API on loopback. Each round makes the same call in
// process and through HTTP (alternating which goes first): a direct request to node B, and a
// local state read. Prints p50/p99 of both paths and the p50 the API adds (goal: ≤ 1 ms).
// The HTTP client is node:http with a keep-alive agent, so the figure is what the API adds; the
// direct request is also timed through fetch (undici), whose own cost is reported beside it.

import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import { startApiServer } from '../../node/api/server.ts'
import { loadOrCreateToken } from '../../node/api/token.ts'
import { tasksOf } from '../../node/api/queues.ts'
import type { ApiTaskQueue } from '../../node/api/queues.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { Agent, request } from 'node:http'
import { latencySummary, quantile } from '../stats.ts'
import { DIRECT_REQUESTS_PER_PEER_PER_S } from '../../protocols/direct/adapter.ts'

/** Measured rounds per call when --messages is not given. */
export const ROUNDS_DEFAULT = 2000
/** Unmeasured rounds first: JIT, connection set-up, caches. */
export const WARMUP_ROUNDS = 200
/** How long B may take to join A before the run gives up. */
export const JOIN_TIMEOUT_MS = 30_000
/**
 * Direct rounds start this far apart (two requests each): 150 requests/s, under the peer's own
 * DIRECT_REQUESTS_PER_PEER_PER_S, so the benchmark measures calls, not B refusing them.
 */
export const DIRECT_ROUND_MS = Math.ceil(2_000 / (DIRECT_REQUESTS_PER_PEER_PER_S * 0.75))
/** The goal for the p50 the HTTP API adds to a call. */
export const ADDED_P50_GOAL_MS = 1

type Call = () => Promise<unknown>

/** Time `inProcess` and `http` alternately, `rounds` times each; rounds start at least `roundMs` apart. */
async function compare (rounds: number, calls: { inProcess: Call, http: Call }, roundMs = 0): Promise<{ inProcessMs: number[], httpMs: number[] }> {
  const { inProcess, http } = calls
  const inProcessMs: number[] = []
  const httpMs: number[] = []
  const time = async (call: Call, into: number[] | undefined): Promise<void> => {
    const started = performance.now()
    await call()
    into?.push(performance.now() - started)
  }
  for (let i = 0; i < WARMUP_ROUNDS + rounds; i++) {
    const roundStarted = performance.now()
    const measured = i >= WARMUP_ROUNDS
    const pair: Array<[Call, number[]]> = [[inProcess, inProcessMs], [http, httpMs]]
    if (i % 2 === 1) pair.reverse()
    for (const [call, into] of pair) await time(call, measured ? into : undefined)
    const rest = roundMs - (performance.now() - roundStarted)
    if (rest > 0) await new Promise(resolve => setTimeout(resolve, rest))
  }
  return { inProcessMs, httpMs }
}

function metricsOf (prefix: string, result: { inProcessMs: number[], httpMs: number[] }): Record<string, number | null> {
  const inProcess = latencySummary(result.inProcessMs)
  const http = latencySummary(result.httpMs)
  const added = quantile(result.httpMs, 0.5) - quantile(result.inProcessMs, 0.5)
  return {
    [`${prefix}_inprocess_p50_ms`]: inProcess.p50_ms,
    [`${prefix}_inprocess_p99_ms`]: inProcess.p99_ms,
    [`${prefix}_http_p50_ms`]: http.p50_ms,
    [`${prefix}_http_p99_ms`]: http.p99_ms,
    [`${prefix}_added_p50_ms`]: Math.round(added * 1000) / 1000
  }
}

/** Task rounds are this many times fewer than call rounds: each is several Raft commits. */
export const TASK_ROUNDS_DIVISOR = 10
/** Name of the benchmark's task queue (one replica, on node A). */
const BENCH_QUEUE = 'bench-api'

/**
 * A task submitted and its result awaited, in process (queue.submit + queue.result), through the
 * HTTP task endpoints (submitTask + the getTaskResult long poll), and as one blocking A2A
 * SendMessage through the gateway; node B works the queue. Empty when the node has no node.tasks.
 */
async function compareTasks (a: AgentNode, b: AgentNode, url: string, headers: Record<string, string>, payload: string, rounds: number, log: (line: string) => void): Promise<Record<string, number | null>> {
  const serviceA = tasksOf(a)
  const serviceB = tasksOf(b)
  if (serviceA === undefined || serviceB === undefined) return {}
  const expectOk = async (response: Response): Promise<any> => {
    if (!response.ok) throw new Error(`API call failed: ${response.status} ${await response.text()}`)
    return response.json()
  }
  // The API's own handle (the A2A gateway offers queues opened there), then B's.
  await expectOk(await fetch(`${url}/v1/queues/${BENCH_QUEUE}`, { method: 'POST', headers, body: JSON.stringify({ members: [a.peerId] }) }))
  const queueA = await serviceA.open(BENCH_QUEUE, { members: [a.peerId] })
  const queueB: ApiTaskQueue = await serviceB.open(BENCH_QUEUE)
  const stop = new AbortController()
  const worker = (async () => {
    while (!stop.signal.aborted) {
      const claimed = await queueB.claim({ max: 8, waitMs: 1000, signal: stop.signal }).catch((err: unknown) => { if (stop.signal.aborted) return []; throw err })
      await Promise.all(claimed.map(async (t) => { await queueB.complete(t.taskId, t.token, t.input) }))
    }
  })()
  try {
    log(`${rounds} task rounds each: in process, HTTP (submitTask + getTaskResult), A2A SendMessage`)
    const http = await compare(rounds, {
      inProcess: async () => queueA.result((await queueA.submit(payload)).id, { timeoutMs: 30_000 }),
      http: async () => {
        const { id } = await expectOk(await fetch(`${url}/v1/queues/${BENCH_QUEUE}/tasks`, { method: 'POST', headers, body: JSON.stringify({ input: payload }) }))
        return expectOk(await fetch(`${url}/v1/queues/${BENCH_QUEUE}/tasks/${id}/result?waitMs=30000`, { headers }))
      }
    })
    let n = 0
    const a2a = await compare(rounds, {
      inProcess: async () => queueA.result((await queueA.submit(payload)).id, { timeoutMs: 30_000 }),
      http: async () => {
        const answer = await expectOk(await fetch(`${url}/a2a`, {
          method: 'POST',
          headers: { ...headers, 'a2a-version': '1.0' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ++n, method: 'SendMessage', params: { message: { messageId: `bench-${n}`, role: 'ROLE_USER', parts: [{ text: payload }], metadata: { skill: BENCH_QUEUE } } } })
        }))
        // JSON-RPC errors come with status 200: check the task really completed.
        const state = answer?.result?.task?.status?.state
        if (state !== 'TASK_STATE_COMPLETED') throw new Error(`A2A SendMessage did not complete the task: ${JSON.stringify(answer).slice(0, 500)}`)
        return answer
      }
    })
    return { task_rounds: rounds, ...metricsOf('task', http), ...metricsOf('a2a_task', a2a) }
  } finally {
    stop.abort()
    await worker
  }
}

/** A small JSON client on one keep-alive connection (what a long-lived agent process holds). */
function keepAliveClient (base: string, headers: Record<string, string>): { call: (method: string, path: string, body?: string) => Promise<unknown>, close: () => void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const url = new URL(base)
  const call = async (method: string, path: string, body?: string): Promise<unknown> => new Promise((resolve, reject) => {
    const sent = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }
    const req = request({ agent, host: url.hostname, port: url.port, method, path, headers: sent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if ((res.statusCode ?? 500) >= 300) reject(new Error(`API call failed: ${res.statusCode} ${text}`))
        else resolve(JSON.parse(text))
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
  return { call, close: () => { agent.destroy() } }
}

/** Run the comparison. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const rounds = options.messages ?? ROUNDS_DEFAULT
  const payload = 'x'.repeat(options.size ?? 64)
  const nodes: AgentNode[] = []
  const a = await createAgentNode({ transport: 'memory' })
  nodes.push(a)
  const b = await createAgentNode({ transport: 'memory', peers: [a.addresses()[0]!] })
  nodes.push(b)
  const { token } = await loadOrCreateToken(undefined)
  const api = await startApiServer({ node: a, host: '127.0.0.1', port: 0, token })
  try {
    b.direct.handle('echo', (value) => value)
    // B joins through A; wait until A hears it (health), so A has an address to call it on.
    const deadline = Date.now() + JOIN_TIMEOUT_MS
    while (!a.peers().some(p => p.peerId === b.peerId && p.status === 'alive')) {
      if (Date.now() > deadline) throw new Error(`node B did not join node A within JOIN_TIMEOUT_MS (${JOIN_TIMEOUT_MS} ms)`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    await a.state.put('bench/key', { payload }).catch(() => undefined) // stored locally even without replicas
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const body = JSON.stringify({ method: 'echo', payload })
    const expectOk = async (response: Response): Promise<unknown> => {
      if (!response.ok) throw new Error(`API call failed: ${response.status} ${await response.text()}`)
      return response.json()
    }
    options.log(`${rounds} rounds each (after ${WARMUP_ROUNDS} warm-up): direct request to a peer, local state read`)
    const client = keepAliveClient(api.url, headers)
    const direct = await compare(rounds, {
      inProcess: async () => a.direct.request(b.peerId, 'echo', payload),
      http: async () => client.call('POST', `/v1/peers/${b.peerId}/requests`, body)
    }, DIRECT_ROUND_MS)
    const directFetch = await compare(rounds, {
      inProcess: async () => a.direct.request(b.peerId, 'echo', payload),
      http: async () => expectOk(await fetch(`${api.url}/v1/peers/${b.peerId}/requests`, { method: 'POST', headers, body }))
    }, DIRECT_ROUND_MS)
    const state = await compare(rounds, {
      inProcess: async () => a.state.get('bench/key', { local: true }),
      http: async () => client.call('GET', '/v1/state/bench%2Fkey?local=true')
    })
    client.close()
    const tasks = await compareTasks(a, b, api.url, headers, payload, Math.max(1, Math.floor(rounds / TASK_ROUNDS_DIVISOR)), options.log)
    const metrics: Record<string, number | null> = { rounds, payload_bytes: payload.length, ...metricsOf('direct', direct), ...metricsOf('direct_fetch', directFetch), ...metricsOf('state_get', state), ...tasks }
    const goalMet = (metrics.direct_added_p50_ms ?? Infinity) <= ADDED_P50_GOAL_MS && (metrics.state_get_added_p50_ms ?? Infinity) <= ADDED_P50_GOAL_MS
    options.log(`direct: in process p50 ${metrics.direct_inprocess_p50_ms} ms, via HTTP p50 ${metrics.direct_http_p50_ms} ms (added ${metrics.direct_added_p50_ms} ms; through fetch ${metrics.direct_fetch_added_p50_ms} ms)`)
    options.log(`state get: in process p50 ${metrics.state_get_inprocess_p50_ms} ms, via HTTP p50 ${metrics.state_get_http_p50_ms} ms (added ${metrics.state_get_added_p50_ms} ms)`)
    return {
      scenario: 'api',
      nodes: 2,
      seed: options.seed,
      ok: direct.httpMs.length === rounds && state.httpMs.length === rounds,
      metrics: { ...metrics, added_p50_goal_ms: ADDED_P50_GOAL_MS, goal_met: goalMet },
      latenciesMs: direct.httpMs
    }
  } finally {
    await api.close()
    await Promise.all(nodes.map(async (n) => { await n.stop() }))
  }
}
