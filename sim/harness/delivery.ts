// Counts sender × receiver attempts and deliveries for the report's delivery matrix.

import { backoffDelayMs } from '../../protocols/kit/backoff.ts'

/** Square matrix of attempts and deliveries between node indexes. */
export class DeliveryMatrix {
  readonly #attempts: number[][]
  readonly #delivered: number[][]

  constructor (size: number) {
    this.#attempts = Array.from({ length: size }, () => new Array<number>(size).fill(0))
    this.#delivered = Array.from({ length: size }, () => new Array<number>(size).fill(0))
  }

  /** One message from `sender` meant for `receiver`. */
  attempt (sender: number, receiver: number): void { this.#attempts[sender]![receiver]!++ }

  /** One of those messages arrived. */
  deliver (sender: number, receiver: number): void { this.#delivered[sender]![receiver]!++ }

  /** Delivered / attempted over all cells (1 when nothing was attempted). */
  ratio (): number {
    let attempts = 0
    let delivered = 0
    this.#attempts.forEach((row, i) => row.forEach((a, j) => { attempts += a; delivered += this.#delivered[i]![j]! }))
    return attempts === 0 ? 1 : delivered / attempts
  }

  /** The report's form: ratios per cell, NaN where nothing was attempted. */
  toSummary (labels: string[]): { labels: string[], ratios: number[][] } {
    return { labels, ratios: this.#attempts.map((row, i) => row.map((a, j) => a === 0 ? Number.NaN : this.#delivered[i]![j]! / a)) }
  }
}

/** Exponential backoff with seeded jitter (kit/backoff.ts): base·2^attempt capped at `maxMs`, times [0.5, 1). */
export function backoffMs (attempt: number, options: { baseMs: number, maxMs: number, random: () => number }): number {
  return backoffDelayMs(attempt + 1, { initialMs: options.baseMs, maxMs: options.maxMs, jitter: 0.5 }, options.random())
}

/** Seeded Fisher–Yates shuffle (returns a new array). */
export function shuffle<T> (items: readonly T[], int: (min: number, max: number) => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(0, i)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Sleep that a scenario uses between steps (real time: these are real nodes). */
export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Poll `condition` every `pollMs` until it holds; fail after `timeoutMs` with an error naming `what`. */
export async function waitUntil (condition: () => boolean, options: { timeoutMs: number, pollMs: number, what: string }): Promise<void> {
  const deadline = performance.now() + options.timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`)
    await sleep(options.pollMs)
  }
}
