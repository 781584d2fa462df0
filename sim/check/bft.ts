// `npm run sim -- check bft --seeds N [--seed S] [--unsafe-quorum | --inject <bug>]`: runs N seeded
// Byzantine simulations (n = 4 and 7 alternating, f faulty in every seed) and reports invariant violations.

import { createEd25519Verifier } from '../../protocols/bft/ed25519.ts'
import { INJECTIONS, runWorld, type Injection, type WorldResult } from '../bft/world.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'

/** Run the BFT check over `options.seeds` seeds from `options.seed`. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const seeds = options.seeds ?? 100
  const unsafeQuorum = options.extra['unsafe-quorum'] === true
  const injectFlag = options.extra.inject
  if (injectFlag !== undefined && !INJECTIONS.includes(injectFlag as Injection)) throw new RangeError(`--inject must be one of ${INJECTIONS.join(', ')}, got ${String(injectFlag)}`)
  const inject = injectFlag as Injection | undefined
  // One verifier for all runs: caching identical (signer, bytes, signature) triples is sound
  // because Ed25519 verification is deterministic; it only saves CPU.
  const verifier = createEd25519Verifier({ cache: true })
  const started = performance.now()
  const failures: string[] = []
  const failedSeeds: number[] = []
  const totals = { heights: 0, items: 0, evidence: 0, rejected: 0, sent: 0, dropped: 0, maxRound: 0, maxTicksToDone: 0, seedsN4: 0, seedsN7: 0, forgotten: 0, crashes: 0, nonMemberFrames: 0, nonMemberRejected: 0 }
  const behaviours = new Map<string, number>()
  for (let i = 0; i < seeds; i++) {
    const seed = options.seed + i
    const result: WorldResult = await runWorld({ seed, verifier, unsafeQuorum, ...(inject !== undefined ? { inject } : {}) })
    totals.heights += result.heights
    totals.items += result.items
    totals.evidence += result.evidence
    totals.rejected += result.rejected
    totals.sent += result.sent
    totals.dropped += result.dropped
    totals.forgotten += result.forgotten
    totals.crashes += result.crashes
    totals.nonMemberFrames += result.nonMemberFrames
    totals.nonMemberRejected += result.nonMemberRejected
    totals.maxRound = Math.max(totals.maxRound, result.maxRound)
    totals.maxTicksToDone = Math.max(totals.maxTicksToDone, result.ticksAfterGstToDone ?? 0)
    if (result.n === 4) totals.seedsN4++
    else totals.seedsN7++
    for (const b of result.behaviours) behaviours.set(b, (behaviours.get(b) ?? 0) + 1)
    if (result.failures.length > 0) {
      failedSeeds.push(seed)
      const flag = (unsafeQuorum ? ' --unsafe-quorum' : '') + (inject !== undefined ? ` --inject ${inject}` : '')
      failures.push(`seed ${seed} (n=${result.n}, faulty: ${result.behaviours.join(', ')}) FAILED: ${result.failures.slice(0, 3).join('; ')}\n  replay: npm run sim -- check bft --seed ${seed} --seeds 1${flag}`)
    }
    options.progress(i + 1, seeds)
  }
  const wallMs = Math.round(performance.now() - started)
  return {
    scenario: 'check bft',
    nodes: 7,
    seed: options.seed,
    ok: failures.length === 0,
    failures,
    metrics: {
      seeds,
      failed_seeds: failedSeeds.length,
      seeds_n4: totals.seedsN4,
      seeds_n7: totals.seedsN7,
      heights_committed: totals.heights,
      items_expected: totals.items,
      items_per_decision: totals.heights === 0 ? null : Math.round((100 * totals.items) / totals.heights) / 100,
      evidence_emitted: totals.evidence,
      messages_rejected: totals.rejected,
      messages_sent: totals.sent,
      messages_dropped: totals.dropped,
      max_round: totals.maxRound,
      max_ticks_after_gst_to_done: totals.maxTicksToDone,
      signature_verifications: verifier.verifications(),
      faulty_behaviours: [...behaviours].map(([b, c]) => `${b}:${c}`).join(' '),
      state_forgotten_restarts: totals.forgotten,
      honest_crashes: totals.crashes,
      non_member_frames: totals.nonMemberFrames,
      non_member_frames_rejected: totals.nonMemberRejected,
      unsafe_quorum: unsafeQuorum,
      inject: inject ?? null,
      wall_ms: wallMs
    }
  }
}
