// Operations routes of the API (DESIGN "Operations"): `GET /metrics` (Prometheus text, bearer
// token), and the live dashboard: `GET /` and its two scripts (static files that hold no
// secret), fed by `GET /dashboard/stream`, an SSE stream of snapshots that needs the token.
// A browser signs in with `/?token=<token>`: the page keeps the token in sessionStorage, drops
// it from the address bar, and sends it as a bearer header, so no cookie can be ridden by
// another site.

import { streamSSE } from 'hono/streaming'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from '@hono/zod-openapi'
import { errorResponses } from '../api/context.ts'
import type { ApiApp, ApiContext } from '../api/context.ts'
import { errorResponse } from '../api/errors.ts'
import { sseLifetime } from '../api/sse.ts'
import { createNodeMetrics } from './metrics.ts'
import type { NodeMetrics } from './metrics.ts'
import { takeSnapshot } from './snapshot.ts'
import type { SnapshotQueue } from './snapshot.ts'
import type { Registry } from 'prom-client'

/** Path of the Prometheus exposition. */
export const METRICS_PATH = '/metrics'
/** Path of the dashboard's snapshot stream. */
export const DASHBOARD_STREAM_PATH = '/dashboard/stream'
/** One snapshot a second: a person reads no faster, a snapshot costs a few in-memory reads, and it keeps the stream from idling out (no separate keep-alive). */
export const DASHBOARD_INTERVAL_MS = 1_000

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'static')

/** Static files of the dashboard: path → file and content type. They hold no secret. */
const STATIC_FILES: Readonly<Record<string, { file: () => string, type: string }>> = {
  '/': { file: () => join(STATIC_DIR, 'dashboard.html'), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: () => join(STATIC_DIR, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  // d3's own UMD bundle, from the installed package (exports "umd").
  '/dashboard/d3.min.js': { file: () => join(dirname(fileURLToPath(import.meta.resolve('d3'))), 'd3.min.js'), type: 'text/javascript; charset=utf-8' }
}

/** Paths served without the bearer token (the API's auth middleware lets these through). */
export function isPublicOpsPath (path: string): boolean {
  return Object.hasOwn(STATIC_FILES, path)
}

/** Options of `registerOpsRoutes`. */
export interface OpsOptions {
  /** The registry libp2p's metrics are on (the node's `prometheusRegistry`); a fresh one without. */
  registry?: Registry
  /** Task queues for the dashboard, once the node has a task layer. */
  queues?: () => SnapshotQueue[]
}

/** Register `/metrics`, `/`, the dashboard scripts and its stream; returns the metrics (close it with the server). */
export function registerOpsRoutes (app: ApiApp, context: ApiContext, options: OpsOptions = {}): NodeMetrics {
  const { node } = context
  const metrics = createNodeMetrics(node, { ...(options.registry !== undefined ? { registry: options.registry } : {}) })
  const cache = new Map<string, Uint8Array>()

  app.get(METRICS_PATH, async (c) => c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }))
  // Listed in the OpenAPI document so clients find them by operationId like every other operation.
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: METRICS_PATH,
    operationId: 'getMetrics',
    summary: 'Prometheus text exposition: agentmesh_* series and libp2p\'s own',
    responses: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: z.string() } } }, ...errorResponses }
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: DASHBOARD_STREAM_PATH,
    operationId: 'streamDashboard',
    summary: 'SSE: one `snapshot` event a second (peers, links, topics, groups, queues, counters), the feed of the dashboard at /',
    responses: { 200: { description: 'text/event-stream of `snapshot` events', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses }
  })

  for (const [path, { file, type }] of Object.entries(STATIC_FILES)) {
    app.get(path, async (c) => {
      let body = cache.get(path)
      if (body === undefined) {
        body = new Uint8Array(await readFile(file()))
        cache.set(path, body)
      }
      // The page runs only its own scripts and talks only to this server.
      return c.body(body as Uint8Array<ArrayBuffer>, 200, {
        'content-type': type,
        'cache-control': 'no-cache',
        'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer'
      })
    })
  }

  app.get(DASHBOARD_STREAM_PATH, async (c) => {
    const release = context.sse.acquire()
    return streamSSE(c, async (stream) => {
      const lifetime = sseLifetime(stream, context.closing, release)
      const onPeer = (): void => { wake() }
      let wake: () => void = () => {}
      node.addEventListener('peer:join', onPeer)
      node.addEventListener('peer:leave', onPeer)
      try {
        while (!lifetime.signal.aborted && node.running) {
          metrics.observe()
          await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(takeSnapshot(node, { ...(options.queues !== undefined ? { queues: options.queues } : {}) })) })
          // Wait a tick, or less when a peer joins or leaves (what a person watches for).
          await new Promise<void>((resolve) => {
            const timer = setTimeout(finish, DASHBOARD_INTERVAL_MS)
            function finish (): void {
              clearTimeout(timer)
              lifetime.signal.removeEventListener('abort', finish)
              resolve()
            }
            wake = finish
            lifetime.signal.addEventListener('abort', finish, { once: true })
          })
        }
      } catch (err) {
        if (!lifetime.signal.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify(errorResponse(err).body) })
      } finally {
        node.removeEventListener('peer:join', onPeer)
        node.removeEventListener('peer:leave', onPeer)
        lifetime.end()
      }
    })
  })
  return metrics
}
