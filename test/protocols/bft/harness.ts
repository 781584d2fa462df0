// A tiny synchronous cluster of real bft cores for interaction tests: FIFO delivery, per-message
// interception (drop or rewrite), real Ed25519 keys, and a record of every effect.

import { BftCore, type BftCoreOptions } from '../../../protocols/bft/core.ts'
import type { BftEffect } from '../../../protocols/bft/effects.ts'
import type { BftMessage, Decision } from '../../../protocols/bft/messages.ts'
import { createEd25519Verifier, ed25519SignerFromSeed } from '../../../protocols/bft/ed25519.ts'
import type { Signer } from '../../../protocols/bft/signing.ts'
import { sha256 } from '../../../protocols/kit/bytes.ts'

/** Deterministic test signer i. */
export function testSigner (i: number): Signer {
  return ed25519SignerFromSeed(sha256(new TextEncoder().encode(`bft-test-key-${i}`)))
}

/** Shared verifier for tests (no cache: every signature is really checked). */
export const testVerifier = createEd25519Verifier()

/** Returns the messages to deliver instead (empty array drops it). */
export type Interceptor = (from: string, to: string, message: BftMessage) => BftMessage[]

/** A cluster of `n` cores in one group, driven by `run()`. */
export class Cluster {
  readonly signers: Signer[]
  readonly ids: string[]
  readonly cores = new Map<string, BftCore>()
  readonly effects = new Map<string, BftEffect[]>()
  readonly decisions = new Map<string, Decision[]>()
  readonly queue: Array<{ from: string, to: string, message: BftMessage }> = []
  intercept: Interceptor = (_from, _to, message) => [message]
  readonly options: Partial<BftCoreOptions>

  constructor (n: number, options: Partial<BftCoreOptions> = {}) {
    this.options = options
    this.signers = Array.from({ length: n }, (_, i) => testSigner(i))
    this.ids = this.signers.map(s => s.id).sort()
    this.signers.sort((a, b) => a.id < b.id ? -1 : 1)
    for (const signer of this.signers) this.start(signer)
  }

  /** (Re)create the core of `signer`, optionally from restored state. */
  start (signer: Signer, restore?: BftCoreOptions['restore']): BftCore {
    const core = new BftCore({ groupId: 'test', signer, verifier: testVerifier, members: this.ids, ...this.options, ...(restore !== undefined ? { restore } : {}) })
    this.cores.set(signer.id, core)
    if (!this.effects.has(signer.id)) { this.effects.set(signer.id, []); this.decisions.set(signer.id, []) }
    return core
  }

  /** The core of member index i (in sorted order, so index = proposer slot). */
  core (i: number): BftCore { return this.cores.get(this.ids[i]!)! }

  /** Collect effects of `id` and queue its messages. */
  flush (id: string): void {
    const core = this.cores.get(id)
    if (core === undefined) return
    for (const effect of core.drain()) {
      this.effects.get(id)!.push(effect)
      if (effect.type === 'commit') this.decisions.get(id)!.push(effect.decision)
      if (effect.type === 'broadcast') for (const to of this.ids) if (to !== id) this.#enqueue(id, to, effect.message)
      if (effect.type === 'send') this.#enqueue(id, effect.to, effect.message)
    }
  }

  #enqueue (from: string, to: string, message: BftMessage): void {
    for (const m of this.intercept(from, to, message)) this.queue.push({ from, to, message: m })
  }

  /** Deliver everything queued, then tick all cores, `ticks` times (or until `until` holds). */
  run (ticks: number, until?: () => boolean): void {
    for (const id of this.ids) this.flush(id)
    for (let t = 0; t < ticks; t++) {
      while (this.queue.length > 0) {
        const { from, to, message } = this.queue.shift()!
        const core = this.cores.get(to)
        if (core === undefined) continue
        core.step(from, message)
        this.flush(to)
      }
      if (until?.() === true) return
      for (const id of this.ids) { this.cores.get(id)?.tick(); this.flush(id) }
    }
  }
}
