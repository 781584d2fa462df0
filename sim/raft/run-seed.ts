// One seeded simulation run of real raft drivers: random faults for a while, then heal, then check
// liveness (a leader, a committed write, every member caught up) and linearizability. Everything
// derives from the seed, so a failing seed replays exactly.

import { SimCluster } from './cluster.ts'
import type { ClusterOptions } from './cluster.ts'
import { checkPartitioned } from './linearizability.ts'
import { kvRegisterModel, lockModel } from './models.ts'
import { KvStateMachine, encodeKvCommand } from '../../protocols/raft/kv.ts'
import { message } from '../../protocols/raft/messages.ts'
import type { Message } from '../../protocols/raft/messages.ts'
import { scheduleFigure8 } from './figure8.ts'
import { Workload } from './workload.ts'

/**
 * After the heal, every live member must have applied the leader's commit index (as of the start
 * of this window) within this many ticks. Healed links deliver in ≤ 5 ms (under one tick), so a
 * follower that is behind gets an append on its next heartbeat response (1 tick), rejections are
 * answered at once with a term-skipping hint (SPEC raft R4), a replicating follower receives up to
 * INFLIGHT_MAX appends per round trip, and a snapshot takes one round trip; the workload adds at
 * most a few entries per tick. A healthy run catches up in a handful of ticks; 30 leaves a wide
 * margin while staying far below the 150 ticks of the post-heal phase.
 */
export const CATCH_UP_BOUND_TICKS = 30

/**
 * Whether runs check L2 (catch-up) unless told otherwise. On: the core frees an inflight slot on
 * a heartbeat response and sends a silent follower back to probe, so a restarted follower behind
 * a full window resumes; `--catch-up off` skips the check (to look at safety alone).
 */
export const CATCH_UP_CHECK_DEFAULT = true

/** Knobs of one run (defaults sized so 2,000 seeds take about a minute on one core). */
export interface SeedOptions {
  /** Voters at genesis (3 or 5 when unset, from the seed). */
  nodes?: number
  faultPhaseMs?: number
  /** After healing, a leader and a committed write must appear within this many ms. */
  livenessBoundMs?: number
  trace?: boolean
  /** Checker self-test injections (see ClusterOptions). */
  unsafeVoteTwice?: boolean
  corruptApply?: boolean
  unsafeReads?: boolean
  unsafeForgetVote?: boolean
  unsafeCommitOldTerm?: boolean
  unsafeNoDedup?: boolean
  unsafeAcceptNonMembers?: boolean
  /** Force (true) or forbid (false) a non-member injecting hostile messages; unset: chosen by the seed. */
  outsider?: boolean
  /** Drivers reply to votes and appends before their fsync (SPEC raft E1 broken in the driver). */
  unsafeReplyBeforeFsync?: boolean
  /** Check that every member catches up with the leader after the heal (L2; default CATCH_UP_CHECK_DEFAULT). */
  checkCatchUp?: boolean
  /**
   * Pin the heartbeat-loss detector (SPEC raft R6a) and the leader freeze fault instead of letting
   * the seed choose: `{suspectTicks: 0, leaderFreeze: false}` replays a seed as it ran before both
   * existed (regression seeds found then keep their schedule).
   */
  detector?: { suspectTicks: number, leaderFreeze: boolean }
}

/** Outcome and metrics of one seed. */
export interface SeedResult {
  seed: number
  ok: boolean
  failures: string[]
  elections: number
  commits: number
  ticksToLeaderAfterHeal: number | null
  messages: number
  crashes: number
  opsCompleted: number
  opsKv: number
  opsLock: number
  /** Ticks the slowest member took to apply the leader's commit after the heal (null: not measured). */
  catchUpTicks: number | null
  /**
   * Members L2 left out because their own configuration lacks the leader (SPEC raft "Threat
   * model", known limit: they drop that leader's messages until a leader they know is elected).
   */
  catchUpConfigLagged: number
  trace: string[]
}

/** Run one seed. */
export async function runRaftSeed (seed: number, options: SeedOptions = {}): Promise<SeedResult> {
  const pick = createPicker(seed)
  const voterCount = options.nodes ?? (pick.chance(0.5) ? 3 : 5)
  const spare = pick.chance(0.5) ? 1 : 0 // a node that membership changes may add
  const ids = Array.from({ length: voterCount + spare }, (_, i) => `n${i + 1}`)
  const voters = ids.slice(0, voterCount)
  const faultPhaseMs = options.faultPhaseMs ?? 1500
  const livenessBoundMs = options.livenessBoundMs ?? 1500
  const tickMs = 10
  const clusterOptions: ClusterOptions = {
    seed,
    nodeIds: ids,
    voters,
    tickMs,
    clockSkew: pick.float() * 0.3,
    electionTicks: 10,
    compactEvery: pick.chance(0.5) ? pick.int(5, 40) : 0,
    useCodec: pick.chance(0.1),
    trace: options.trace === true
  }
  if (options.unsafeVoteTwice === true) clusterOptions.unsafeVoteTwice = 'n1'
  if (options.unsafeReads === true) clusterOptions.unsafeReads = true
  if (options.unsafeForgetVote === true) clusterOptions.unsafeForgetVote = true
  if (options.unsafeCommitOldTerm === true) clusterOptions.unsafeCommitOldTerm = true
  if (options.unsafeNoDedup === true) clusterOptions.unsafeNoDedup = true
  if (options.unsafeAcceptNonMembers === true) clusterOptions.unsafeAcceptNonMembers = true
  if (options.unsafeReplyBeforeFsync === true) clusterOptions.unsafeReplyBeforeFsync = true
  if (options.corruptApply === true) clusterOptions.corruptApplyAt = { node: 'n2', index: 3 }
  // knobs added later come from a second stream, so every earlier seed keeps its old choices
  const pick2 = createPicker(seed + 0x3c6ef372)
  const figure8 = pick2.chance(0.4)
  // one entry per append (in most Figure 8 seeds) lets a follower acknowledge an old-term entry alone
  if (pick2.chance(figure8 ? 0.8 : 0.4)) clusterOptions.appendEntriesMax = figure8 && pick2.chance(0.8) ? 1 : pick2.int(1, 3)
  if (pick2.chance(figure8 ? 0.8 : 0.4)) clusterOptions.fastFailover = true
  if (pick2.chance(0.25)) clusterOptions.diskDelayMaxMs = pick2.int(5, 20) // a slow disk widens the window a crash loses
  // a fifth stream for the heartbeat-loss detector (SPEC raft R6a), see the freeze fault below
  const pick5 = createPicker(seed + 0x5be0cd19)
  if (pick5.chance(0.4)) clusterOptions.suspectTicks = [0, 2, 4][pick5.int(0, 2)]!
  if (options.detector !== undefined) clusterOptions.suspectTicks = options.detector.suspectTicks
  const c = new SimCluster(clusterOptions)
  c.faults = { dropRate: pick.float() * 0.2, duplicateRate: pick.float() * 0.1, delayMinMs: 1, delayMaxMs: pick.int(2, 40) }
  const failures: string[] = []

  // ---- faults ----
  const faultEveryMs = pick.int(40, 200)
  for (let t = faultEveryMs; t < faultPhaseMs; t += faultEveryMs) c.at(t, () => injectFault(c, ids, faultPhaseMs))
  // a fraction of seeds add leader-churn faults: the Figure 8 pattern (SPEC raft R3) needs a leader
  // that replicates to a minority and dies, and quick successive elections with restarts
  if (pick2.chance(0.3)) {
    const churnEveryMs = pick2.int(20, 80)
    for (let t = churnEveryMs; t < faultPhaseMs; t += churnEveryMs) c.at(t, () => injectLeaderChurn(c, ids, faultPhaseMs))
    const crashNewLeader = pick2.float() * 0.6
    c.onNewLeader = (id, term) => {
      if (c.now >= faultPhaseMs || !c.rng.chance(crashNewLeader)) return
      // a fresh leader dies after a few ms: its no-op (and what it re-replicated of older terms)
      // reached only some followers, or none when its outgoing links were cut at once
      const cut = c.rng.chance(0.5) ? ids.filter((b) => b !== id).map((b) => `${id}>${b}`) : []
      for (const link of cut) c.blocked.add(link)
      c.at(c.now + c.rng.int(1, 40), () => {
        for (const link of cut) c.blocked.delete(link)
        if (c.now >= faultPhaseMs || c.node(id).core?.term !== term) return
        c.note(`fault: crash new leader ${id} of term ${term}${cut.length > 0 ? ' (it sent nothing)' : ''}`)
        c.crash(id)
        const back = c.now + c.rng.int(5, 60)
        if (back < faultPhaseMs) c.at(back, () => c.start(id))
      })
    }
  }
  if (figure8) scheduleFigure8(c, ids, pick2.int(50, 400), faultPhaseMs)
  // crash points: in some seeds a node now and then loses power in the middle of an fsync, the
  // moment SPEC raft E1 is about (what it replied before the write completed must not be lost)
  const pick3 = createPicker(seed + 0x2545f491)
  if (pick3.chance(0.5)) {
    const fsyncCrashEveryMs = pick3.int(30, 200)
    for (let t = fsyncCrashEveryMs; t < faultPhaseMs - 100; t += fsyncCrashEveryMs) {
      c.at(t, () => {
        // a follower or candidate: its fsync guards the votes and acknowledgements it sends
        const leader = c.leader()?.id
        const others = ids.filter((id) => id !== leader)
        c.crashAtNextFsync(others[c.rng.int(0, others.length - 1)]!, c.rng.int(5, 80))
      })
    }
  }
  const lateFollowerMs = pick3.chance(0.3) ? pick3.int(850, 950) : 0
  // a fourth stream for the outsider, so the seeds above keep every earlier choice
  const pick4 = createPicker(seed + 0x78dde6e4)
  if (options.outsider ?? pick4.chance(0.25)) {
    const everyMs = pick4.int(10, 60)
    for (let t = everyMs; t < faultPhaseMs; t += everyMs) c.at(t, () => injectOutsider(c, ids))
  }
  // the detector's threshold varies by seed (off, 2, the default 3, 4), and some seeds freeze the
  // leader (SIGSTOP: no timer fires, nothing is sent or received) for 40–300 ms, long enough for
  // the others to elect a new leader, so it comes back still leading its old term while a newer
  // leader serves, and its held heartbeats, appends and replies arrive late (SPEC raft "A leader
  // that comes back from a pause")
  if (pick5.chance(0.3) && options.detector?.leaderFreeze !== false) {
    const freezeEveryMs = pick5.int(100, 300)
    for (let t = freezeEveryMs; t < faultPhaseMs - 100; t += freezeEveryMs) {
      c.at(t, () => {
        const l = c.leader()
        if (l === undefined || c.frozen.size > 0) return
        const forMs = c.rng.int(40, 300)
        c.note(`fault: leader ${l.id} frozen for ${forMs}ms`)
        c.freeze(l.id)
        c.at(c.now + forMs, () => { c.note(`fault: ${l.id} thawed`); c.thaw(l.id) })
      })
    }
  }
  // ---- membership and leadership transfer ----
  const adminEveryMs = pick.int(150, 600)
  for (let t = adminEveryMs; t < faultPhaseMs; t += adminEveryMs) c.at(t, () => adminAction(c, ids))

  const workload = new Workload(c, faultPhaseMs + livenessBoundMs - 400)
  workload.start(pick.int(1, 3), pick.int(0, 2))

  // ---- heal ----
  let leaderAtMs: number | null = null
  let progressAtMs: number | null = null
  c.at(faultPhaseMs, () => {
    c.note('heal: all faults stop, every node restarts')
    c.blocked.clear()
    c.thaw()
    c.dropFilter = null
    c.onNewLeader = null
    c.cancelFsyncCrash()
    c.faults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 }
    for (const id of ids) c.start(id)
    // in some seeds one follower goes down again once a leader leads after the heal, long enough
    // for that leader to fill its inflight window (INFLIGHT_MAX appends), then restarts before the
    // catch-up window and must catch up (L2).
    const healMs = c.now
    const outage = (): void => {
      const leader = c.leader()
      if (leader === undefined) { if (c.now < healMs + 200) c.at(c.now + 10, outage); return }
      const followers = ids.filter((id) => id !== leader.id && leader.core!.voters.includes(id))
      const late = followers[c.rng.int(0, followers.length - 1)]
      if (late === undefined) return
      c.note(`heal: ${late} goes down for ${lateFollowerMs}ms`)
      c.crash(late)
      c.at(c.now + lateFollowerMs, () => {
        const pr = c.leader()?.core?.progressOf(late)
        c.note(`heal: ${late} restarts (leader's view: ${pr === undefined ? 'none' : `${pr.state}, ${pr.inflight.length} appends in flight`})`)
        c.start(late)
      })
    }
    if (lateFollowerMs > 0) outage()
    const probe = (): void => {
      if (progressAtMs !== null) return
      workload.probe((at) => { progressAtMs ??= at })
      c.at(c.now + 300, probe)
    }
    probe()
    const watch = (): void => {
      if (leaderAtMs === null && c.leader() !== undefined) leaderAtMs = c.now
      if (leaderAtMs === null) c.at(c.now + tickMs, watch)
    }
    watch()
  })

  // ---- catch-up: every member applies what the leader had committed, within the bound ----
  const endMs = faultPhaseMs + livenessBoundMs
  const catchUpFromMs = endMs - CATCH_UP_BOUND_TICKS * tickMs
  let catchUp: { leader: string, term: number, commit: number, members: string[], doneAtMs: number | null } | null = null
  c.at(catchUpFromMs, () => {
    const l = c.leader()
    if (l?.core == null) return
    catchUp = { leader: l.id, term: l.core.term, commit: l.core.log.committed, members: [...l.core.voters], doneAtMs: null }
    const watch = (): void => {
      const target = catchUp!
      if (target.members.every((id) => (c.node(id).driver?.appliedIndex ?? -1) >= target.commit)) { target.doneAtMs = c.now; return }
      c.at(c.now + 1, watch)
    }
    watch()
  })

  await c.runUntil(endMs)
  failures.push(...c.checker.violations)
  if (c.crashError !== null) failures.push(`driver failed: ${c.crashError.message}`)
  if (failures.length === 0) {
    if (leaderAtMs === null) failures.push(`liveness: no leader within ${livenessBoundMs}ms after heal`)
    else if (progressAtMs === null) failures.push(`liveness: no committed write within ${livenessBoundMs}ms after heal`)
  }
  const caught = catchUp as { leader: string, term: number, commit: number, members: string[], doneAtMs: number | null } | null
  let catchUpConfigLagged = 0
  if (failures.length === 0 && (options.checkCatchUp ?? CATCH_UP_CHECK_DEFAULT) && caught !== null && caught.doneAtMs === null) {
    const lagging = caught.members.filter((id) => (c.node(id).driver?.appliedIndex ?? -1) < caught.commit)
    // a member that never learnt the leader joined hears it as a non-member (the known limit)
    const unaware = lagging.filter((id) => { const core = c.node(id).core; return core !== null && !core.voters.includes(caught.leader) })
    catchUpConfigLagged = unaware.length
    const behind = lagging.filter((id) => !unaware.includes(id)).map((id) => `${id} applied ${c.node(id).driver?.appliedIndex ?? 'nothing (down)'}`)
    if (behind.length > 0) failures.push(`liveness: catch-up: ${behind.join(', ')} < commit ${caught.commit} of leader ${caught.leader} (term ${caught.term}) after ${CATCH_UP_BOUND_TICKS} ticks`)
  }
  if (failures.length === 0) {
    const kv = checkPartitioned(kvRegisterModel, workload.histories.kv, (op) => op.input.key)
    if (!kv.ok) failures.push(`linearizability: KV history for key ${kv.failedKey} ${kv.exhausted ? 'could not be checked (search limit)' : 'is not linearizable'}`)
    const lock = checkPartitioned(lockModel, workload.histories.lock, () => 'L')
    if (!lock.ok) failures.push(`linearizability: lock history ${lock.exhausted ? 'could not be checked (search limit)' : 'is not linearizable'}`)
  }
  return {
    seed,
    ok: failures.length === 0,
    failures,
    elections: c.checker.elections,
    commits: c.checker.maxCommitted,
    ticksToLeaderAfterHeal: leaderAtMs === null ? null : Math.ceil((leaderAtMs - faultPhaseMs) / tickMs),
    messages: c.messagesSent,
    crashes: c.crashes,
    opsCompleted: workload.completed,
    opsKv: workload.histories.kv.length,
    opsLock: workload.histories.lock.length,
    catchUpTicks: caught?.doneAtMs == null ? null : Math.ceil((caught.doneAtMs - catchUpFromMs) / tickMs),
    catchUpConfigLagged,
    trace: c.trace
  }
}

export function createPicker (seed: number): { chance: (p: number) => boolean, float: () => number, int: (a: number, b: number) => number } {
  // a separate stream from the cluster's, so adding a knob does not shift every other choice
  let x = (seed ^ 0x5bd1e995) >>> 0
  const next = (): number => { x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; x = (x ^ (x >>> 12)) >>> 0; return x / 0x1_0000_0000 }
  return { chance: (p) => next() < p, float: next, int: (a, b) => a + Math.floor(next() * (b - a + 1)) }
}

export function injectFault (c: SimCluster, ids: string[], faultPhaseMs: number): void {
  const r = c.rng
  const any = (): string => ids[r.int(0, ids.length - 1)]!
  switch (r.int(0, 6)) {
    case 0: { // symmetric partition into two sides
      c.blocked.clear()
      const side = new Set(ids.filter(() => r.chance(0.5)))
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) c.blocked.add(`${a}>${b}`)
      c.note(`fault: partition {${[...side].join(',')}} | rest`)
      return
    }
    case 1: { // one-way link failure
      const a = any(); const b = any()
      if (a !== b) { c.blocked.add(`${a}>${b}`); c.note(`fault: link ${a}>${b} down`) }
      return
    }
    case 2: c.blocked.clear(); c.note('fault: partitions healed'); return
    case 3: case 4: { // crash, restart later (maybe after the heal, which restarts everyone)
      const id = any()
      c.crash(id)
      const back = c.now + r.int(20, 400)
      if (back < faultPhaseMs) c.at(back, () => c.start(id))
      return
    }
    case 5: { // isolate the leader
      const l = c.leader()
      if (l === undefined) return
      for (const b of ids) if (b !== l.id) { c.blocked.add(`${l.id}>${b}`); c.blocked.add(`${b}>${l.id}`) }
      c.note(`fault: leader ${l.id} isolated`)
      return
    }
    default: c.faults = { ...c.faults, dropRate: r.float() * 0.3 }; c.note(`fault: drop rate ${c.faults.dropRate.toFixed(2)}`)
  }
}

/** Leader-centred faults: cut the leader off from all but one follower, then crash it; or crash a fresh leader at once. */
function injectLeaderChurn (c: SimCluster, ids: string[], faultPhaseMs: number): void {
  const r = c.rng
  const l = c.leader()
  if (l === undefined) return
  const restartAfter = (id: string, ms: number): void => { const back = c.now + ms; if (back < faultPhaseMs) c.at(back, () => c.start(id)) }
  if (r.chance(0.5)) {
    // the leader reaches one follower only (a minority), keeps taking proposals, then dies
    const others = ids.filter((id) => id !== l.id)
    const keep = others[r.int(0, others.length - 1)]!
    const cut = others.filter((id) => id !== keep).map((id) => `${l.id}>${id}`)
    for (const link of cut) c.blocked.add(link)
    c.note(`fault: leader ${l.id} reaches only ${keep}`)
    c.at(c.now + r.int(5, 40), () => {
      for (const link of cut) c.blocked.delete(link)
      if (c.now >= faultPhaseMs) return // healed meanwhile: nothing crashes after the heal
      c.crash(l.id)
      restartAfter(l.id, r.int(5, 80))
    })
  } else {
    // a leader dies right after it wrote its first entries (maybe before any left)
    c.note(`fault: crash leader ${l.id}`)
    c.crash(l.id)
    restartAfter(l.id, r.int(5, 80))
  }
}

/** A non-member (SPEC raft "Threat model") sends a member what would take it over: higher terms, campaigns, forged entries, a snapshot naming itself. */
function injectOutsider (c: SimCluster, ids: string[]): void {
  const r = c.rng
  const to = ids[r.int(0, ids.length - 1)]!
  const core = c.node(to).core
  if (core === null) return
  const from = 'x1'
  const term = core.term + r.int(1, 3)
  const last = core.log.lastIndex()
  const forged = { term, index: last + 1, kind: 'normal' as const, data: encodeKvCommand({ op: 'put', key: 'k0', value: 'forged' }), client: '', seq: 0 }
  const choices: Message[] = [
    message({ type: 'heartbeat', from, to, term, commit: core.log.committed }),
    message({ type: 'preVote', from, to, term, index: last + 100, logTerm: term }),
    message({ type: 'vote', from, to, term, index: last + 100, logTerm: term, force: r.chance(0.5) }),
    message({ type: 'app', from, to, term, index: last, logTerm: core.log.lastTerm(), entries: [forged], commit: last + 1 }),
    message({ type: 'snap', from, to, term, snapshot: { index: last + 10, term, voters: [from], data: new KvStateMachine().snapshot() } }),
    message({ type: 'timeoutNow', from, to, term: core.term })
  ]
  c.inject(choices[r.int(0, choices.length - 1)]!)
}

function adminAction (c: SimCluster, ids: string[]): void {
  const l = c.leader()
  if (l?.core == null) return
  const core = l.core
  const r = c.rng
  if (r.chance(0.4)) {
    const others = core.voters.filter((v) => v !== l.id)
    const to = others[r.int(0, others.length - 1)]
    if (to !== undefined) { c.note(`admin: transfer leadership ${l.id} -> ${to}`); c.withCore(l.id, (x) => x.transferLeadership(to)) }
    return
  }
  const outside = ids.filter((id) => !core.voters.includes(id))
  if (outside.length > 0 && (core.voters.length <= 3 || r.chance(0.5))) {
    const node = outside[r.int(0, outside.length - 1)]!
    c.note(`admin: propose add ${node}`)
    c.withCore(l.id, (x) => x.proposeConfChange({ op: 'add', node }))
  } else if (core.voters.length > 3) {
    const node = core.voters[r.int(0, core.voters.length - 1)]!
    c.note(`admin: propose remove ${node}`)
    c.withCore(l.id, (x) => x.proposeConfChange({ op: 'remove', node }))
  }
}
