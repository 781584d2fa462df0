// A scripted regression scenario for follower catch-up (SPEC raft R4 flow control): a follower is
// down while the leader sends it more than INFLIGHT_MAX appends, so its replicate-state window
// fills with appends that were never delivered; after the restart it must still catch up.

import { INFLIGHT_MAX } from '../../protocols/raft/progress.ts'
import { encodeKvCommand } from '../../protocols/raft/kv.ts'
import { SimCluster } from './cluster.ts'
import { CATCH_UP_BOUND_TICKS } from './run-seed.ts'

/** Outcome of one run of the scenario. */
export interface CatchUpResult {
  seed: number
  ok: boolean
  failures: string[]
  /** Appends the leader sent towards the follower while it was down. */
  appendsWhileDown: number
  leaderCommit: number
  followerApplied: number
  trace: string[]
}

/** Run the scenario: 3 voters, one follower down for INFLIGHT_MAX + 16 separate proposals, then restarted. */
export async function runCatchUpScenario (seed: number, options: { trace?: boolean, /** restart the follower (default true); false shows the check failing */ restart?: boolean } = {}): Promise<CatchUpResult> {
  const ids = ['n1', 'n2', 'n3']
  const tickMs = 10
  // a long election timeout: the leader sends a silent follower back to probe after one, and the
  // window must fill first (INFLIGHT_MAX + 16 proposals 3 ms apart take about 240 ms)
  const c = new SimCluster({ seed, nodeIds: ids, voters: ids, tickMs, electionTicks: 30, trace: options.trace === true })
  const failures: string[] = []
  await c.runUntil(500)
  const leader = c.leader()
  if (leader === undefined) return { seed, ok: false, failures: ['setup: no leader after 500ms'], appendsWhileDown: 0, leaderCommit: 0, followerApplied: 0, trace: c.trace }
  const follower = ids.find((id) => id !== leader.id)!
  c.note(`scenario: crash follower ${follower}, then ${INFLIGHT_MAX + 16} proposals to ${leader.id}`)
  c.crash(follower)
  let appendsWhileDown = 0
  const proposals = INFLIGHT_MAX + 16
  for (let i = 0; i < proposals; i++) {
    // one proposal per Ready: each becomes its own append towards the follower
    leader.driver?.propose(encodeKvCommand({ op: 'put', key: 'k', value: String(i) }), 'catch-up', i + 1, () => {})
    await c.runUntil(c.now + 3)
    const pr = leader.core?.progressOf(follower)
    if (pr !== undefined) appendsWhileDown = Math.max(appendsWhileDown, pr.inflight.length)
  }
  await c.runUntil(c.now + 50)
  if (options.restart !== false) {
    c.note(`scenario: restart ${follower}`)
    c.start(follower)
  }
  await c.runUntil(c.now + CATCH_UP_BOUND_TICKS * tickMs)
  const leaderCommit = leader.core?.log.committed ?? 0
  const followerApplied = c.node(follower).driver?.appliedIndex ?? 0
  failures.push(...c.checker.violations)
  if (c.crashError !== null) failures.push(`driver failed: ${c.crashError.message}`)
  if (leaderCommit < proposals) failures.push(`setup: the leader committed only ${leaderCommit} of ${proposals} proposals`)
  if (followerApplied < leaderCommit) {
    failures.push(`liveness: catch-up: ${follower} applied ${followerApplied} < commit ${leaderCommit} of leader ${leader.id} ${CATCH_UP_BOUND_TICKS} ticks after its restart (${appendsWhileDown} appends were in flight to it while it was down)`)
  }
  return { seed, ok: failures.length === 0, failures, appendsWhileDown, leaderCommit, followerApplied, trace: c.trace }
}
