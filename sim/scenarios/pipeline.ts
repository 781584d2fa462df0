// `pipeline`: collector → processors → writer over `node.direct`, one processor killed
// mid-run. At-least-once hand-offs (acks, retries with backoff, reassignment to survivors)
// plus an idempotent writer (dedup by item id) give exactly-once effects: nothing lost,
// nothing written twice. Processing attempts and distinct writes are both reported.

import { createHash } from 'node:crypto'
import { createRng } from '../../protocols/kit/rng.ts'
import type { Payload } from '../../src/index.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { Cluster } from '../harness/cluster.ts'
import { DeliveryMatrix, backoffMs, sleep } from '../harness/delivery.ts'
import { clusterSummary } from '../harness/summary.ts'
import { allConnectedToBootstrap } from '../harness/connectivity.ts'
import { latencySummary } from '../stats.ts'
import { faultOptions } from '../harness/fault-options.ts'

/** collector + 2 processors + writer. */
const NODES_DEFAULT = 4
const ITEMS_DEFAULT = 200
/** Items the collector has in flight at once (a window, so a dead processor strands several). */
const IN_FLIGHT_MAX = 16
/** Deadline of one hand-off; a dead processor is detected by this or by a refused dial. */
const HANDOFF_TIMEOUT_MS = 3_000
/** Write attempts per processor hand-off before the processor gives up (the collector then retries elsewhere). */
const ATTEMPTS_MAX = 20
/** The collector retries an item until this deadline; past it the item is abandoned (and reported). */
const ITEM_DEADLINE_MS = 60_000
const CONNECT_TIMEOUT_MS = 30_000
/** How long a processor that failed a hand-off gets no new work. */
const SUSPECT_MS = 1_000

/** One unit of work; every seeded choice about it is drawn when it is produced, so runs with
 * the same seed make the same choices whatever order the network completes things in. */
interface Item { id: string, value: string, producedAtMs: number, preferredSlot: number, workMs: number, jitterSeed: number }

/** Run the pipeline scenario. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const nodes = options.nodes ?? NODES_DEFAULT
  if (nodes < 4) throw new RangeError(`pipeline needs at least 4 nodes (collector, 2 processors, writer), got ${nodes}`)
  const items = options.messages ?? ITEMS_DEFAULT
  const rng = createRng(options.seed)
  const name = (i: number): string => i === 0 ? 'collector' : i === nodes - 1 ? 'writer' : `processor-${i}`
  const faults = faultOptions(options)
  const cluster = await Cluster.start({ nodes, transport: options.transport, seed: options.seed, name, latencyMs: faults.latencyMs })
  const collector = cluster.nodes[0]!
  const writer = cluster.nodes[nodes - 1]!
  const processors = cluster.nodes.slice(1, nodes - 1)
  const matrix = new DeliveryMatrix(nodes)
  const failures: string[] = []
  const latenciesMs: number[] = []

  // ---- writer: idempotent apply, dedup by item id
  const written = new Map<string, { result: string, by: string }>()
  let writeRequests = 0
  let duplicateWritesSuppressed = 0
  let applies = 0
  writer.handle('pipeline.write', (payload: Payload) => {
    const { id, result, by } = payload as { id: string, result: string, by: string }
    writeRequests++
    if (written.has(id)) { duplicateWritesSuppressed++; return { ack: id, duplicate: true } }
    applies++
    written.set(id, { result, by })
    return { ack: id, duplicate: false }
  })

  // ---- the fault, armed once enough items are acked: the victim crashes after its next write
  // reached the writer but before its ack reaches the collector, the hardest point for
  // exactly-once (the survivor redoes the item; the writer must suppress the second write).
  const fault: { armed: boolean, victim: typeof cluster.nodes[number] | undefined, killing: Promise<void> | undefined } = { armed: false, victim: undefined, killing: undefined }

  // ---- processors: do the work, hand the result to the writer (at-least-once), then ack
  const processingAttempts = new Map<string, number>()
  let writeRetries = 0
  processors.forEach((processor) => {
    processor.handle('pipeline.process', async (payload: Payload) => {
      const item = payload as unknown as Item
      const jitter = createRng(item.jitterSeed ^ processor.index)
      processingAttempts.set(item.id, (processingAttempts.get(item.id) ?? 0) + 1)
      await sleep(item.workMs) // simulated work time, seeded per item
      if (!processor.running) throw new Error(`${processor.name} died while processing ${item.id}`)
      const result = createHash('sha256').update(item.value).digest('hex').slice(0, 16)
      for (let attempt = 0; ; attempt++) {
        matrix.attempt(processor.index, writer.index)
        try {
          await processor.request(writer.peerId, 'pipeline.write', { id: item.id, result, by: processor.name }, { timeoutMs: HANDOFF_TIMEOUT_MS })
          matrix.deliver(processor.index, writer.index)
          if (fault.armed && fault.victim === processor && fault.killing === undefined) {
            fault.killing = cluster.kill(processor.index)
            await fault.killing
    cluster.stopFlapping()
            throw new Error(`${processor.name} crashed after writing ${item.id}, before acking it`)
          }
          return { ack: item.id }
        } catch (err) {
          if (!processor.running || attempt + 1 >= ATTEMPTS_MAX) throw err
          writeRetries++
          await sleep(backoffMs(attempt, { baseMs: 20, maxMs: 1_000, random: () => jitter.float() }))
        }
      }
    })
  })

  const metrics: SimSummary['metrics'] = {}
  try {
    if (await cluster.waitUntil(async () => await allConnectedToBootstrap(cluster), { timeoutMs: CONNECT_TIMEOUT_MS }) === null) {
      failures.push(`not every node reached the collector within ${CONNECT_TIMEOUT_MS} ms`)
    }
    await cluster.introduce()
    cluster.timeline.record('phase', `producing ${items} items`)
    if (faults.flap !== undefined) cluster.startFlapping(faults.flap)

    // ---- the fault: which processor dies, and after how many acked items (both seeded)
    const victim = processors[rng.int(0, processors.length - 1)]!
    const killAfterAcked = Math.max(1, Math.floor(items * (0.3 + 0.3 * rng.float())))
    // failure detector: a processor that failed a hand-off is avoided for SUSPECT_MS (not forever:
    // with link flapping a failure may be a cut link, not a crash)
    const suspectUntil = new Map<number, number>()
    const suspect = (index: number): boolean => (suspectUntil.get(index) ?? 0) > performance.now()
    fault.victim = victim
    let acked = 0
    let reassigned = 0
    let handoffRetries = 0
    let abandoned = 0
    /** The first trusted processor at or after `slot`, cyclically (all of them if none is trusted). */
    const pick = (slot: number): typeof processors[number] => {
      for (let k = 0; k < processors.length; k++) {
        const candidate = processors[(slot + k) % processors.length]!
        if (!suspect(candidate.index)) return candidate
      }
      return processors[slot % processors.length]!
    }

    const deliver = async (item: Item): Promise<void> => {
      const jitter = createRng(item.jitterSeed)
      let last: number | undefined
      let slot = item.preferredSlot
      const deadline = performance.now() + ITEM_DEADLINE_MS
      for (let attempt = 0; performance.now() < deadline; attempt++) {
        // the item's seeded processor first; after a failure, the next trusted one in order
        const target = pick(slot)
        if (last !== undefined && target.index !== last) { reassigned++; cluster.timeline.record('reassign', `${item.id} → ${target.name}`) }
        matrix.attempt(collector.index, target.index)
        try {
          await collector.request(target.peerId, 'pipeline.process', { ...item }, { timeoutMs: HANDOFF_TIMEOUT_MS })
          matrix.deliver(collector.index, target.index)
          latenciesMs.push(performance.now() - item.producedAtMs)
          acked++
          options.progress(acked, items)
          if (acked === killAfterAcked) fault.armed = true
          return
        } catch (err) {
          last = target.index
          slot = processors.indexOf(target) + 1
          handoffRetries++
          const code = (err as { code?: string }).code
          // unreachable / not running / timeout: treat the processor as dead for new work
          if (code === 'ERR_PEER_UNREACHABLE' || code === 'ERR_TIMEOUT' || code === 'ERR_NOT_RUNNING' || !target.running) suspectUntil.set(target.index, performance.now() + SUSPECT_MS)
          await sleep(backoffMs(attempt, { baseMs: 25, maxMs: 1_000, random: () => jitter.float() }))
        }
      }
      abandoned++
      failures.push(`item ${item.id} abandoned: no processor acknowledged it within ${ITEM_DEADLINE_MS} ms`)
    }

    const queue: Item[] = Array.from({ length: items }, (_, i) => ({ id: `item-${i}`, value: `payload-${options.seed}-${i}-${rng.int(0, 1e9)}`, producedAtMs: 0, preferredSlot: rng.int(0, processors.length - 1), workMs: rng.int(2, 12), jitterSeed: rng.int(0, 0x7fff_ffff) }))
    const lanes = Array.from({ length: Math.min(IN_FLIGHT_MAX, items) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        item.producedAtMs = performance.now()
        await deliver(item)
      }
    })
    await Promise.all(lanes)
    await fault.killing
    cluster.stopFlapping()
    cluster.timeline.record('phase', 'all items handed off')

    // ---- verification: exactly-once effects
    const processedTwice = [...processingAttempts.values()].filter(n => n > 1).length
    const attempts = [...processingAttempts.values()].reduce((a, b) => a + b, 0)
    if (written.size !== items) failures.push(`written ${written.size} distinct items, produced ${items}`)
    if (applies !== written.size) failures.push(`writer applied ${applies} times for ${written.size} distinct items (a duplicate write got through)`)
    for (let i = 0; i < items; i++) {
      if (!written.has(`item-${i}`)) { failures.push(`item-${i} never written`); if (failures.length > 20) break }
    }
    if (fault.killing === undefined) failures.push(`the fault never happened (kill after ${killAfterAcked} acks)`)
    Object.assign(metrics, {
      produced: items,
      written: written.size,
      lost: items - written.size,
      abandoned,
      processing_attempts: attempts,
      processed_more_than_once: processedTwice,
      write_requests: writeRequests,
      duplicate_writes_suppressed: duplicateWritesSuppressed,
      duplicate_writes_applied: applies - written.size,
      handoff_retries: handoffRetries,
      write_retries: writeRetries,
      reassigned,
      killed: victim.name,
      killed_after_acked: killAfterAcked,
      by_survivors: [...written.values()].filter(w => w.by !== victim.name).length,
      ...latencySummary(latenciesMs),
      transport: options.transport
    })
  } finally {
    await cluster.stop()
  }
  return clusterSummary(cluster, { scenario: 'pipeline', seed: options.seed, metrics, failures, latenciesMs, matrix })
}
