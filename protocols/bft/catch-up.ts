// Catch-up bookkeeping (SPEC bft T11): recent decisions to serve members that are behind, and
// per-member rate limits for serving and for asking, so catch-up traffic stays bounded.

import { CATCHUP_DECISIONS_MAX, type Decision } from './messages.ts'

/** Recent decisions kept to answer catch-up: older ones come from the driver's log. */
export const RECENT_DECISIONS_MAX = 64

/** Recent decisions plus "when did we last serve/ask whom" (one entry per member). */
export class CatchUp {
  readonly #periodTicks: number
  #recent: Decision[]
  #served = new Map<string, { height: number, at: number }>()
  #asked = new Map<string, { height: number, at: number }>()

  constructor (options: { periodTicks: number, recent: readonly Decision[] }) {
    this.#periodTicks = options.periodTicks
    this.#recent = options.recent.slice(-RECENT_DECISIONS_MAX)
  }

  /** Remember a newly committed decision (bounded by RECENT_DECISIONS_MAX). */
  remember (decision: Decision): void {
    this.#recent.push(decision)
    if (this.#recent.length > RECENT_DECISIONS_MAX) this.#recent.shift()
  }

  /** Decisions to send a member at `theirHeight`, or null if none or served too recently. */
  serve (to: string, theirHeight: number, now: number): Decision[] | null {
    const last = this.#served.get(to)
    if (last !== undefined && last.height === theirHeight && now - last.at < this.#periodTicks) return null
    const decisions = this.#recent.filter(d => d.block.height >= theirHeight).slice(0, CATCHUP_DECISIONS_MAX)
    if (decisions.length === 0) return null
    this.#served.set(to, { height: theirHeight, at: now })
    return decisions
  }

  /** Whether to tell `to` our height now (not more than once per period per member and height). */
  shouldAsk (to: string, ourHeight: number, now: number): boolean {
    const last = this.#asked.get(to)
    if (last !== undefined && last.height === ourHeight && now - last.at < this.#periodTicks) return false
    this.#asked.set(to, { height: ourHeight, at: now })
    return true
  }
}
