// The simulator's seeded network: per-message drop, duplication, delay (hence reorder) and partitions before
// GST; after GST every message between live members arrives within `delayMaxAfterGstTicks`.

import type { Rng } from '../../protocols/kit/rng.ts'
import type { BftMessage } from '../../protocols/bft/messages.ts'

/** Network behaviour for one seed. */
export interface NetworkConfig {
  gstTick: number
  dropRate: number
  /** Chance a message is delivered twice (before GST). */
  duplicateRate: number
  delayMaxTicks: number
  delayMaxAfterGstTicks: number
  /** Partitions before GST: [from, to) tick ranges during which `isolated` members are cut off. */
  partitions: Array<{ fromTick: number, toTick: number, isolated: Set<string> }>
}

interface InFlight { at: number, seq: number, from: string, to: string, message: BftMessage }

/** Messages in flight, delivered in (tick, send order). */
export class SimNetwork {
  readonly config: NetworkConfig
  #rng: Rng
  #queue: InFlight[] = []
  #seq = 0
  sent = 0
  dropped = 0

  constructor (config: NetworkConfig, rng: Rng) { this.config = config; this.#rng = rng }

  /** Send one message at tick `now`; it may be dropped or delayed. */
  send (now: number, from: string, to: string, message: BftMessage): void {
    this.sent++
    const beforeGst = now < this.config.gstTick
    if (beforeGst && (this.#rng.chance(this.config.dropRate) || this.#partitioned(now, from, to))) { this.dropped++; return }
    const delayMax = beforeGst ? this.config.delayMaxTicks : this.config.delayMaxAfterGstTicks
    this.#queue.push({ at: now + this.#rng.int(1, delayMax), seq: this.#seq++, from, to, message })
    if (beforeGst && this.#rng.chance(this.config.duplicateRate)) this.#queue.push({ at: now + this.#rng.int(1, delayMax), seq: this.#seq++, from, to, message })
  }

  /** Remove and return the messages due at or before `now`, in delivery order. */
  due (now: number): InFlight[] {
    const ready = this.#queue.filter(m => m.at <= now)
    if (ready.length === 0) return ready
    this.#queue = this.#queue.filter(m => m.at > now)
    return ready.sort((a, b) => a.at - b.at || a.seq - b.seq)
  }

  /** Messages still in flight. */
  get inFlight (): number { return this.#queue.length }

  #partitioned (now: number, from: string, to: string): boolean {
    for (const p of this.config.partitions) {
      if (now >= p.fromTick && now < p.toTick && p.isolated.has(from) !== p.isolated.has(to)) return true
    }
    return false
  }
}
