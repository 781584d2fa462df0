// The local HTTP API (DESIGN "Agents in any language"): Hono on node's http server, JSON over
// HTTP, SSE for streams, an OpenAPI 3.1 document built from the same zod schemas that validate
// input, a bearer token, and a Host/Origin guard. Each area of the node registers its own routes.

import { createAdaptorServer } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import { OpenAPIHono, z } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { AddressInfo } from 'node:net'
import type { AgentNode } from '../../src/index.ts'
import { packageVersion } from '../../src/version.ts'
import { API_BODY_BYTES_MAX } from './context.ts'
import type { ApiApp, ApiContext, ApiEnv } from './context.ts'
import { errorResponse } from './errors.ts'
import { bearerMatches } from './token.ts'
import { hostAllowed, originAllowed } from './guard.ts'
import type { HostPolicy } from './guard.ts'
import { Inbox } from './inbox.ts'
import { LockTable } from './locks.ts'
import { SseBudget } from './sse.ts'
import { registerNodeRoutes } from './routes/node.ts'
import { registerDirectRoutes } from './routes/direct.ts'
import { registerEventsRoutes } from './routes/events.ts'
import { registerStateRoutes } from './routes/state.ts'
import { registerDocsRoutes } from './routes/docs.ts'
import { registerGroupsRoutes } from './routes/groups.ts'
import { registerTasksRoutes } from './routes/tasks.ts'
import { QueueTable } from './queues.ts'
import type { ApiTasksService } from './queues.ts'
import { mcpHttpHandler } from '../mcp/adapter.ts'
import { isPublicOpsPath, registerOpsRoutes } from '../ops/dashboard.ts'
import type { OpsOptions } from '../ops/dashboard.ts'
import { AGENT_CARD_WELL_KNOWN, mountA2a } from '../a2a/gateway.ts'
import type { MeshTaskPort } from '../a2a/port.ts'
import { tasksPort } from '../a2a/tasks-port.ts'

/** The areas of the API, one file each under routes/: each registers its operations on the app. */
const AREAS: ReadonlyArray<(app: ApiApp, context: ApiContext) => void> = [
  registerNodeRoutes,
  registerDirectRoutes,
  registerEventsRoutes,
  registerStateRoutes,
  registerDocsRoutes,
  registerGroupsRoutes,
  registerTasksRoutes
]

/** Path of the OpenAPI document (served without the token: it holds no secret, and clients read it first). */
export const OPENAPI_PATH = '/openapi.json'
/** Path of the MCP Streamable HTTP endpoint. */
export const MCP_PATH = '/mcp'

/** Options of `startApiServer`. */
export interface ApiServerOptions {
  node: AgentNode
  /** Interface to bind: loopback unless the user allowed remote access. */
  host: string
  /** TCP port; 0 picks a free one. */
  port: number
  /** The bearer token every request must carry. */
  token: string
  /** Operations: the registry of libp2p's metrics, task queues for the dashboard. */
  ops?: OpsOptions
  /** The task queues the A2A gateway offers (default: those opened through this API). */
  tasks?: MeshTaskPort
  /** The task service behind the queue endpoints (default: the node's own, `node.tasks`). */
  tasksService?: ApiTasksService
}

/** A running API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:7700`. */
  readonly url: string
  readonly port: number
  /** The Hono app (tests and in-process callers use `app.request`). */
  readonly app: ApiApp
  /** Stop listening, end open streams, unregister inbox methods. */
  close: () => Promise<void>
}

/** Build the Hono app serving `node` (no socket): used by the server and by in-process callers. */
export function createApiApp (options: { node: AgentNode, token: string, policy: HostPolicy, closing: AbortSignal, ops?: OpsOptions, tasks?: MeshTaskPort, tasksService?: ApiTasksService }): { app: ApiApp, context: ApiContext } {
  const { node, token, policy } = options
  const context: ApiContext = { node, inbox: new Inbox(node), locks: new LockTable(), sse: new SseBudget(), queues: new QueueTable(node, options.tasksService), closing: options.closing }
  const app = new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => {
      if (result.success) return
      const error = result.error as z.ZodError
      return c.json({ error: { code: 'ERR_BAD_REQUEST', message: `Invalid ${result.target}: ${z.prettifyError(error)}`, issues: error.issues } }, 400)
    }
  })

  app.onError((err, c) => {
    if (err instanceof HTTPException && err.status < 500) {
      return c.json({ error: { code: 'ERR_BAD_REQUEST', message: err.message } }, err.status)
    }
    const { status, body } = errorResponse(err)
    return c.json(body, status as 400)
  })
  app.notFound((c) => c.json({ error: { code: 'ERR_NOT_FOUND', message: `No operation at ${c.req.method} ${c.req.path}; the operations are listed in ${OPENAPI_PATH}` } }, 404))

  // DNS rebinding guard first: a refused Host or Origin learns nothing, not even whether a token is needed.
  app.use('*', async (c, next) => {
    if (!hostAllowed(c.req.header('host'), policy)) {
      return c.json({ error: { code: 'ERR_HOST_REFUSED', message: `Host "${c.req.header('host') ?? ''}" is not this server: only loopback names (localhost, 127.0.0.1, [::1]) and the bound address are accepted (DNS rebinding guard)` } }, 403)
    }
    if (!originAllowed(c.req.header('origin'), policy)) {
      return c.json({ error: { code: 'ERR_ORIGIN_REFUSED', message: `Origin "${c.req.header('origin') ?? ''}" is not this server: browsers may call the API only from a page it serves or from localhost (DNS rebinding guard)` } }, 403)
    }
    await next()
  })
  app.use('*', async (c, next) => {
    // The OpenAPI document, the A2A Agent Card and the dashboard's page hold no secret; clients read the first two to learn how to authenticate.
    if (c.req.path === OPENAPI_PATH || c.req.path === AGENT_CARD_WELL_KNOWN || (c.req.method === 'GET' && isPublicOpsPath(c.req.path))) return next()
    if (!bearerMatches(c.req.header('authorization'), token)) {
      return c.json({ error: { code: 'ERR_UNAUTHORIZED', message: 'Missing or wrong bearer token: send "Authorization: Bearer <token>" with the token from <data-dir>/api-token (or the one the node printed)' } }, 401)
    }
    await next()
  })
  app.use('*', bodyLimit({
    maxSize: API_BODY_BYTES_MAX,
    // The rest of the body is never read, so this connection cannot carry another request: say so.
    onError: (c) => c.json({ error: { code: 'ERR_BODY_TOO_LARGE', message: `Request body exceeds API_BODY_BYTES_MAX (${API_BODY_BYTES_MAX} bytes)` } }, 413, { connection: 'close' })
  }))

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'The token in <data-dir>/api-token (mode 0600), or the one printed at start without --data-dir' })
  for (const register of AREAS) register(app, context)

  const mcp = mcpHttpHandler({ node, locks: context.locks, queues: context.queues })
  app.all(MCP_PATH, async (c) => mcp(c.req.raw))
  const metrics = registerOpsRoutes(app, context, options.ops)
  options.closing.addEventListener('abort', () => { metrics.close() }, { once: true })

  // The A2A gateway: the node's reachable task queues as skills of one A2A agent.
  mountA2a(app, {
    port: options.tasks ?? tasksPort(context.queues),
    identity: { name: node.name, peerId: node.peerId, version: packageVersion(), description: `agentmesh node ${node.name} (${node.peerId}): each skill is a task queue on the mesh; a worker anywhere on the mesh does the work` },
    sse: context.sse,
    closing: options.closing
  })

  app.doc31(OPENAPI_PATH, {
    openapi: '3.1.0',
    info: { title: 'agentmesh node API', version: packageVersion(), description: 'Local HTTP API of one agentmesh node, for agents in any language. Find operations by operationId. Bytes travel as {"$bytes": "<base64>"}.' },
    security: [{ bearer: [] }]
  })
  return { app, context }
}

/** Start the API server on `host:port`. */
export async function startApiServer (options: ApiServerOptions): Promise<ApiServer> {
  const closing = new AbortController()
  const { app, context } = createApiApp({ node: options.node, token: options.token, policy: { boundHost: options.host }, closing: closing.signal, ...(options.ops !== undefined ? { ops: options.ops } : {}), ...(options.tasks !== undefined ? { tasks: options.tasks } : {}), ...(options.tasksService !== undefined ? { tasksService: options.tasksService } : {}) })
  const server: ServerType = createAdaptorServer({ fetch: app.fetch, hostname: options.host })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `http://${hostInUrl}:${port}`,
    port,
    app,
    close: async () => {
      closing.abort()
      context.inbox.close()
      await new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        if ('closeAllConnections' in server) server.closeAllConnections()
      })
    }
  }
}
