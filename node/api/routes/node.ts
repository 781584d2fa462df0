// The node itself: identity, addresses, capabilities, peers, joined groups and open docs.

import { createRoute, z } from '@hono/zod-openapi'
import type { ApiApp, ApiContext } from '../context.ts'
import { errorResponses } from '../context.ts'

const PeerSchema = z.object({
  peerId: z.string(),
  name: z.string(),
  status: z.enum(['alive', 'suspect', 'dead']),
  lastSeenMs: z.number(),
  capabilities: z.array(z.string()),
  version: z.string(),
  connected: z.boolean()
}).openapi('Peer')

const NodeSchema = z.object({
  peerId: z.string(),
  name: z.string(),
  addresses: z.array(z.string()),
  capabilities: z.array(z.string()),
  peers: z.array(PeerSchema),
  groups: z.array(z.object({ name: z.string(), leader: z.string().nullable(), members: z.array(z.string()) })),
  docs: z.array(z.string()),
  inboxMethods: z.array(z.string())
}).openapi('Node')

/** What getNode answers (also the MCP tool `mesh_status`). */
export function nodeInfo (context: Pick<ApiContext, 'node'> & { inbox?: ApiContext['inbox'] }): z.infer<typeof NodeSchema> {
  const { node } = context
  return {
    peerId: node.peerId,
    name: node.name,
    addresses: node.addresses(),
    capabilities: node.state.card().capabilities,
    peers: node.peers(),
    groups: node.groups.list().map((name) => {
      const group = node.groups.get(name)
      return { name, leader: group.leader(), members: group.members() }
    }),
    docs: node.docs.list(),
    inboxMethods: context.inbox?.methods() ?? []
  }
}

/** Register `getNode`. */
export function registerNodeRoutes (app: ApiApp, context: ApiContext): void {
  app.openapi(createRoute({
    method: 'get',
    path: '/v1/node',
    operationId: 'getNode',
    summary: 'This node: peer id, addresses, capabilities, peers (with status), groups, docs',
    responses: { 200: { description: 'The node', content: { 'application/json': { schema: NodeSchema } } }, ...errorResponses }
  }), (c) => c.json(nodeInfo(context), 200))
}
