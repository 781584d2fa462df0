// What every area of the API router gets: the node (through its public API only), the shared
// pieces (inbox, lock handles, SSE budget) and the schemas of the error body.

import { z } from '@hono/zod-openapi'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AgentNode } from '../../src/index.ts'
import type { Inbox } from './inbox.ts'
import type { LockTable } from './locks.ts'
import type { SseBudget } from './sse.ts'
import type { QueueTable } from './queues.ts'

/** Largest request body accepted: a 1 MiB direct payload (DIRECT_FRAME_BYTES_MAX) grows to ~1.34 MiB in base64 JSON. */
export const API_BODY_BYTES_MAX = 2 * 1024 * 1024

/** Hono environment of the API app. */
export type ApiEnv = Record<string, never>
/** The router every area registers its operations on. */
export type ApiApp = OpenAPIHono<ApiEnv>

/** Shared parts handed to each area's `register…` function. */
export interface ApiContext {
  readonly node: AgentNode
  readonly inbox: Inbox
  readonly locks: LockTable
  readonly sse: SseBudget
  /** Task queue handles opened by name (node.tasks). */
  readonly queues: QueueTable
  /** Aborted when the server closes: ends every open stream. */
  readonly closing: AbortSignal
}

/** `{error: {code, message}}`: the body of every failed request. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: 'ERR_BAD_REQUEST' }),
    message: z.string(),
    issues: z.array(z.any()).optional()
  })
}).openapi('Error')

const errorContent = { 'application/json': { schema: ErrorSchema } }

/** The failures every operation can answer with, for the OpenAPI document. */
export const errorResponses = {
  400: { description: 'Invalid input: the message names the field and the rule', content: errorContent },
  401: { description: 'Missing or wrong bearer token', content: errorContent },
  403: { description: 'Host or Origin is not this server (DNS rebinding guard)', content: errorContent },
  413: { description: `Body larger than API_BODY_BYTES_MAX (${API_BODY_BYTES_MAX} bytes) or a node limit`, content: errorContent },
  429: { description: 'Too many open streams (SSE_CLIENTS_MAX)', content: errorContent },
  500: { description: 'Unexpected failure', content: errorContent },
  503: { description: 'The mesh could not answer now (no leader, not running, no replicas)', content: errorContent }
} as const

/** Any JSON value; bytes are written {"$bytes": "<base64>"} (see json.ts). */
export const JsonValue = z.any().openapi('JsonValue', { description: 'Any JSON value; bytes as {"$bytes": "<base64>"}' })

/** Millisecond timeouts accepted from callers: at least 1 ms, at most 5 minutes (no request should hold a node longer). */
export const TimeoutMs = z.number().int().min(1).max(300_000)
