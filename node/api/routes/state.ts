// Shared state in the DHT: get and put signed records, and find agents by capability.
// Keys may contain "/": percent-encode them in the path (agents%2Fx%2Fcard).

import { createRoute, z } from '@hono/zod-openapi'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses, JsonValue, TimeoutMs } from '../context.ts'
import { fromJson, toJson } from '../json.ts'
import { AgentMeshError } from '../../../protocols/kit/errors.ts'
import { CAPABILITIES_MAX } from '../../../protocols/state/card.ts'

/** Longest key accepted in the path; the state protocol applies its own, stricter rules on top. */
const KEY_CHARS_MAX = 1024
/** Agents one findAgents answer holds at most: a directory page, not a crawl. */
export const FIND_AGENTS_LIMIT_MAX = 100

const Key = z.string().min(1).max(KEY_CHARS_MAX)
const Hlc = z.object({ wallMs: z.number(), logical: z.number() })

const StateEntrySchema = z.object({
  key: z.string(),
  found: z.boolean(),
  value: JsonValue.optional(),
  author: z.string().optional(),
  version: z.number().optional(),
  hlc: Hlc.optional(),
  expiresAtMs: z.number().optional()
}).openapi('StateEntry')

const PutBody = z.object({ value: JsonValue, ttlMs: z.number().int().min(1).optional(), timeoutMs: TimeoutMs.optional() }).openapi('PutState')

const PutReceiptSchema = z.object({
  key: z.string(),
  replicas: z.number(),
  version: z.number().optional(),
  hlc: Hlc.optional(),
  expiresAtMs: z.number().optional(),
  pending: z.boolean().optional().openapi({ description: 'True (status 202) when no peer stored it yet: kept on this node and republished when peers are reachable' }),
  message: z.string().optional()
}).openapi('PutReceipt')

export const AgentCardSchema = z.object({ peerId: z.string(), name: z.string(), capabilities: z.array(z.string()), addresses: z.array(z.string()) }).openapi('AgentCard')

/** Register `getState`, `putState`, `findAgents`, `setCapabilities`. */
export function registerStateRoutes (app: ApiApp, context: ApiContext): void {
  const { node } = context

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/state/{key}',
    operationId: 'getState',
    summary: 'Read a DHT record (found: false when nobody holds it)',
    request: {
      params: z.object({ key: Key }),
      query: z.object({ local: z.enum(['true', 'false']).optional().openapi({ description: 'Read only this node\'s store' }), timeoutMs: z.coerce.number().int().min(1).max(300_000).optional() })
    },
    responses: { 200: { description: 'The record', content: { 'application/json': { schema: StateEntrySchema } } }, ...errorResponses }
  }), async (c) => {
    const { key } = c.req.valid('param')
    const query = c.req.valid('query')
    const entry = await node.state.get(key, { local: query.local === 'true', signal: c.req.raw.signal, ...(query.timeoutMs !== undefined ? { timeoutMs: query.timeoutMs } : {}) })
    if (entry === undefined) return c.json({ key, found: false }, 200)
    return c.json({ key, found: true, ...(toJson(entry) as object) }, 200)
  })

  app.openapi(createRoute({
    method: 'put',
    path: '/v1/state/{key}',
    operationId: 'putState',
    summary: 'Write a signed DHT record (last writer wins); 202 when no peer could store it yet',
    request: {
      params: z.object({ key: Key }),
      body: { required: true, content: { 'application/json': { schema: PutBody } } }
    },
    responses: {
      200: { description: 'Stored on peers', content: { 'application/json': { schema: PutReceiptSchema } } },
      202: { description: 'Kept on this node only for now', content: { 'application/json': { schema: PutReceiptSchema } } },
      ...errorResponses
    }
  }), async (c) => {
    const { key } = c.req.valid('param')
    const body = c.req.valid('json')
    try {
      const receipt = await node.state.put(key, fromJson(body.value), { signal: c.req.raw.signal, ...(body.ttlMs !== undefined ? { ttlMs: body.ttlMs } : {}), ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}) })
      return c.json(toJson(receipt) as z.infer<typeof PutReceiptSchema>, 200)
    } catch (err) {
      // The record is stored locally and republished (NoReplicasError's contract): accepted, not failed.
      if (err instanceof AgentMeshError && err.code === 'ERR_NO_REPLICAS') return c.json({ key, replicas: 0, pending: true, message: err.message }, 202)
      throw err
    }
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/agents',
    operationId: 'findAgents',
    summary: 'Agents that announce a capability (their signed cards)',
    request: {
      query: z.object({
        capability: z.string().min(1).max(128),
        limit: z.coerce.number().int().min(1).max(FIND_AGENTS_LIMIT_MAX).optional(),
        timeoutMs: z.coerce.number().int().min(1).max(300_000).optional()
      })
    },
    responses: { 200: { description: 'Agent cards', content: { 'application/json': { schema: z.object({ agents: z.array(AgentCardSchema) }) } } }, ...errorResponses }
  }), async (c) => {
    const query = c.req.valid('query')
    const agents = await node.state.findAgents({ capability: query.capability, signal: c.req.raw.signal, ...(query.timeoutMs !== undefined ? { timeoutMs: query.timeoutMs } : {}) })
    return c.json({ agents: agents.slice(0, query.limit ?? FIND_AGENTS_LIMIT_MAX) }, 200)
  })

  app.openapi(createRoute({
    method: 'put',
    path: '/v1/node/capabilities',
    operationId: 'setCapabilities',
    summary: 'Replace the capabilities this node announces (what findAgents finds it by) and publish its card again; returns the card',
    request: { body: { required: true, content: { 'application/json': { schema: z.object({ capabilities: z.array(z.string().min(1).max(128)).max(CAPABILITIES_MAX) }).openapi('SetCapabilities') } } } },
    responses: { 200: { description: 'The card as published', content: { 'application/json': { schema: AgentCardSchema } } }, ...errorResponses }
  }), async (c) => {
    const { capabilities } = c.req.valid('json')
    return c.json(await node.state.setCapabilities(capabilities), 200)
  })
}
