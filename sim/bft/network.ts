// The simulator's seeded network on virtual time: per-frame drop, duplication, delay (hence
// reorder) and partitions before GST; after GST every frame between live members arrives within
// `delayMaxAfterGstMs`. Frames are bytes, as on a real link; delivery is a timer on the SimClock.

import type { Rng } from '../../protocols/kit/rng.ts'
import type { SimClock } from '../kit/sim-clock.ts'

/** Network behaviour for one seed (virtual ms). */
export interface NetworkConfig {
  gstMs: number
  dropRate: number
  /** Chance a frame is delivered twice (before GST). */
  duplicateRate: number
  delayMaxMs: number
  delayMaxAfterGstMs: number
  /** Partitions before GST: [from, to) ms ranges during which `isolated` members are cut off. */
  partitions: Array<{ fromMs: number, toMs: number, isolated: Set<string> }>
}

/** Where a frame goes once it arrives. */
export type Deliver = (from: string, to: string, frame: Uint8Array) => void

/** Frames in flight, delivered by the clock in (due time, send order). */
export class SimNetwork {
  readonly config: NetworkConfig
  readonly #rng: Rng
  readonly #clock: SimClock
  readonly #deliver: Deliver
  sent = 0
  dropped = 0

  constructor (options: { config: NetworkConfig, rng: Rng, clock: SimClock, deliver: Deliver }) {
    this.config = options.config
    this.#rng = options.rng
    this.#clock = options.clock
    this.#deliver = options.deliver
  }

  /** Send one frame now; it may be dropped, duplicated or delayed. */
  send (from: string, to: string, frame: Uint8Array): void {
    this.sent++
    const now = this.#clock.nowMs()
    const beforeGst = now < this.config.gstMs
    if (beforeGst && (this.#rng.chance(this.config.dropRate) || this.#partitioned(now, from, to))) { this.dropped++; return }
    const delayMax = beforeGst ? this.config.delayMaxMs : this.config.delayMaxAfterGstMs
    const copies = beforeGst && this.#rng.chance(this.config.duplicateRate) ? 2 : 1
    for (let i = 0; i < copies; i++) this.#clock.setTimeout(() => { this.#deliver(from, to, frame) }, this.#rng.int(1, delayMax))
  }

  #partitioned (now: number, from: string, to: string): boolean {
    for (const p of this.config.partitions) {
      if (now >= p.fromMs && now < p.toMs && p.isolated.has(from) !== p.isolated.has(to)) return true
    }
    return false
  }
}
