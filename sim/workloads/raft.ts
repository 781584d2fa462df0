// Raft workload: one group over every node with the built-in KV. Writes commit before and after
// a partition; while split, writes through the majority side commit and writes through the
// minority side must not (they fail with a typed timeout / no-leader error). After each heal
// every member's linearizable reads agree and hold every acknowledged write.

import { sleep } from '../harness/delivery.ts'
import type { SimNode } from '../harness/sim-node.ts'
import type { PartitionPhase, Workload, WorkloadContext, WorkloadResult } from './workload.ts'

/** Group name. */
const GROUP = 'sim-partition'
/** Modest timings so elections after a split are quick. */
const HEARTBEAT_MS = 50
const ELECTION_MS = 300
/** A write that should commit (majority side, intact mesh) gets this long. */
const WRITE_TIMEOUT_MS = 10_000
/** A minority-side write gets this long: many election timeouts, yet it cannot commit. */
export const MINORITY_WRITE_TIMEOUT_MS = 2_000
/** Errors a refused minority write may end with (typed, from src/raft/group.ts). */
const MINORITY_CODES = new Set(['ERR_TIMEOUT', 'ERR_NO_LEADER'])
/** How long all members may take to agree after a heal. */
export const RAFT_CONVERGE_TIMEOUT_MS = 30_000
/** Deadline of one round of linearizable reads on one member. */
const READ_TIMEOUT_MS = 3_000

/** Build the raft workload; every node writes `perNodePerPhase` keys in every phase. */
export function raftWorkload (options: { perNodePerPhase: number }): Workload {
  const acked = new Map<string, string>()
  const minorityAttempted = new Map<string, string>()
  const failures: string[] = []
  const convergeMs: number[] = []
  const counts = { attempted: 0, majority_acked: 0, minority_attempted: 0, minority_refused_typed: 0, minority_commits: 0, failed: 0 }
  let majoritySides = 0
  let strandedLeaders = 0

  async function write (node: SimNode, key: string, value: string, timeoutMs: number): Promise<{ ok: true } | { ok: false, code: string, message: string }> {
    counts.attempted++
    try {
      await node.invoke('pw.raft.put', { name: GROUP, key, value, timeoutMs })
      return { ok: true }
    } catch (err) {
      const e = err as { code?: string, message?: string }
      return { ok: false, code: e.code ?? 'no code', message: e.message ?? String(err) }
    }
  }

  /** Linearizable reads of every acked key on every member: null while a member cannot answer, else each member's values. */
  async function readAll (context: WorkloadContext, keys: string[]): Promise<Array<Record<string, string | null>> | null> {
    try {
      return await Promise.all(context.cluster.nodes.map(async n => await n.invoke('pw.raft.read', { name: GROUP, keys, timeoutMs: READ_TIMEOUT_MS }) as Record<string, string | null>))
    } catch (err) {
      context.cluster.timeline.record('phase', `raft read retried: ${(err as Error).message}`)
      return null
    }
  }

  function holdsAcked (values: Record<string, string | null>): boolean {
    for (const [key, value] of acked) if (values[key] !== value) return false
    return true
  }

  /** Wait until every member's linearizable reads return every acked write; ms since heal or null. */
  async function converge (context: WorkloadContext, what: string): Promise<number | null> {
    const startMs = context.healedAtMs ?? performance.now()
    const deadline = performance.now() + RAFT_CONVERGE_TIMEOUT_MS
    const keys = [...acked.keys()]
    let last: Array<Record<string, string | null>> | null = null
    while (performance.now() < deadline) {
      last = await readAll(context, keys)
      if (last !== null && last.every(holdsAcked)) return performance.now() - startMs
      await sleep(50)
    }
    const detail = last === null ? 'some member could not serve a linearizable read' : last.map((v, i) => `${context.cluster.nodes[i]!.name}: ${keys.filter(k => v[k] !== acked.get(k)).length} acked writes missing`).join('; ')
    failures.push(`raft: ${what}: members did not agree within ${RAFT_CONVERGE_TIMEOUT_MS} ms (${detail})`)
    return null
  }

  return {
    name: 'raft',
    async setup (context) {
      const { cluster } = context
      const members = cluster.nodes.map(n => n.peerId)
      await Promise.all(cluster.nodes.map(async n => await n.invoke('pw.raft.join', { name: GROUP, members, heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS })))
      const leader = await cluster.nodes[0]!.invoke('pw.raft.leader', { name: GROUP, timeoutMs: WRITE_TIMEOUT_MS }) as string
      cluster.timeline.record('leader', `raft group ${GROUP}: ${cluster.byPeerId(leader)?.name ?? leader} leads`)
    },
    async runPhase (context, phase: PartitionPhase) {
      const { cluster, sides, sideOf } = context
      if (phase === 'healed') {
        const ms = await converge(context, `after heal ${context.round + 1}`)
        if (ms !== null) {
          convergeMs.push(ms)
          cluster.timeline.record('phase', `raft members agree ${Math.round(ms)} ms after heal ${context.round + 1}`)
        }
      }
      const n = cluster.nodes.length
      // the side with a strict majority of the group (if any) can commit while split
      const majority = phase === 'partitioned' ? sides.findIndex(s => s.length * 2 > n) : -1
      if (phase === 'partitioned' && majority >= 0) majoritySides++
      if (phase === 'partitioned') {
        // the hard case: the leader of before the split is cut off with the minority and still
        // believes it leads (until check-quorum), so minority writes reach a leader's log
        const statuses = await Promise.all(cluster.nodes.map(async n => await n.invoke('pw.raft.status', { name: GROUP }) as { role: string }))
        const leaderIndex = statuses.findIndex(s => s.role === 'leader')
        if (leaderIndex >= 0 && sideOf(leaderIndex) !== majority) {
          strandedLeaders++
          cluster.timeline.record('phase', `raft leader ${cluster.nodes[leaderIndex]!.name} is on the minority side`)
        }
      }
      await Promise.all(cluster.nodes.map(async (node) => {
        const minority = phase === 'partitioned' && sideOf(node.index) !== majority
        for (let k = 0; k < options.perNodePerPhase; k++) {
          const key = `${phase}-r${context.round}-${node.index}-${k}`
          const value = `${node.name}:${key}:${context.rng.int(0, 1_000_000)}`
          if (minority) {
            counts.minority_attempted++
            minorityAttempted.set(key, value)
            const r = await write(node, key, value, MINORITY_WRITE_TIMEOUT_MS)
            if (r.ok) {
              counts.minority_commits++
              failures.push(`raft: ${key} written through minority-side ${node.name} was acknowledged while partitioned`)
            } else if (MINORITY_CODES.has(r.code)) {
              counts.minority_refused_typed++
            } else {
              failures.push(`raft: minority write ${key} on ${node.name} failed untyped (${r.code}): ${r.message}`)
            }
            continue
          }
          const r = await write(node, key, value, WRITE_TIMEOUT_MS)
          if (r.ok) {
            acked.set(key, value)
            if (phase === 'partitioned') counts.majority_acked++
          } else {
            counts.failed++
            failures.push(`raft: write ${key} through ${node.name} in phase ${phase} failed (${r.code}): ${r.message}`)
          }
        }
      }))
    },
    async verify (context): Promise<WorkloadResult> {
      await converge(context, 'final check')
      // every member, linearizably: all acked writes present, and all members agree on every key
      // (minority keys included: a refused write's outcome is indeterminate, but it must be the same everywhere)
      const keys = [...acked.keys(), ...minorityAttempted.keys()]
      let all: Array<Record<string, string | null>> | null = null
      for (let attempt = 0; attempt < 10 && all === null; attempt++) all = await readAll(context, keys)
      let lost = 0
      let disagreeing = 0
      let minorityLate = 0
      if (all === null) {
        failures.push('raft: final linearizable reads failed on some member')
      } else {
        for (const [key, value] of acked) if (!all.every(v => v[key] === value)) lost++
        for (const key of keys) if (!all.every(v => v[key] === all[0]![key])) disagreeing++
        for (const [key, value] of minorityAttempted) if (all[0]![key] === value) minorityLate++
        if (lost > 0) failures.push(`raft: ${lost} of ${acked.size} acknowledged writes missing on some member`)
        if (disagreeing > 0) failures.push(`raft: members disagree on ${disagreeing} keys`)
      }
      const statuses = await Promise.all(context.cluster.nodes.map(async n => await n.invoke('pw.raft.status', { name: GROUP }) as { term: number, applied: number }))
      return {
        metrics: {
          raft_writes_attempted: counts.attempted,
          raft_acked_writes: acked.size,
          raft_majority_acked_partitioned: counts.majority_acked,
          raft_partitions_with_majority: majoritySides,
          raft_leader_stranded_rounds: strandedLeaders,
          raft_minority_attempted: counts.minority_attempted,
          raft_minority_refused_typed: counts.minority_refused_typed,
          raft_minority_commits: counts.minority_commits,
          // a refused (timed-out) write may still be applied later: its outcome was never promised
          raft_minority_applied_after_heal: minorityLate,
          raft_failed_writes: counts.failed,
          raft_lost_acked: all === null ? acked.size : lost,
          raft_key_disagreements: disagreeing,
          raft_term_max: Math.max(...statuses.map(s => s.term)),
          raft_converge_ms: convergeMs.length === 0 ? null : Math.round(Math.max(...convergeMs))
        },
        failures: [...failures]
      }
    }
  }
}
