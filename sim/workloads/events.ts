// Events workload: every node subscribes to one topic and publishes in every phase, on both
// sides of a partition. After each heal every node's `history()` must hold every event published
// anywhere, in one canonical order shared by all nodes, and `status().caughtUp` must turn true.

import { sleep } from '../harness/delivery.ts'
import type { PartitionPhase, Workload, WorkloadContext, WorkloadResult } from './workload.ts'

/** Topic the workload publishes on. */
const TOPIC = 'sim.partition.events'
/** How long all nodes may take to agree after a heal. */
export const EVENTS_CONVERGE_TIMEOUT_MS = 30_000
/** Poll period while waiting for convergence. */
const POLL_MS = 100

interface View { ids: string[], caughtUp: boolean, held: number, subscribed: string[], duplicates: number, subscriptionError: string | null }

/** Build the events workload; every node publishes `perNodePerPhase` events in every phase. */
export function eventsWorkload (options: { perNodePerPhase: number }): Workload {
  const published = new Set<string>()
  const failures: string[] = []
  const convergeMs: number[] = []
  let publishedPartitioned = 0
  let publishFailures = 0

  async function views (context: WorkloadContext): Promise<View[]> {
    return await Promise.all(context.cluster.nodes.map(async n => await n.invoke('pw.events.view', { topic: TOPIC }) as View))
  }

  /** True when every node holds exactly `published` in the same order, caught up, nothing held. */
  function agree (all: View[]): boolean {
    const first = all[0]!.ids
    if (first.length !== published.size || !first.every(id => published.has(id))) return false
    return all.every(v => v.caughtUp && v.held === 0 && v.ids.length === first.length && v.ids.every((id, i) => id === first[i]) &&
      v.subscribed.length >= published.size)
  }

  /** Wait until all nodes agree; returns ms since the heal, or null (and records why) on timeout. */
  async function converge (context: WorkloadContext, what: string): Promise<number | null> {
    const startMs = context.healedAtMs ?? performance.now()
    const deadline = performance.now() + EVENTS_CONVERGE_TIMEOUT_MS
    let last: View[] = []
    while (performance.now() < deadline) {
      last = await views(context)
      if (agree(last)) return performance.now() - startMs
      await sleep(POLL_MS)
    }
    const missing = last.map((v, i) => `${context.cluster.nodes[i]!.name}: ${[...published].filter(id => !v.ids.includes(id)).length} missing, caughtUp ${v.caughtUp}, held ${v.held}`)
    failures.push(`events: ${what}: nodes did not converge within ${EVENTS_CONVERGE_TIMEOUT_MS} ms (${missing.join('; ')})`)
    return null
  }

  return {
    name: 'events',
    async setup (context) {
      await Promise.all(context.cluster.nodes.map(async n => await n.invoke('pw.events.subscribe', { topic: TOPIC })))
    },
    async runPhase (context, phase: PartitionPhase) {
      if (phase === 'healed') {
        const ms = await converge(context, `after heal ${context.round + 1}`)
        if (ms !== null) {
          convergeMs.push(ms)
          context.cluster.timeline.record('phase', `events converged ${Math.round(ms)} ms after heal ${context.round + 1}`)
        }
      }
      // every node publishes, both sides of a partition included: events never need a quorum
      await Promise.all(context.cluster.nodes.map(async (node) => {
        for (let k = 0; k < options.perNodePerPhase; k++) {
          try {
            const id = await node.invoke('pw.events.publish', { topic: TOPIC, type: 'sim.partition', data: { phase, round: context.round, node: node.index, k } }) as string
            published.add(id)
            if (phase === 'partitioned') publishedPartitioned++
          } catch (err) {
            publishFailures++
            failures.push(`events: publish on ${node.name} in phase ${phase} failed: ${(err as Error).message}`)
          }
        }
      }))
    },
    async verify (context): Promise<WorkloadResult> {
      // the healed phase's own events too (its time is not a heal-convergence time)
      await converge(context, 'final check')
      const all = await views(context)
      let lost = 0
      for (const id of published) if (!all.every(v => v.ids.includes(id))) lost++
      if (lost > 0) failures.push(`events: ${lost} of ${published.size} published events missing on some node`)
      const disagreeing = all.filter(v => v.ids.length !== all[0]!.ids.length || v.ids.some((id, i) => id !== all[0]!.ids[i])).length
      if (disagreeing > 0) failures.push(`events: ${disagreeing} nodes' history order differs from ${context.cluster.nodes[0]!.name}'s`)
      // subscriptions are exactly-once per node (SPEC E4): every published event delivered once
      const subscriptionMissing = all.reduce((sum, v) => { const got = new Set(v.subscribed); return sum + [...published].filter(id => !got.has(id)).length }, 0)
      const subscriptionDuplicates = all.reduce((sum, v) => sum + v.duplicates, 0)
      if (subscriptionMissing > 0) failures.push(`events: subscriptions missed ${subscriptionMissing} (node, event) deliveries`)
      for (const [i, v] of all.entries()) if (v.subscriptionError !== null) failures.push(`events: subscription on ${context.cluster.nodes[i]!.name} ended: ${v.subscriptionError}`)
      if (subscriptionDuplicates > 0) failures.push(`events: subscriptions delivered ${subscriptionDuplicates} duplicates`)
      return {
        metrics: {
          events_published: published.size,
          events_published_partitioned: publishedPartitioned,
          events_publish_failures: publishFailures,
          events_lost: lost,
          events_order_disagreements: disagreeing,
          events_subscription_missing: subscriptionMissing,
          events_subscription_duplicates: subscriptionDuplicates,
          events_caught_up: all.every(v => v.caughtUp),
          // the worst round: from the heal until every node holds everything in one order
          events_converge_ms: convergeMs.length === 0 ? null : Math.round(Math.max(...convergeMs))
        },
        failures: [...failures]
      }
    }
  }
}
