// `npm run sim -- check raft --seeds N [--seed S] [--inject BUG] [--catch-up on|off] [--scenario catch-up]`:
// runs N seeded simulations of a raft cluster (real drivers on a simulated clock, disk and network)
// under faults, checks safety after every step plus liveness, catch-up and linearizability per seed.
// `--scenario catch-up` runs the scripted follower catch-up regression (sim/raft/catch-up.ts) instead.

import type { SimOptions, SimSummary } from '../scenario.ts'
import { runCatchUpScenario } from '../raft/catch-up.ts'
import { runRaftSeed } from '../raft/run-seed.ts'
import type { SeedOptions } from '../raft/run-seed.ts'
import { runSeedLoop } from '../kit/seed-loop.ts'

/** Run seeds `seed … seed+seeds-1`; every failing seed is listed with its replay command. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const seedOptions: SeedOptions = {}
  if (options.nodes !== undefined) seedOptions.nodes = options.nodes
  if (options.extra.trace === true) seedOptions.trace = true
  // --inject <bug>: run with a deliberately broken node or driver, to see the checkers fail
  const inject = options.extra.inject
  if (inject === 'vote-twice') seedOptions.unsafeVoteTwice = true
  else if (inject === 'unsafe-reads') seedOptions.unsafeReads = true
  else if (inject === 'forget-vote') seedOptions.unsafeForgetVote = true
  else if (inject === 'corrupt-apply') seedOptions.corruptApply = true
  else if (inject === 'commit-old-term') seedOptions.unsafeCommitOldTerm = true
  else if (inject === 'no-dedup') seedOptions.unsafeNoDedup = true
  else if (inject === 'accept-non-members') seedOptions.unsafeAcceptNonMembers = true
  else if (inject === 'reply-before-fsync') seedOptions.unsafeReplyBeforeFsync = true
  else if (inject !== undefined) throw new Error(`--inject must be vote-twice, unsafe-reads, forget-vote, corrupt-apply, commit-old-term, no-dedup, accept-non-members or reply-before-fsync, got ${String(inject)}`)
  const injectFlag = typeof inject === 'string' ? ` --inject ${inject}` : ''
  // --catch-up on|off: the catch-up liveness check (L2); default CATCH_UP_CHECK_DEFAULT
  const catchUp = options.extra['catch-up']
  if (catchUp !== undefined && catchUp !== 'on' && catchUp !== 'off') throw new Error(`--catch-up must be on or off, got ${String(catchUp)}`)
  if (catchUp !== undefined) seedOptions.checkCatchUp = catchUp === 'on'
  const catchUpFlag = catchUp === undefined ? '' : ` --catch-up ${catchUp}`
  if (options.extra.scenario === 'catch-up') return runCatchUpSeeds(options)
  else if (options.extra.scenario !== undefined) throw new Error(`--scenario must be catch-up, got ${String(options.extra.scenario)}`)
  let catchUpTicksMax = 0
  let catchUpConfigLagged = 0
  let elections = 0
  let commits = 0
  let messages = 0
  let crashes = 0
  let ops = 0
  let leaderTicksTotal = 0
  let leaderTicksMax = 0
  let leaderTicksCount = 0
  return runSeedLoop(options, {
    scenario: 'check raft',
    nodes: options.nodes ?? 0,
    defaultSeeds: 100,
    run: (seed) => runRaftSeed(seed, seedOptions),
    replay: (seed) => `npm run sim -- check raft --seed ${seed} --seeds 1${options.nodes !== undefined ? ` --nodes ${options.nodes}` : ''}${injectFlag}${catchUpFlag} --trace`,
    add: (r) => {
      elections += r.elections
      commits += r.commits
      messages += r.messages
      crashes += r.crashes
      ops += r.opsCompleted
      if (r.catchUpTicks !== null) catchUpTicksMax = Math.max(catchUpTicksMax, r.catchUpTicks)
      if (r.catchUpConfigLagged > 0) catchUpConfigLagged++
      if (r.ticksToLeaderAfterHeal !== null) {
        leaderTicksTotal += r.ticksToLeaderAfterHeal
        leaderTicksMax = Math.max(leaderTicksMax, r.ticksToLeaderAfterHeal)
        leaderTicksCount++
      }
    },
    metrics: () => ({
      elections,
      commits,
      messages,
      crashes,
      ops_completed: ops,
      avg_ticks_to_leader_after_heal: leaderTicksCount === 0 ? null : Math.round(100 * leaderTicksTotal / leaderTicksCount) / 100,
      max_ticks_to_leader_after_heal: leaderTicksMax,
      max_catch_up_ticks: catchUpTicksMax,
      seeds_catch_up_config_lagged: catchUpConfigLagged
    })
  })
}

/** `--scenario catch-up`: the scripted follower catch-up regression, once per seed. */
async function runCatchUpSeeds (options: SimOptions): Promise<SimSummary> {
  return runSeedLoop(options, {
    scenario: 'check raft catch-up',
    nodes: 3,
    defaultSeeds: 100,
    run: (seed) => runCatchUpScenario(seed, { trace: options.extra.trace === true }),
    replay: (seed) => `npm run sim -- check raft --scenario catch-up --seed ${seed} --seeds 1 --trace`
  })
}
