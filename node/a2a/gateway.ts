// The A2A gateway on the API's Hono app (no Express): the Agent Card at the well-known path and
// the SDK's JSON-RPC transport at A2A_RPC_PATH, v1.0 and v0.3 (message/send, message/stream,
// tasks/get, tasks/cancel, …). Auth is the API's bearer token, checked before these routes run;
// the card, which holds no secret, is served without it so clients can learn how to authenticate.

import { A2A_VERSION_HEADER, Extensions, formatSSEErrorEvent, formatSSEEvent, HTTP_EXTENSION_HEADER, SSE_HEADERS } from '@a2a-js/sdk'
import type { AgentCard } from '@a2a-js/sdk'
import { defaultServerCallContextBuilder, DefaultRequestHandler, JsonRpcTransportHandler, validateVersion } from '@a2a-js/sdk/server'
import type { User } from '@a2a-js/sdk/server'
import { A2A_LEGACY_PROTOCOL_VERSION, LEGACY_HTTP_EXTENSION_HEADER } from '@a2a-js/sdk/compat/v0_3'
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server'
import type { Hono } from 'hono'
import { describeError } from '../../protocols/kit/errors.ts'
import type { SseBudget } from '../api/sse.ts'
import { agentCard, cardJson, legacyCardJson } from './convert.ts'
import type { CardIdentity } from './convert.ts'
import { MeshExecutor } from './executor.ts'
import type { MeshTaskPort } from './port.ts'
import { MeshTaskStore } from './store.ts'

/** Where the Agent Card is served (A2A discovery). */
export const AGENT_CARD_WELL_KNOWN = '/.well-known/agent-card.json'
/** The JSON-RPC endpoint the card names. */
export const A2A_RPC_PATH = '/a2a'

/** Every caller that got past the API's bearer check is this one principal. */
const TOKEN_HOLDER: User = { isAuthenticated: true, userName: 'api-token' }

/** The handler with a card rebuilt from the reachable queues on every request. */
class MeshRequestHandler extends DefaultRequestHandler {
  readonly #card: () => Promise<AgentCard>
  constructor (card: () => Promise<AgentCard>, initial: AgentCard, store: MeshTaskStore, executor: MeshExecutor) {
    super(initial, store, executor)
    this.#card = card
  }

  override async getAgentCard (): Promise<AgentCard> {
    return this.#card()
  }
}

/** What mountA2a needs. */
export interface A2aGatewayOptions {
  port: MeshTaskPort
  identity: CardIdentity
  /** Budget of open streams shared with the API's other SSE routes. */
  sse: SseBudget
  /** Aborted when the server closes: ends every stream and watch. */
  closing: AbortSignal
}

/** Mount the Agent Card and the JSON-RPC endpoint on `app`. */
export function mountA2a (app: Hono<any>, options: A2aGatewayOptions): void {
  const { port, identity } = options
  const store = new MeshTaskStore(port)
  const executor = new MeshExecutor(port, store, options.closing)
  // Inside the handler only versions, modes and extensions of the card matter, not its URL.
  const cardAt = async (rpcUrl: string): Promise<AgentCard> => agentCard(identity, await port.queues(), rpcUrl)
  const handler = new MeshRequestHandler(async () => cardAt(A2A_RPC_PATH), agentCard(identity, [], A2A_RPC_PATH), store, executor)
  const v1 = new JsonRpcTransportHandler(handler)
  const legacy = new LegacyJsonRpcTransportHandler(handler)

  app.get(AGENT_CARD_WELL_KNOWN, async (c) => {
    const card = await cardAt(new URL(A2A_RPC_PATH, c.req.url).href)
    // A2A discovery without a version header means v0.3 (the SDK's own rule).
    const asked = c.req.header(A2A_VERSION_HEADER) ?? A2A_LEGACY_PROTOCOL_VERSION
    const body = asked === A2A_LEGACY_PROTOCOL_VERSION ? legacyCardJson(card) : cardJson(card)
    return c.json(body as Record<string, unknown>, 200, { vary: A2A_VERSION_HEADER, 'cache-control': 'no-cache' })
  })

  app.post(A2A_RPC_PATH, async (c) => {
    const requested = c.req.header(A2A_VERSION_HEADER)
    const useLegacy = (requested ?? A2A_LEGACY_PROTOCOL_VERSION) === A2A_LEGACY_PROTOCOL_VERSION
    const mapError = useLegacy ? LegacyJsonRpcTransportHandler.mapToLegacyJSONRPCError : JsonRpcTransportHandler.mapToJSONRPCError
    let body: Record<string, unknown>
    try {
      body = await c.req.json()
    } catch (err) {
      return c.json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: the body is not JSON (${describeError(err)})` } }, 200)
    }
    const id = (body?.id as string | number | undefined) ?? null
    try {
      const context = defaultServerCallContextBuilder({
        extensions: Extensions.parseServiceParameter(useLegacy ? c.req.header(LEGACY_HTTP_EXTENSION_HEADER) ?? c.req.header(HTTP_EXTENSION_HEADER) : c.req.header(HTTP_EXTENSION_HEADER)),
        user: TOKEN_HOLDER,
        headers: Object.fromEntries(c.req.raw.headers),
        ...(requested !== undefined ? { requestedVersion: requested } : {})
      })
      validateVersion(context.requestedVersion, await handler.getAgentCard(), 'JSONRPC')
      const answer = await (useLegacy ? legacy : v1).handle(body, context)
      if (typeof (answer as AsyncGenerator<unknown>)[Symbol.asyncIterator] !== 'function') return c.json(answer as Record<string, unknown>, 200)
      const events = (answer as AsyncGenerator<unknown>)[Symbol.asyncIterator]()
      // A failure before the first event is a plain JSON-RPC error, as the SDK's own transport answers.
      let first: IteratorResult<unknown>
      try {
        first = await events.next()
      } catch (err) {
        return c.json({ jsonrpc: '2.0', id, error: mapError(err) }, 200)
      }
      const release = options.sse.acquire()
      const encoder = new TextEncoder()
      let canceled = false
      const stream = new ReadableStream<Uint8Array>({
        async start (controller) {
          const stop = (): void => { void events.return(undefined) }
          options.closing.addEventListener('abort', stop, { once: true })
          try {
            if (first.done !== true) controller.enqueue(encoder.encode(formatSSEEvent(first.value)))
            for (let next = await events.next(); next.done !== true && !canceled; next = await events.next()) {
              controller.enqueue(encoder.encode(formatSSEEvent(next.value)))
            }
          } catch (err) {
            if (!canceled) controller.enqueue(encoder.encode(formatSSEErrorEvent({ jsonrpc: '2.0', id, error: mapError(err) })))
          } finally {
            options.closing.removeEventListener('abort', stop)
            release()
            if (!canceled) controller.close()
          }
        },
        async cancel () {
          // The client went away: stop following the task (it goes on in the mesh).
          canceled = true
          release()
          await events.return(undefined)
        }
      })
      return new Response(stream, { status: 200, headers: SSE_HEADERS })
    } catch (err) {
      const error = mapError(err)
      return c.json({ jsonrpc: '2.0', id, error }, error.code === -32603 ? 500 : 200)
    }
  })
}
