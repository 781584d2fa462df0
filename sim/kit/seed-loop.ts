// The loop every `check <protocol> --seeds N` shares: run seeds `seed … seed+seeds-1`, list each
// failing seed with its replay command, print traces, report progress, and build the summary.

import type { SimOptions, SimSummary } from '../scenario.ts'

/** What the loop needs from one seed's result. */
export interface SeedOutcome { ok: boolean, failures: string[], trace: string[] }

/** One check's seed loop. */
export interface SeedLoop<R extends SeedOutcome> {
  /** The summary's scenario name, e.g. `check raft`. */
  scenario: string
  /** The summary's `nodes`. */
  nodes: number
  /** Seeds run when `--seeds` is absent. */
  defaultSeeds: number
  /** Run one seed. */
  run: (seed: number) => R | Promise<R>
  /** The command that replays one failing seed. */
  replay: (seed: number) => string
  /** Add one seed's numbers to the check's totals. */
  add?: (result: R) => void
  /** Extra metrics from the totals, after the loop. */
  metrics?: () => SimSummary['metrics']
}

/**
 * Synchronous seeds give the event loop a turn this often, so a progress bar and a test runner's
 * timers keep running during a long loop.
 */
const YIELD_EVERY_SEEDS = 50

/** Run the seeds of `options` and build the summary: seeds, failures, the check's metrics, wall time. */
export async function runSeedLoop<R extends SeedOutcome> (options: SimOptions, loop: SeedLoop<R>): Promise<SimSummary> {
  const first = options.seed
  const count = options.seeds ?? loop.defaultSeeds
  const failures: string[] = []
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const seed = first + i
    const r = await loop.run(seed)
    loop.add?.(r)
    if (!r.ok) failures.push(`seed ${seed} FAILED: ${r.failures.join('; ')}\n  replay: ${loop.replay(seed)}`)
    if (options.extra.trace === true) for (const line of r.trace) options.log(line)
    options.progress(i + 1, count)
    if (i % YIELD_EVERY_SEEDS === YIELD_EVERY_SEEDS - 1) await new Promise((resolve) => setImmediate(resolve))
  }
  const wallMs = performance.now() - started
  return {
    scenario: loop.scenario,
    nodes: loop.nodes,
    seed: first,
    ok: failures.length === 0,
    metrics: {
      seeds: count,
      failures: failures.length,
      ...loop.metrics?.(),
      wall_ms: Math.round(wallMs),
      ms_per_seed: Math.round(100 * wallMs / Math.max(1, count)) / 100
    },
    failures
  }
}
