// A min-heap of timed events for the deterministic simulator: ordered by time, then by insertion.

/** A scheduled event. */
export interface Timed<T> { at: number, order: number, value: T }

/** Priority queue keyed by (at, insertion order), so equal times run in a fixed order. */
export class EventQueue<T> {
  readonly #heap: Array<Timed<T>> = []
  #order = 0

  /** Events waiting. */
  get size (): number { return this.#heap.length }

  /** Schedule `value` at time `at`. */
  push (at: number, value: T): void {
    const h = this.#heap
    h.push({ at, order: this.#order++, value })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  /** Time of the next event (Infinity if none). */
  peekTime (): number { return this.#heap[0]?.at ?? Infinity }

  /** Remove and return the next event. */
  pop (): Timed<T> | undefined {
    const h = this.#heap
    const top = h[0]
    if (top === undefined) return undefined
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l]!, h[m]!)) m = l
        if (r < h.length && less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}

function less<T> (a: Timed<T>, b: Timed<T>): boolean { return a.at < b.at || (a.at === b.at && a.order < b.order) }
