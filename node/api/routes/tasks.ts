// Task queues (DESIGN "Tasks"): open or create a queue, submit, read, watch (SSE), wait for the
// result (long poll), cancel; and the worker side for agents in any language: claim (long poll),
// renew, complete and fail with the lease's fencing token; dead letters and redrive.

import { createRoute, z } from '@hono/zod-openapi'
import { streamSSE } from 'hono/streaming'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses, JsonValue } from '../context.ts'
import { fromJson, toJson } from '../json.ts'
import { sseLifetime } from '../sse.ts'
import { ApiError, errorResponse } from '../errors.ts'
import { AgentMeshError } from '../../../protocols/kit/errors.ts'
import type { QueueTaskInfo } from '../queues.ts'

/** Longest long poll (claimTask, getTaskResult): an HTTP request should not outlive common client and proxy timeouts. */
export const TASK_WAIT_MS_MAX = 60_000
/** Tasks one claim leases at most (the queue's own CLAIM_TASKS_MAX). */
export const CLAIM_MAX = 64
/** Dead letters one listDeadLetters page returns at most. */
export const DEAD_LETTERS_LIMIT_MAX = 1000

const QueueName = z.string().min(1).max(128)
const TaskId = z.string().min(1).max(64)
const QueueParams = z.object({ queue: QueueName })
const TaskParams = z.object({ queue: QueueName, taskId: TaskId })
const Token = z.number().int().min(0).openapi({ description: 'The fencing token of the lease (from claimTask)' })
const WaitMs = z.number().int().min(0).max(TASK_WAIT_MS_MAX)

const TaskStateEnum = z.enum(['submitted', 'working', 'validating', 'retrying', 'completed', 'failed', 'canceled', 'rejected', 'input-required'])
const TaskErrorSchema = z.object({ type: z.string().min(1).max(256), message: z.string().max(4096) }).openapi('TaskError')

export const TaskSchema = z.object({
  id: z.string(),
  queue: z.string(),
  state: TaskStateEnum,
  attempt: z.number(),
  priority: z.number(),
  capability: z.string().optional(),
  worker: z.string().optional(),
  input: JsonValue,
  result: JsonValue.optional(),
  error: TaskErrorSchema.optional(),
  feedback: z.string().optional(),
  question: z.string().optional(),
  history: z.array(z.object({ state: TaskStateEnum, atMs: z.number() }))
}).openapi('Task')

const ClaimedSchema = z.object({
  taskId: z.string(),
  attempt: z.number(),
  token: z.number(),
  kind: z.string(),
  input: JsonValue,
  feedback: z.string().optional(),
  leaseMs: z.number().openapi({ description: 'Renew well within this (renewTask), or the task goes to another worker' })
}).openapi('ClaimedTask')

const OpenBody = z.object({
  members: z.array(z.string().min(1).max(128)).min(1).max(7).optional().openapi({ description: 'Peer ids of the queue\'s replicas (3 or 5): creates or joins the queue; without, finds it by name' }),
  dispatch: z.enum(['pull', 'round-robin', 'least-connections', 'bid']).optional(),
  leaseMs: z.number().int().min(100).max(3_600_000).optional(),
  timeoutMs: z.number().int().min(1).max(TASK_WAIT_MS_MAX).optional()
}).openapi('OpenQueue')

const SubmitBody = z.object({
  input: JsonValue,
  capability: z.string().min(1).max(128).optional(),
  priority: z.number().int().min(0).max(1000).optional(),
  idempotencyKey: z.string().min(1).max(256).optional(),
  timeoutMs: z.number().int().min(1).optional()
}).openapi('SubmitTask')

const ResultSchema = z.object({
  taskId: z.string(),
  done: z.boolean().openapi({ description: 'False when the wait ran out first: call again' }),
  state: TaskStateEnum,
  result: JsonValue.optional(),
  error: TaskErrorSchema.optional()
}).openapi('TaskResult')

const TERMINAL = new Set(['completed', 'failed', 'canceled', 'rejected'])

/** A task in JSON (bytes as {"$bytes"}), with its queue. */
export function taskJson (queue: string, info: QueueTaskInfo): z.infer<typeof TaskSchema> {
  return { ...(toJson(info) as Omit<z.infer<typeof TaskSchema>, 'queue'>), queue }
}

/** The task's outcome now, or after waiting up to `waitMs` for it (a long poll). */
export async function awaitOutcome (context: Pick<ApiContext, 'queues'>, queue: string, taskId: string, waitMs: number, signal?: AbortSignal): Promise<z.infer<typeof ResultSchema>> {
  const handle = await context.queues.open(queue)
  if (waitMs > 0) {
    try {
      await handle.result(taskId, { timeoutMs: waitMs, ...(signal !== undefined ? { signal } : {}) })
    } catch (err) {
      // A failed task and a wait that ran out both end the wait; the read below says which.
      if (!(err instanceof AgentMeshError) || (err.code !== 'ERR_TASK_FAILED' && err.code !== 'ERR_TIMEOUT')) throw err
    }
  }
  const info = await handle.get(taskId)
  if (info === undefined) throw new ApiError(404, 'ERR_TASK_NOT_FOUND', `No task "${taskId}" on queue "${queue}" (never submitted, or ended long enough ago to be purged)`)
  const json = taskJson(queue, info)
  return { taskId, done: TERMINAL.has(info.state), state: json.state, ...(json.result !== undefined ? { result: json.result } : {}), ...(json.error !== undefined ? { error: json.error } : {}) }
}

/** Register `openQueue`, `submitTask`, `getTask`, `watchTask`, `getTaskResult`, `cancelTask`, `claimTask`, `renewTask`, `completeTask`, `failTask`, `listDeadLetters`, `redriveTask`. */
export function registerTasksRoutes (app: ApiApp, context: ApiContext): void {
  const { queues } = context
  const json = <S extends z.ZodType>(schema: S): { required: true, content: { 'application/json': { schema: S } } } => ({ required: true, content: { 'application/json': { schema } } })
  const ok = <S extends z.ZodType>(description: string, schema: S) => ({ 200: { description, content: { 'application/json': { schema } } }, ...errorResponses })
  const Done = z.object({ ok: z.literal(true) })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}',
    operationId: 'openQueue',
    summary: 'Open a task queue: with members, create (or join) it; without, find it by name on the mesh',
    request: { params: QueueParams, body: json(OpenBody) },
    responses: ok('The queue', z.object({ name: z.string(), members: z.array(z.string()) }))
  }), async (c) => {
    const { queue } = c.req.valid('param')
    const body = c.req.valid('json')
    const handle = await queues.open(queue, body)
    return c.json({ name: handle.name, members: [...handle.members] }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/tasks',
    operationId: 'submitTask',
    summary: 'Submit a task; a worker anywhere on the mesh claims it (the same idempotencyKey gives the same task)',
    request: { params: QueueParams, body: json(SubmitBody) },
    responses: ok('The task as submitted', z.object({ id: z.string(), queue: z.string(), state: z.string(), duplicate: z.boolean() }))
  }), async (c) => {
    const { queue } = c.req.valid('param')
    const { input, ...options } = c.req.valid('json')
    const handle = await queues.open(queue)
    const submitted = await handle.submit(fromJson(input ?? null), { ...options, signal: c.req.raw.signal })
    return c.json({ id: submitted.id, queue, state: submitted.state, duplicate: submitted.duplicate }, 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/queues/{queue}/tasks/{taskId}',
    operationId: 'getTask',
    summary: 'A task: state, attempt, worker, input, result or error, history',
    request: { params: TaskParams },
    responses: ok('The task', TaskSchema)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    const info = await (await queues.open(queue)).get(taskId, { signal: c.req.raw.signal })
    if (info === undefined) throw new ApiError(404, 'ERR_TASK_NOT_FOUND', `No task "${taskId}" on queue "${queue}" (never submitted, or ended long enough ago to be purged)`)
    return c.json(taskJson(queue, info), 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/queues/{queue}/tasks/{taskId}/result',
    operationId: 'getTaskResult',
    summary: 'Long poll: wait up to waitMs for the task to end, then its outcome (done: false when the wait ran out)',
    request: { params: TaskParams, query: z.object({ waitMs: z.coerce.number().int().min(0).max(TASK_WAIT_MS_MAX).optional() }) },
    responses: ok('The outcome, or the state now', ResultSchema)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    return c.json(await awaitOutcome(context, queue, taskId, c.req.valid('query').waitMs ?? 30_000, c.req.raw.signal), 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/queues/{queue}/tasks/{taskId}/stream',
    operationId: 'watchTask',
    summary: 'SSE: the task now (a `task` event), then each state change (`state` events, id = change number) until it ends; reconnecting sends the task again',
    request: { params: TaskParams },
    responses: { 200: { description: 'text/event-stream of `task` and `state` events; an `error` event ends it', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses }
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    const handle = await queues.open(queue)
    const first = await handle.get(taskId)
    if (first === undefined) throw new ApiError(404, 'ERR_TASK_NOT_FOUND', `No task "${taskId}" on queue "${queue}"`)
    const release = context.sse.acquire()
    return streamSSE(c, async (stream) => {
      const lifetime = sseLifetime(stream, context.closing, release, { keepAlive: true })
      try {
        // The snapshot first: a client that reconnects loses nothing, whatever changed meanwhile.
        await stream.writeSSE({ id: String(first.history.length), event: 'task', data: JSON.stringify(taskJson(queue, first)) })
        if (!TERMINAL.has(first.state)) {
          let n = first.history.length
          // A watch may replay the history the snapshot already holds: skip those changes.
          let replayed = 0
          for await (const update of handle.watch(taskId, { signal: lifetime.signal })) {
            const known = first.history[replayed]
            if (replayed < first.history.length && known?.state === update.state && known.atMs === update.atMs) {
              replayed++
              continue
            }
            replayed = first.history.length
            await stream.writeSSE({ id: String(++n), event: 'state', data: JSON.stringify(update) })
            if (TERMINAL.has(update.state)) break
          }
        }
      } catch (err) {
        if (!lifetime.signal.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify(errorResponse(err).body) })
      } finally {
        lifetime.end()
      }
    }) as any
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/tasks/{taskId}/cancel',
    operationId: 'cancelTask',
    summary: 'Cancel a live task (its worker learns it on its next renewal)',
    request: { params: TaskParams },
    responses: ok('Canceled', Done)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    await (await queues.open(queue)).cancel(taskId)
    return c.json({ ok: true as const }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/claim',
    operationId: 'claimTask',
    summary: 'Worker side, long poll: lease up to max ready tasks, waiting up to waitMs for one; an empty list when none came',
    request: {
      params: QueueParams,
      body: json(z.object({
        max: z.number().int().min(1).max(CLAIM_MAX).optional(),
        waitMs: WaitMs.optional(),
        capability: z.union([z.string().min(1).max(128), z.array(z.string().min(1).max(128)).max(16)]).optional(),
        concurrency: z.number().int().min(1).max(256).optional()
      }).openapi('ClaimTask'))
    },
    responses: ok('The leased tasks', z.object({ tasks: z.array(ClaimedSchema) }))
  }), async (c) => {
    const { queue } = c.req.valid('param')
    const body = c.req.valid('json')
    const claimed = await (await queues.open(queue)).claim({ ...body, signal: c.req.raw.signal })
    return c.json({ tasks: claimed.map((t) => toJson(t) as z.infer<typeof ClaimedSchema>) }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/tasks/{taskId}/renew',
    operationId: 'renewTask',
    summary: 'Extend a lease (a heartbeat); 409 ERR_STALE_LEASE when the lease is lost or the task was canceled: stop working on it',
    request: { params: TaskParams, body: json(z.object({ token: Token })) },
    responses: ok('Renewed', Done)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    await (await queues.open(queue)).renew(taskId, c.req.valid('json').token)
    return c.json({ ok: true as const }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/tasks/{taskId}/complete',
    operationId: 'completeTask',
    summary: 'Deliver the result with the lease\'s token; 409 ERR_STALE_LEASE when another worker owns the task now',
    request: { params: TaskParams, body: json(z.object({ token: Token, output: JsonValue }).openapi('CompleteTask')) },
    responses: ok('Accepted', Done)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    const body = c.req.valid('json')
    await (await queues.open(queue)).complete(taskId, body.token, fromJson(body.output ?? null))
    return c.json({ ok: true as const }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/tasks/{taskId}/fail',
    operationId: 'failTask',
    summary: 'Fail the attempt with the lease\'s token; retried per the queue\'s policy unless retryable is false',
    request: { params: TaskParams, body: json(z.object({ token: Token, error: TaskErrorSchema, retryable: z.boolean().optional() }).openapi('FailTask')) },
    responses: ok('Accepted', Done)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    const body = c.req.valid('json')
    await (await queues.open(queue)).fail(taskId, body.token, body.error, body.retryable !== undefined ? { retryable: body.retryable } : {})
    return c.json({ ok: true as const }, 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/queues/{queue}/dead-letters',
    operationId: 'listDeadLetters',
    summary: 'Tasks that failed for good (kept as dead letters), oldest first',
    request: { params: QueueParams, query: z.object({ limit: z.coerce.number().int().min(1).max(DEAD_LETTERS_LIMIT_MAX).optional() }) },
    responses: ok('Dead letters', z.object({ tasks: z.array(TaskSchema) }))
  }), async (c) => {
    const { queue } = c.req.valid('param')
    const tasks = await (await queues.open(queue)).deadLetters({ limit: c.req.valid('query').limit ?? 100 })
    return c.json({ tasks: tasks.map((t) => taskJson(queue, t)) }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/queues/{queue}/tasks/{taskId}/redrive',
    operationId: 'redriveTask',
    summary: 'Send a dead letter back to the queue (attempts start again from 0)',
    request: { params: TaskParams },
    responses: ok('Resubmitted', Done)
  }), async (c) => {
    const { queue, taskId } = c.req.valid('param')
    await (await queues.open(queue)).redrive(taskId)
    return c.json({ ok: true as const }, 200)
  })
}
