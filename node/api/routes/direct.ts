// Direct messages: call a method on a peer (sendRequest), and serve methods from another
// language: register a method, read incoming requests from an SSE inbox, post the reply.

import { createRoute, z } from '@hono/zod-openapi'
import { streamSSE } from 'hono/streaming'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses, JsonValue, TimeoutMs } from '../context.ts'
import { fromJson, toJson } from '../json.ts'
import { resumeFrom, SSE_KEEPALIVE_MS, sseLifetime } from '../sse.ts'
import { describeError } from '../../../protocols/kit/errors.ts'

const MethodName = z.string().min(1).max(256)

const SendRequestBody = z.object({
  method: MethodName.openapi({ example: 'summarise' }),
  payload: JsonValue.optional(),
  timeoutMs: TimeoutMs.optional(),
  oneWay: z.boolean().optional().openapi({ description: 'Fire-and-forget (node.direct.send): no reply is awaited' })
}).openapi('SendRequest')

const ReplyBody = z.union([
  z.object({ payload: JsonValue }),
  z.object({ error: z.string().min(1).max(4096) })
]).openapi('InboxReply')

/** Register `sendRequest`, `handleMethod`, `unhandleMethod`, `streamInbox`, `replyRequest`. */
export function registerDirectRoutes (app: ApiApp, context: ApiContext): void {
  const { node, inbox } = context

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/peers/{peer}/requests',
    operationId: 'sendRequest',
    summary: 'Call `method` on a peer and wait for its reply (or send one way with oneWay)',
    request: {
      params: z.object({ peer: z.string().min(1).max(128) }),
      body: { required: true, content: { 'application/json': { schema: SendRequestBody } } }
    },
    responses: {
      200: { description: 'The reply', content: { 'application/json': { schema: z.object({ payload: JsonValue }) } } },
      ...errorResponses
    }
  }), async (c) => {
    const { peer } = c.req.valid('param')
    const body = c.req.valid('json')
    const callOptions = { ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}), signal: c.req.raw.signal }
    if (body.oneWay === true) {
      await node.direct.send(peer, body.method, fromJson(body.payload ?? null), callOptions)
      return c.json({ payload: null }, 200)
    }
    const reply = await node.direct.request(peer, body.method, fromJson(body.payload ?? null), callOptions)
    return c.json({ payload: toJson(reply) }, 200)
  })

  app.openapi(createRoute({
    method: 'put',
    path: '/v1/inbox/methods/{method}',
    operationId: 'handleMethod',
    summary: 'Serve `method` from this API: its requests appear on streamInbox until unhandled',
    request: { params: z.object({ method: MethodName }) },
    responses: { 200: { description: 'Registered', content: { 'application/json': { schema: z.object({ methods: z.array(z.string()) }) } } }, ...errorResponses }
  }), (c) => {
    inbox.register(c.req.valid('param').method)
    return c.json({ methods: inbox.methods() }, 200)
  })

  app.openapi(createRoute({
    method: 'delete',
    path: '/v1/inbox/methods/{method}',
    operationId: 'unhandleMethod',
    summary: 'Stop serving `method`',
    request: { params: z.object({ method: MethodName }) },
    responses: { 200: { description: 'Unregistered', content: { 'application/json': { schema: z.object({ removed: z.boolean(), methods: z.array(z.string()) }) } } }, ...errorResponses }
  }), (c) => {
    const removed = inbox.unregister(c.req.valid('param').method)
    return c.json({ removed, methods: inbox.methods() }, 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/inbox',
    operationId: 'streamInbox',
    summary: 'SSE: requests for the methods served here ({id, method, from, payload}). On connect it first replays the requests still waiting for a reply: all of them, or those after Last-Event-ID when given',
    request: { query: z.object({ after: z.string().regex(/^\d+$/).optional() }) },
    responses: { 200: { description: 'text/event-stream of `request` events', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses }
  }), (c) => {
    const after = Number(resumeFrom(c.req.header('last-event-id'), c.req.valid('query').after) ?? '0')
    const release = context.sse.acquire()
    return streamSSE(c, async (stream) => {
      const lifetime = sseLifetime(stream, context.closing, release)
      let writing = Promise.resolve()
      const unlisten = inbox.listen((request) => {
        let data: string
        try {
          data = JSON.stringify(toJson({ id: request.id, method: request.method, from: request.from, payload: request.payload }))
        } catch (err) {
          // A payload JSON cannot carry (nested past JSON_DEPTH_MAX): fail it for the caller rather than drop it.
          inbox.reply(request.id, { error: `the payload cannot be passed to the agent behind this node's API: ${describeError(err)}` })
          return
        }
        writing = writing
          .then(async () => { await stream.writeSSE({ id: request.id, event: 'request', data }) })
          .catch(() => { lifetime.stop() }) // the client is gone: end this stream; the request stays pending for others
      }, Number.isFinite(after) ? after : 0)
      try {
        await keepAlive(stream, lifetime.signal)
      } finally {
        unlisten()
        lifetime.end()
      }
    }) as any
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/inbox/{id}/reply',
    operationId: 'replyRequest',
    summary: 'Answer an inbox request with {payload}, or fail it with {error}',
    request: {
      params: z.object({ id: z.string().regex(/^\d+$/) }),
      body: { required: true, content: { 'application/json': { schema: ReplyBody } } }
    },
    responses: { 200: { description: 'Delivered to the caller', content: { 'application/json': { schema: z.object({ ok: z.literal(true) }) } } }, ...errorResponses }
  }), (c) => {
    const body = c.req.valid('json')
    inbox.reply(c.req.valid('param').id, 'error' in body ? { error: body.error } : { payload: fromJson(body.payload) })
    return c.json({ ok: true as const }, 200)
  })
}

/** Write a comment line every SSE_KEEPALIVE_MS until `signal` aborts. */
export async function keepAlive (stream: { write: (text: string) => Promise<unknown>, sleep: (ms: number) => Promise<unknown> }, signal: AbortSignal): Promise<void> {
  await stream.write(': connected\n\n')
  while (!signal.aborted) {
    await Promise.race([stream.sleep(SSE_KEEPALIVE_MS), new Promise((resolve) => { signal.addEventListener('abort', resolve, { once: true }) })])
    if (!signal.aborted) await stream.write(': keep-alive\n\n')
  }
}
