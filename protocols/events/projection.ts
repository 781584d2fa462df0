// CQRS projection helper: fold a topic's events into state and keep it current, in the
// shape of syncState/applyEvent. Rebuilt by replaying the local log (SPEC events E10).

import type { AgentEvent } from './messages.ts'
import type { SubscribeOptions } from './subscriptions.ts'

/** How to fold: a pure `apply(state, event)` from `initial`. */
export interface ProjectionOptions<S> {
  initial: S
  apply: (state: S, event: AgentEvent) => S
  signal?: AbortSignal
}

/** A live fold over one topic. */
export interface Projection<S> {
  /** The state after every event applied so far. */
  state (): S
  /** Id of the last applied event (null before any). */
  lastEventId (): string | null
  /** Resolves once the events stored when the projection opened are applied; rejects if the fold failed. */
  readonly ready: Promise<void>
  /** Resolves when the fold stops: after close(), the node stopping, or a failure (rejects). */
  readonly done: Promise<void>
  close (): void
}

/** The slice of the events service a projection needs. */
export interface ProjectionSource {
  join (topic: string): Promise<void>
  status (topic: string): { lastEventId: string | null }
  subscribe (topic: string, options?: SubscribeOptions): AsyncIterable<AgentEvent>
}

/** Open a projection of `topic`. */
export function createProjection<S> (source: ProjectionSource, topic: string, options: ProjectionOptions<S>): Projection<S> {
  const controller = new AbortController()
  const signal = options.signal !== undefined ? AbortSignal.any([options.signal, controller.signal]) : controller.signal
  let state = options.initial
  let last: string | null = null
  const ready = Promise.withResolvers<void>()
  const done = (async () => {
    await source.join(topic)
    const target = source.status(topic).lastEventId
    if (target === null) ready.resolve()
    for await (const event of source.subscribe(topic, { from: 'start', signal })) {
      state = options.apply(state, event)
      last = event.id
      if (event.id === target) ready.resolve()
    }
    ready.resolve()
  })()
  done.catch((err: unknown) => { ready.reject(err) })
  ready.promise.catch(() => undefined)
  return {
    state: () => state,
    lastEventId: () => last,
    ready: ready.promise,
    done,
    close: () => { controller.abort() }
  }
}
