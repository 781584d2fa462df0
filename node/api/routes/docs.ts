// Shared documents (Yjs): read a doc's state as one Yjs update (base64 in JSON, or raw bytes
// with Accept: application/octet-stream), and apply an update from any Yjs implementation
// (Yjs, y-crdt/pycrdt, yrs): the node merges it and syncs it to every peer that opened the doc.

import { createRoute, z } from '@hono/zod-openapi'
import * as Y from 'yjs'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses } from '../context.ts'
import { ApiError } from '../errors.ts'
import { describeError } from '../../../protocols/kit/errors.ts'

/** Origin tag of updates applied through the API (observers can tell them from their own). */
export const API_UPDATE_ORIGIN = 'agentmesh-api'

const DocName = z.string().min(1).max(256)
const Base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64')

const DocStateSchema = z.object({
  name: z.string(),
  update: Base64.openapi({ description: 'Y.encodeStateAsUpdate(doc[, stateVector]), base64' }),
  stateVector: Base64.openapi({ description: 'Y.encodeStateVector(doc), base64: send it back as ?stateVector= to get only what is new' }),
  caughtUp: z.boolean(),
  peers: z.array(z.string())
}).openapi('DocState')

/** Register `getDoc` and `applyDocUpdate`. */
export function registerDocsRoutes (app: ApiApp, context: ApiContext): void {
  const { node } = context

  app.openapi(createRoute({
    method: 'get',
    path: '/v1/docs/{name}',
    operationId: 'getDoc',
    summary: 'Open a doc (if needed) and return its state as a Yjs update; Accept: application/octet-stream for raw bytes',
    request: {
      params: z.object({ name: DocName }),
      query: z.object({ stateVector: Base64.optional().openapi({ description: 'Only what this state vector lacks' }) })
    },
    responses: {
      200: {
        description: 'The doc state',
        content: { 'application/json': { schema: DocStateSchema }, 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } }
      },
      ...errorResponses
    }
  }), async (c) => {
    const { name } = c.req.valid('param')
    const query = c.req.valid('query')
    const doc = await node.docs.open(name)
    const since = query.stateVector !== undefined ? Buffer.from(query.stateVector, 'base64') : undefined
    let update: Uint8Array
    try {
      update = since !== undefined ? Y.encodeStateAsUpdate(doc, since) : Y.encodeStateAsUpdate(doc)
    } catch (err) {
      throw new ApiError(400, 'ERR_DECODE', `stateVector is not a Yjs state vector: ${describeError(err)}`)
    }
    if ((c.req.header('accept') ?? '').includes('application/octet-stream')) {
      return c.body(update as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream' }) as any
    }
    const status = node.docs.status(name)
    return c.json({ name, update: Buffer.from(update).toString('base64'), stateVector: Buffer.from(Y.encodeStateVector(doc)).toString('base64'), caughtUp: status.caughtUp, peers: status.peers }, 200)
  })

  app.openapi(createRoute({
    method: 'post',
    path: '/v1/docs/{name}/updates',
    operationId: 'applyDocUpdate',
    summary: 'Apply a Yjs update to a doc: JSON {update: base64} or an application/octet-stream body',
    request: {
      params: z.object({ name: DocName }),
      body: {
        required: false,
        content: { 'application/json': { schema: z.object({ update: Base64 }) }, 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } }
      }
    },
    responses: { 200: { description: 'Applied', content: { 'application/json': { schema: z.object({ name: z.string(), stateVector: Base64 }) } } }, ...errorResponses }
  }), async (c) => {
    const { name } = c.req.valid('param')
    const isJson = (c.req.header('content-type') ?? '').includes('json')
    const update = isJson ? Buffer.from((c.req.valid('json') as { update: string }).update, 'base64') : new Uint8Array(await c.req.arrayBuffer())
    if (update.byteLength === 0) throw new ApiError(400, 'ERR_BAD_REQUEST', 'The update is empty: send a Yjs update (Y.encodeStateAsUpdate or an update event\'s bytes)')
    const doc = await node.docs.open(name)
    try {
      Y.applyUpdate(doc, update, API_UPDATE_ORIGIN)
    } catch (err) {
      throw new ApiError(400, 'ERR_DECODE', `Cannot apply the update to doc "${name}": not a Yjs update (${describeError(err)})`)
    }
    return c.json({ name, stateVector: Buffer.from(Y.encodeStateVector(doc)).toString('base64') }, 200)
  })
}
