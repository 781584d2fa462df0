// Raft groups (built-in KV and locks) and BFT decisions: join, propose (bft: true for flagged
// decisions with a certificate), verify a decision, the group's KV, and locks with fencing tokens.

import { createRoute, z } from '@hono/zod-openapi'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses, JsonValue, TimeoutMs } from '../context.ts'
import { fromJson, toJson } from '../json.ts'

/** Longest lock lease through the API: a client that vanishes holds a resource at most this long (1 hour). */
export const LOCK_TTL_MS_MAX = 3_600_000

const GroupName = z.string().min(1).max(256)
const Params = z.object({ group: GroupName })

const GroupSchema = z.object({
  name: z.string(),
  leader: z.string().nullable(),
  isLeader: z.boolean(),
  members: z.array(z.string()),
  status: z.object({ role: z.string(), term: z.number(), leader: z.string().nullable(), committed: z.number(), applied: z.number(), snapshotIndex: z.number(), lastIndex: z.number() })
}).openapi('Group')

function groupView (context: ApiContext, name: string): z.infer<typeof GroupSchema> {
  const group = context.node.groups.get(name)
  return { name, leader: group.leader(), isLeader: group.isLeader(), members: group.members(), status: group.status() }
}

/** Register `joinGroup`, `getGroup`, `propose`, `verifyDecision`, `getGroupKv`, `putGroupKv`, `lock`, `unlock`. */
export function registerGroupsRoutes (app: ApiApp, context: ApiContext): void {
  const { node } = context
  const json = <S extends z.ZodType>(schema: S): { required: true, content: { 'application/json': { schema: S } } } => ({ required: true, content: { 'application/json': { schema } } })
  const ok = <S extends z.ZodType>(description: string, schema: S) => ({ 200: { description, content: { 'application/json': { schema } } }, ...errorResponses })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/groups/{group}/join',
    operationId: 'joinGroup',
    summary: 'Join a Raft group with the built-in KV and locks (every member joins with the same members); bft: true also runs BFT (n ≥ 4)',
    request: { params: Params, body: json(z.object({ members: z.array(z.string().min(1)).min(1).max(64), bft: z.boolean().optional() })) },
    responses: ok('The joined group', GroupSchema)
  }), async (c) => {
    const { group } = c.req.valid('param')
    const body = c.req.valid('json')
    if (!node.groups.list().includes(group)) await node.groups.join(group, { members: body.members, ...(body.bft === true ? { bft: true } : {}) })
    return c.json(groupView(context, group), 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/groups/{group}',
    operationId: 'getGroup',
    summary: 'A joined group: leader, members, Raft status',
    request: { params: Params },
    responses: ok('The group', GroupSchema)
  }), (c) => c.json(groupView(context, c.req.valid('param').group), 200))

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/groups/{group}/propose',
    operationId: 'propose',
    summary: 'Commit a command (same order on every member); with bft: true, a Byzantine-fault-tolerant decision with a certificate',
    request: { params: Params, body: json(z.object({ command: JsonValue, bft: z.boolean().optional(), timeoutMs: TimeoutMs.optional() }).openapi('Propose')) },
    responses: ok('The result of apply, or the BFT decision', z.object({ result: JsonValue.optional(), decision: JsonValue.optional() }))
  }), async (c) => {
    const { group } = c.req.valid('param')
    const body = c.req.valid('json')
    const raft = node.groups.get(group)
    const options = { signal: c.req.raw.signal, ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}) }
    if (body.bft === true) {
      const decision = await raft.propose(fromJson(body.command), { ...options, bft: true })
      return c.json({ decision: toJson(decision) }, 200)
    }
    const result = await raft.propose(fromJson(body.command), options)
    return c.json({ result: toJson(result ?? null) }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/groups/{group}/verify',
    operationId: 'verifyDecision',
    summary: 'Check a BFT decision\'s certificate (a tampered value fails)',
    request: { params: Params, body: json(z.object({ decision: JsonValue })) },
    responses: ok('Whether the certificate holds', z.object({ valid: z.boolean() }))
  }), (c) => {
    const { group } = c.req.valid('param')
    return c.json({ valid: node.groups.get(group).verify(fromJson(c.req.valid('json').decision)) }, 200)
  })

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/groups/{group}/kv/{key}',
    operationId: 'getGroupKv',
    summary: 'Linearizable read from the group\'s built-in KV',
    request: { params: z.object({ group: GroupName, key: z.string().min(1).max(1024) }) },
    responses: ok('The value (null when unset)', z.object({ key: z.string(), value: z.string().nullable() }))
  }), async (c) => {
    const { group, key } = c.req.valid('param')
    return c.json({ key, value: await node.groups.get(group).kv.get(key, { signal: c.req.raw.signal }) }, 200)
  })

  app.openapi(createRoute({
    method: 'put',
    path: '/v1/groups/{group}/kv/{key}',
    operationId: 'putGroupKv',
    summary: 'Write a string to the group\'s built-in KV (committed on a majority)',
    request: { params: z.object({ group: GroupName, key: z.string().min(1).max(1024) }), body: json(z.object({ value: z.string() })) },
    responses: ok('Committed', z.object({ key: z.string(), value: z.string() }))
  }), async (c) => {
    const { group, key } = c.req.valid('param')
    const { value } = c.req.valid('json')
    await node.groups.get(group).kv.put(key, value, { signal: c.req.raw.signal })
    return c.json({ key, value }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/groups/{group}/locks/{resource}',
    operationId: 'lock',
    summary: 'Take a lease on a resource (waits while another holds it, up to waitMs or timeoutMs, then 409); the token is a fencing token that only grows',
    request: {
      params: z.object({ group: GroupName, resource: z.string().min(1).max(1024) }),
      body: json(z.object({ ttlMs: z.number().int().min(1).max(LOCK_TTL_MS_MAX), timeoutMs: TimeoutMs.optional(), waitMs: z.number().int().min(0).max(300_000).optional().describe('how long to wait while another holds it (0: ask once); default timeoutMs') }))
    },
    responses: ok('Granted', z.object({ group: z.string(), resource: z.string(), token: z.number() }))
  }), async (c) => {
    const { group, resource } = c.req.valid('param')
    const body = c.req.valid('json')
    const handle = await node.groups.get(group).lock(resource, { ttlMs: body.ttlMs, signal: c.req.raw.signal, ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}), ...(body.waitMs !== undefined ? { waitMs: body.waitMs } : {}) })
    try {
      context.locks.add(group, handle)
    } catch (err) {
      await handle.release()
      throw err
    }
    return c.json({ group, resource, token: handle.token }, 200)
  })

  app.openapi(createRoute({
    method: 'delete',
    path: '/v1/groups/{group}/locks/{resource}',
    operationId: 'unlock',
    summary: 'Release a lock taken through this API (by its token)',
    request: { params: z.object({ group: GroupName, resource: z.string().min(1).max(1024) }), query: z.object({ token: z.coerce.number().int().min(0) }) },
    responses: ok('Released (false: the lease had already expired or passed on)', z.object({ released: z.boolean() }))
  }), async (c) => {
    const { group, resource } = c.req.valid('param')
    const handle = context.locks.take(group, resource, c.req.valid('query').token)
    return c.json({ released: await handle.release({ signal: c.req.raw.signal }) }, 200)
  })
}
