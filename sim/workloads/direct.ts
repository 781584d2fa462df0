// Direct-messaging workload: within a side requests keep working during a partition; across
// it they fail fast with a typed error and go to an outbox that is redelivered after heal, so
// every message is delivered at least once and applied once (dedup by id at the receiver).

import type { Payload } from '../../src/index.ts'
import { backoffMs, sleep } from '../harness/delivery.ts'
import type { PartitionPhase, Workload, WorkloadContext, WorkloadResult } from './workload.ts'

/** A refused cross-partition request must fail within this (it is a gater decision, not a timeout). */
export const FAIL_FAST_MS = 2_000
/** Deadline of one workload request. */
const REQUEST_TIMEOUT_MS = 5_000
/** Redelivery attempts per outbox message after heal. */
const REDELIVERY_ATTEMPTS_MAX = 12
const METHOD = 'sim.partition.msg'

interface Message { id: string, sender: number, receiver: number }

/** Build the direct-messaging workload; `perNodePerPhase` requests from every node in every phase. */
export function directWorkload (options: { perNodePerPhase: number }): Workload {
  const appliedCount = new Map<string, number>()
  const attempted = new Map<string, Message>()
  const outbox: Message[] = []
  const failures: string[] = []
  const counts = { sent: 0, ok_first_try: 0, across_failed_fast: 0, across_leaked: 0, unexpected_failures: 0, redelivered: 0 }
  const crossFailMs: number[] = []

  async function send (context: WorkloadContext, message: Message, phase: PartitionPhase): Promise<void> {
    const { cluster, sideOf, matrix } = context
    const from = cluster.nodes[message.sender]!
    const to = cluster.nodes[message.receiver]!
    const across = phase === 'partitioned' && sideOf(message.sender) !== sideOf(message.receiver)
    matrix.attempt(message.sender, message.receiver)
    counts.sent++
    const started = performance.now()
    try {
      await from.request(to.peerId, METHOD, { id: message.id }, { timeoutMs: REQUEST_TIMEOUT_MS })
      const elapsed = performance.now() - started
      context.latenciesMs.push(elapsed)
      matrix.deliver(message.sender, message.receiver)
      counts.ok_first_try++
      if (across) {
        counts.across_leaked++
        failures.push(`direct: ${message.id} from ${from.name} reached ${to.name} across the partition`)
      }
    } catch (err) {
      const elapsed = performance.now() - started
      const code = (err as { code?: string }).code
      outbox.push(message)
      if (across && code === 'ERR_PEER_UNREACHABLE' && elapsed <= FAIL_FAST_MS) {
        counts.across_failed_fast++
        crossFailMs.push(elapsed)
      } else if (across) {
        counts.unexpected_failures++
        failures.push(`direct: across-partition ${message.id} failed slowly or untyped (${Math.round(elapsed)} ms, ${code ?? 'no code'}): ${(err as Error).message}`)
      } else {
        counts.unexpected_failures++
        failures.push(`direct: ${message.id} ${from.name}→${to.name} failed in phase ${phase}: ${(err as Error).message}`)
      }
    }
  }

  return {
    name: 'direct',
    async setup (context) {
      for (const node of context.cluster.nodes) {
        node.handle(METHOD, (payload: Payload) => {
          const id = (payload as { id: string }).id
          appliedCount.set(id, (appliedCount.get(id) ?? 0) + 1)
          return { ack: id }
        })
      }
    },
    async runPhase (context, phase) {
      const n = context.cluster.nodes.length
      // choices drawn up front, in node order, so the same seed gives the same messages
      const plan = context.cluster.nodes.map((_, sender) => Array.from({ length: options.perNodePerPhase }, (_, k) => {
        let receiver = context.rng.int(0, n - 2)
        if (receiver >= sender) receiver++
        return { id: `${phase}-r${context.round}-${sender}-${k}`, sender, receiver }
      }))
      await Promise.all(plan.map(async (messages) => {
        for (const message of messages) {
          attempted.set(message.id, message)
          await send(context, message, phase)
        }
      }))
    },
    async verify (context): Promise<WorkloadResult> {
      const { cluster } = context
      await Promise.all(outbox.splice(0).map(async (message) => {
        for (let attempt = 0; attempt < REDELIVERY_ATTEMPTS_MAX; attempt++) {
          try {
            await cluster.nodes[message.sender]!.request(cluster.nodes[message.receiver]!.peerId, METHOD, { id: message.id }, { timeoutMs: REQUEST_TIMEOUT_MS })
            counts.redelivered++
            return
          } catch (err) {
            if (attempt === REDELIVERY_ATTEMPTS_MAX - 1) failures.push(`direct: ${message.id} still undeliverable after heal: ${(err as Error).message}`)
            await sleep(backoffMs(attempt, { baseMs: 100, maxMs: 2_000, random: () => context.rng.float() }))
          }
        }
      }))
      let lost = 0
      let duplicates = 0
      for (const id of attempted.keys()) {
        const count = appliedCount.get(id) ?? 0
        if (count === 0) lost++
        if (count > 1) duplicates += count - 1
      }
      if (lost > 0) failures.push(`direct: ${lost} of ${attempted.size} messages never delivered`)
      const crossFailMax = crossFailMs.length === 0 ? null : Math.round(Math.max(...crossFailMs) * 100) / 100
      return {
        metrics: {
          direct_sent: counts.sent,
          direct_messages: attempted.size,
          direct_ok_first_try: counts.ok_first_try,
          direct_across_failed_fast: counts.across_failed_fast,
          direct_across_fail_max_ms: crossFailMax,
          direct_across_leaked: counts.across_leaked,
          direct_unexpected_failures: counts.unexpected_failures,
          direct_redelivered_after_heal: counts.redelivered,
          direct_delivered: attempted.size - lost,
          direct_lost: lost,
          // duplicates arise when a reply is lost after the handler ran; the id dedups them
          direct_duplicate_deliveries: duplicates
        },
        failures: [...failures]
      }
    }
  }
}
