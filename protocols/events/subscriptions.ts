// Local subscribers of the events log: each reads the node's log in local order from its
// cursor, with a bounded in-memory fast path for live events (SPEC events E4, E5).

import { toAgentEvent } from './messages.ts'
import type { AgentEvent } from './messages.ts'
import type { EventsStore, EventLocation, StoredEvent } from './store.ts'
import { EventNotFoundError, SubscriberLaggedError } from './errors.ts'

/** Live events buffered per subscriber; beyond this the subscriber re-reads the log (never drops). */
export const SUBSCRIBER_BUFFER_MAX = 1024
/** Events read from the log per page while a subscriber replays or catches up. */
export const SUBSCRIBE_PAGE_EVENTS = 256

/** `subscribe()` options (DESIGN). */
export interface SubscribeOptions {
  /** `'start'` replays the retained log, `'now'` only new events, an event id resumes right after it. */
  from?: 'start' | 'now' | string
  /** Ends the iteration (cleanly) when aborted. */
  signal?: AbortSignal
}

interface Subscriber {
  cursor: number
  buffer: StoredEvent[]
  lagged: boolean
  wake: (() => void) | undefined
}

/** The set of local subscribers, per topic. */
export class Subscriptions {
  readonly #store: EventsStore
  readonly #byTopic = new Map<string, Set<Subscriber>>()
  readonly #closing = new AbortController()

  constructor (store: EventsStore) { this.#store = store }

  /** Where `id` sits in `topic`, or EventNotFoundError. */
  async locate (topic: string, id: string): Promise<EventLocation> {
    const location = await this.#store.locate(id)
    if (location === undefined || location.topic !== topic) throw new EventNotFoundError(topic, id)
    return location
  }

  /** An iterable over `topic` from `options.from`; `joined` resolves once the node stores the topic. */
  open (topic: string, options: SubscribeOptions, joined: Promise<void>): AsyncIterable<AgentEvent> {
    // 'now' means the log head at the time of the call, not of the first next().
    const headAtCall = this.#store.peekMeta(topic).localSeq
    const iterate = this.#iterate.bind(this)
    return { [Symbol.asyncIterator]: () => iterate(topic, options, joined, headAtCall) }
  }

  async * #iterate (topic: string, options: SubscribeOptions, joined: Promise<void>, headAtCall: number): AsyncGenerator<AgentEvent> {
    await joined
    const from = options.from ?? 'now'
    let cursor = 0
    if (from === 'now') cursor = Math.max(headAtCall, 0)
    else if (from !== 'start') cursor = (await this.locate(topic, from)).localSeq
    const sub: Subscriber = { cursor, buffer: [], lagged: false, wake: undefined }
    let set = this.#byTopic.get(topic)
    if (set === undefined) { set = new Set(); this.#byTopic.set(topic, set) }
    set.add(sub)
    const signal = AbortSignal.any([this.#closing.signal, ...(options.signal !== undefined ? [options.signal] : [])])
    const onAbort = (): void => { sub.wake?.() }
    signal.addEventListener('abort', onAbort)
    try {
      while (!signal.aborted) {
        if (sub.lagged) throw new SubscriberLaggedError(topic, sub.cursor)
        const first = sub.buffer[0]
        if (first !== undefined) {
          sub.buffer.shift()
          if (first.localSeq <= sub.cursor) continue
          if (first.localSeq === sub.cursor + 1) { sub.cursor++; yield toAgentEvent(first.envelope); continue }
          sub.buffer = [] // not contiguous: the log has what we missed
        }
        const page = await this.#store.readLog(topic, sub.cursor, SUBSCRIBE_PAGE_EVENTS)
        if (page.length > 0) {
          for (const s of page) {
            if (sub.lagged || signal.aborted) break
            sub.cursor = s.localSeq
            yield toAgentEvent(s.envelope)
          }
          continue
        }
        if (sub.lagged) continue
        await new Promise<void>(resolve => {
          sub.wake = resolve
          if (sub.buffer.length > 0 || signal.aborted || this.#store.peekMeta(topic).localSeq > sub.cursor) resolve()
        })
        sub.wake = undefined
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      set.delete(sub)
    }
  }

  /** New events were appended (in local order): hand them to live subscribers and wake them. */
  deliver (topic: string, stored: StoredEvent[]): void {
    for (const sub of this.#byTopic.get(topic) ?? []) {
      if (sub.buffer.length + stored.length <= SUBSCRIBER_BUFFER_MAX) sub.buffer.push(...stored)
      else sub.buffer = [] // SPEC E5: overflow falls back to reading the log; nothing is dropped
      sub.wake?.()
    }
  }

  /** Retention removed events: a subscriber that had not read them yet has lagged (SPEC E5). */
  compacted (topic: string, removedLocalSeqs: number[]): void {
    for (const sub of this.#byTopic.get(topic) ?? []) {
      if (removedLocalSeqs.some(ls => ls > sub.cursor)) { sub.lagged = true; sub.wake?.() }
    }
  }

  /** End every iteration (node stopping). */
  closeAll (): void {
    this.#closing.abort()
  }
}
