// Direct methods served by a program in another language: the API registers the method on the
// node (`node.direct.handle`), queues each incoming request, streams it to the connected clients
// (SSE), and answers the caller with the first reply posted for its id.

import type { AgentNode, Payload, RequestContext } from '../../src/index.ts'
import { TimeoutError } from '../../protocols/kit/errors.ts'
import { ApiError } from './errors.ts'

/** Requests waiting for a reply: bounds memory when no client answers; past it callers get an error at once. */
export const INBOX_PENDING_MAX = 1024
/** How long a request waits for a reply: the default deadline of a direct caller (DIRECT_REQUEST_TIMEOUT_MS), after which nobody listens. */
export const INBOX_REPLY_TIMEOUT_MS = 30_000
/** Methods the API may register: each is a handler on the node; 256 is far beyond one agent's surface. */
export const INBOX_METHODS_MAX = 256

/** One incoming request as the inbox stream shows it. */
export interface InboxRequest { id: string, seq: number, method: string, from: string, payload: Payload }

interface Pending {
  request: InboxRequest
  resolve: (payload: Payload) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

type Listener = (request: InboxRequest) => void

/** The requests for methods served over the API, and who is listening for them. */
export class Inbox {
  readonly #node: AgentNode
  readonly #methods = new Set<string>()
  readonly #pending = new Map<string, Pending>()
  readonly #listeners = new Set<Listener>()
  #seq = 0

  constructor (node: AgentNode) { this.#node = node }

  /** Methods registered through the API. */
  methods (): string[] { return [...this.#methods].sort() }

  /** Serve `method` through the inbox (idempotent). */
  register (method: string): void {
    if (this.#methods.has(method)) return
    if (this.#methods.size >= INBOX_METHODS_MAX) throw new ApiError(409, 'ERR_TOO_MANY_METHODS', `Cannot register "${method}": ${this.#methods.size} methods are registered; at most INBOX_METHODS_MAX (${INBOX_METHODS_MAX})`)
    this.#node.direct.handle(method, async (payload, context) => this.#enqueue(payload, context))
    this.#methods.add(method)
  }

  /** Stop serving `method`; requests already queued still take replies. */
  unregister (method: string): boolean {
    if (!this.#methods.delete(method)) return false
    this.#node.direct.unhandle(method)
    return true
  }

  /** Follow new requests, after first replaying the unanswered ones with seq > `afterSeq`; returns the unsubscribe. */
  listen (listener: Listener, afterSeq: number): () => void {
    for (const pending of this.#pending.values()) {
      if (pending.request.seq > afterSeq) listener(pending.request)
    }
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Answer request `id` with a payload, or fail it with a message the caller sees. */
  reply (id: string, outcome: { payload: Payload } | { error: string }): void {
    const pending = this.#pending.get(id)
    if (pending === undefined) throw new ApiError(404, 'ERR_REQUEST_NOT_PENDING', `Request ${id} is not waiting for a reply (already answered, timed out after INBOX_REPLY_TIMEOUT_MS = ${INBOX_REPLY_TIMEOUT_MS} ms, or never received)`)
    this.#settle(id)
    if ('error' in outcome) pending.reject(new Error(outcome.error))
    else pending.resolve(outcome.payload)
  }

  /** Unregister every method and fail what is pending (the server is closing). */
  close (): void {
    for (const method of [...this.#methods]) this.unregister(method)
    for (const [id, pending] of [...this.#pending]) {
      this.#settle(id)
      pending.reject(new Error('the local API server closed before the request was answered'))
    }
    this.#listeners.clear()
  }

  async #enqueue (payload: Payload, context: RequestContext): Promise<Payload> {
    if (this.#pending.size >= INBOX_PENDING_MAX) {
      throw new Error(`${this.#pending.size} requests already wait for the agent behind this node (INBOX_PENDING_MAX = ${INBOX_PENDING_MAX})`)
    }
    const seq = ++this.#seq
    const request: InboxRequest = { id: `${seq}`, seq, method: context.method, from: context.from, payload }
    return new Promise<Payload>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(request.id)
        reject(new TimeoutError(`No reply to "${request.method}" from the agent behind this node's API within INBOX_REPLY_TIMEOUT_MS (${INBOX_REPLY_TIMEOUT_MS} ms)`))
      }, INBOX_REPLY_TIMEOUT_MS)
      this.#pending.set(request.id, { request, resolve, reject, timer })
      for (const listener of this.#listeners) listener(request)
    })
  }

  #settle (id: string): void {
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    clearTimeout(pending.timer)
    this.#pending.delete(id)
  }
}
