// CRDTs from the source articles, built on a shared Y.Doc: a PN-counter (the G-Counter is
// its increment-only case) and a last-write-wins register. Pure: time comes in as a function.

import * as Y from 'yjs'
import { hlcCompare, hlcNow, HLC_ZERO } from '../kit/hlc.ts'
import type { Hlc } from '../kit/hlc.ts'

/** Largest amount one increment or decrement may add (2^31): keeps every sum a safe integer for 2^22 agents. */
export const COUNTER_STEP_MAX = 0x7fff_ffff

/** Per-agent counts of a PN-counter. */
export interface AgentCounts { increments: number, decrements: number }

/**
 * A PN-counter (Shapiro et al. 2011): each agent keeps its own increment (P) and decrement (N)
 * totals under its own keys of a Y.Map; the value is ΣP − ΣN (SPEC docs C1). Because each key
 * has exactly one writer, concurrent updates never conflict and the sum is exact.
 */
export class PNCounter {
  readonly #map: Y.Map<unknown>
  readonly #agent: string

  /** `name` picks the Y.Map in `doc`; `agent` is this writer's id (its peer id). */
  constructor (doc: Y.Doc, options: { name: string, agent: string }) {
    if (options.agent.length === 0 || options.agent.includes('/')) throw new TypeError(`Invalid counter agent id "${options.agent}": must be non-empty, without "/"`)
    this.#map = doc.getMap(options.name)
    this.#agent = options.agent
  }

  /** Add `by` (default 1) to this agent's increments. */
  increment (by = 1): void { this.#add('p', by) }

  /** Add `by` (default 1) to this agent's decrements. */
  decrement (by = 1): void { this.#add('n', by) }

  /** ΣP − ΣN over every agent. */
  value (): number {
    let total = 0
    for (const counts of this.counts().values()) total += counts.increments - counts.decrements
    return total
  }

  /** The counts per agent; entries that are not non-negative safe integers are ignored. */
  counts (): Map<string, AgentCounts> {
    const result = new Map<string, AgentCounts>()
    for (const [key, raw] of this.#map.entries()) {
      const kind = key.slice(0, 2)
      if ((kind !== 'p/' && kind !== 'n/') || !isCount(raw)) continue
      const agent = key.slice(2)
      const counts = result.get(agent) ?? { increments: 0, decrements: 0 }
      if (kind === 'p/') counts.increments = raw
      else counts.decrements = raw
      result.set(agent, counts)
    }
    return result
  }

  #add (kind: 'p' | 'n', by: number): void {
    if (!Number.isSafeInteger(by) || by < 0 || by > COUNTER_STEP_MAX) throw new RangeError(`Counter step must be an integer in [0, ${COUNTER_STEP_MAX}], got ${by}`)
    const key = `${kind}/${this.#agent}`
    const current = this.#map.get(key)
    const next = (isCount(current) ? current : 0) + by
    if (!Number.isSafeInteger(next)) throw new RangeError(`Counter ${key} would pass Number.MAX_SAFE_INTEGER`)
    this.#map.set(key, next)
  }
}

/** A G-Counter: the PN-counter with increments only. */
export class GCounter {
  readonly #counter: PNCounter
  constructor (doc: Y.Doc, options: { name: string, agent: string }) { this.#counter = new PNCounter(doc, options) }
  /** Add `by` (default 1). */
  increment (by = 1): void { this.#counter.increment(by) }
  /** The sum of every agent's increments. */
  value (): number { return this.#counter.value() }
}

/** One writer's latest write to an LWW register. */
export interface LwwEntry<T> { value: T, hlc: Hlc, author: string }

/** The winner among entries: highest HLC, then highest author id (SPEC docs C2). Pure and order-independent. */
export function lwwWinner<T> (entries: Iterable<LwwEntry<T>>): LwwEntry<T> | undefined {
  let best: LwwEntry<T> | undefined
  for (const entry of entries) {
    if (best === undefined) { best = entry; continue }
    const byClock = hlcCompare(entry.hlc, best.hlc)
    if (byClock > 0 || (byClock === 0 && entry.author > best.author)) best = entry
  }
  return best
}

/**
 * A last-write-wins register (SPEC docs C2). Each author keeps its latest write under its own
 * key of a Y.Map, stamped with a hybrid logical clock that exceeds every stamp it has seen;
 * reading picks the highest (hlc, author). Every replica with the same entries reads the same value.
 */
export class LWWRegister<T> {
  readonly #map: Y.Map<unknown>
  readonly #author: string
  readonly #now: () => number

  /** `now` gives physical time in ms (pass `Date.now`); `author` is this writer's id. */
  constructor (doc: Y.Doc, options: { name: string, author: string, now: () => number }) {
    if (options.author.length === 0) throw new TypeError('Invalid register author: must be non-empty')
    this.#map = doc.getMap(options.name)
    this.#author = options.author
    this.#now = options.now
  }

  /** Write `value` (JSON-serialisable or bytes); returns the stamped entry. */
  set (value: T): LwwEntry<T> {
    const seen = lwwWinner(this.entries())?.hlc ?? HLC_ZERO
    const hlc = hlcNow(seen, this.#now())
    const entry = { value, hlc, author: this.#author }
    this.#map.set(this.#author, { value, wallMs: hlc.wallMs, logical: hlc.logical })
    return entry
  }

  /** The current value, or undefined when nobody has written. */
  get (): T | undefined { return lwwWinner(this.entries())?.value }

  /** Every author's latest entry; malformed entries are ignored. */
  entries (): Array<LwwEntry<T>> {
    const result: Array<LwwEntry<T>> = []
    for (const [author, raw] of this.#map.entries()) {
      const stored = raw as { value?: T, wallMs?: unknown, logical?: unknown } | null
      if (typeof stored !== 'object' || stored === null || !isCount(stored.wallMs) || !isCount(stored.logical) || !('value' in stored)) continue
      result.push({ value: stored.value as T, hlc: { wallMs: stored.wallMs, logical: stored.logical }, author })
    }
    return result
  }
}

function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
