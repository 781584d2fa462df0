// Events: publish, list history, and a live SSE stream per topic that resumes after the
// event id a reconnecting client sends in Last-Event-ID (node.events.subscribe({from})).

import { createRoute, z } from '@hono/zod-openapi'
import { streamSSE } from 'hono/streaming'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses, JsonValue } from '../context.ts'
import { fromJson, toJson } from '../json.ts'
import { resumeFrom, sseLifetime } from '../sse.ts'
import { errorResponse } from '../errors.ts'

/** Events one listEvents call returns at most (the node's own HISTORY_LIMIT_MAX is larger; pages keep responses small). */
export const LIST_EVENTS_LIMIT_MAX = 1000

const Topic = z.string().min(1).max(256)

export const EventSchema = z.object({
  id: z.string(),
  topic: z.string(),
  type: z.string(),
  data: JsonValue,
  author: z.string(),
  hlc: z.object({ wallMs: z.number(), logical: z.number() }),
  seq: z.number()
}).openapi('AgentEvent')

const PublishBody = z.object({
  type: z.string().min(1).max(128).openapi({ example: 'note' }),
  data: JsonValue.optional()
}).openapi('PublishEvent')

const StatusSchema = z.object({ caughtUp: z.boolean(), lastEventId: z.string().nullable(), count: z.number(), held: z.number(), peers: z.number() })

/** Register `publishEvent`, `listEvents`, `streamEvents`. */
export function registerEventsRoutes (app: ApiApp, context: ApiContext): void {
  const { node } = context

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/events/{topic}',
    operationId: 'publishEvent',
    summary: 'Publish an event on a topic; it is signed, gossiped and replayable by late joiners',
    request: {
      params: z.object({ topic: Topic }),
      body: { required: true, content: { 'application/json': { schema: PublishBody } } }
    },
    responses: { 200: { description: 'The published event', content: { 'application/json': { schema: EventSchema } } }, ...errorResponses }
  }), async (c) => {
    const { topic } = c.req.valid('param')
    const body = c.req.valid('json')
    const event = await node.events.publish(topic, { type: body.type, data: fromJson(body.data ?? null) })
    return c.json(toJson(event) as z.infer<typeof EventSchema>, 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/events/{topic}',
    operationId: 'listEvents',
    summary: 'Stored events of a topic in local order, after an event id',
    request: {
      params: z.object({ topic: Topic }),
      query: z.object({
        after: z.string().max(128).optional(),
        limit: z.coerce.number().int().min(1).max(LIST_EVENTS_LIMIT_MAX).optional()
      })
    },
    responses: { 200: { description: 'A page of events and the topic status', content: { 'application/json': { schema: z.object({ events: z.array(EventSchema), status: StatusSchema }) } } }, ...errorResponses }
  }), async (c) => {
    const { topic } = c.req.valid('param')
    const query = c.req.valid('query')
    const events = await node.events.history(topic, { ...(query.after !== undefined ? { after: query.after } : {}), limit: query.limit ?? 100 })
    return c.json({ events: toJson(events) as Array<z.infer<typeof EventSchema>>, status: node.events.status(topic) }, 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/events/{topic}/stream',
    operationId: 'streamEvents',
    summary: 'SSE: events of a topic as they arrive (id = event id); reconnect with Last-Event-ID to resume right after it',
    request: {
      params: z.object({ topic: Topic }),
      query: z.object({ from: z.string().max(128).optional().openapi({ description: '"start", "now" (default) or an event id to resume after' }) })
    },
    responses: { 200: { description: 'text/event-stream of `event` events; an `error` event ends it', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses }
  }), async (c) => {
    const { topic } = c.req.valid('param')
    const from = resumeFrom(c.req.header('last-event-id'), c.req.valid('query').from) ?? 'now'
    // An unknown resume id is a 404 now, before the stream starts (history throws EventNotFoundError).
    if (from !== 'now' && from !== 'start') await node.events.history(topic, { after: from, limit: 1 })
    const release = context.sse.acquire()
    return streamSSE(c, async (stream) => {
      const lifetime = sseLifetime(stream, context.closing, release, { keepAlive: true })
      try {
        await stream.write(': connected\n\n')
        for await (const event of node.events.subscribe(topic, { from, signal: lifetime.signal })) {
          await stream.writeSSE({ id: event.id, event: 'event', data: JSON.stringify(toJson(event)) })
        }
      } catch (err) {
        // A reader that fell behind retention, or the node stopping: say so in-band, then end the stream.
        if (!lifetime.signal.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify(errorResponse(err).body) })
      } finally {
        lifetime.end()
      }
    }) as any
  })
}
