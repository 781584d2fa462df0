// Deterministic check of the events core: K cores on a seeded network that drops, duplicates,
// reorders, delays and partitions gossip and sync; after healing, every node must hold every
// event exactly once, in per-author order, with nothing held back and the same canonical order.

import { EventsCore, planSyncReply, sortCanonical } from '../../protocols/events/core.ts'
import type { Effect, Input } from '../../protocols/events/core.ts'
import type { Envelope, VectorEntry } from '../../protocols/events/messages.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'

const TOPIC = 't'
/** Virtual ms between anti-entropy ticks, as SYNC_INTERVAL_MS in the adapter. */
const TICK_MS = 3000
/** Virtual time after publishing stops in which every node must converge. */
const CONVERGE_MS = 60_000

interface SimNode { id: string, core: EventsCore, stored: Map<string, Envelope>, order: string[] }
interface Pending { at: number, n: number, run: () => void }

function event (author: string, seq: number, wallMs: number): Envelope {
  return { id: `${author}#${seq}`, topic: TOPIC, type: 'x', data: seq, author, hlc: { wallMs, logical: seq }, seq, bodyBytes: new Uint8Array(), signature: new Uint8Array(), wire: new Uint8Array() }
}

/** Run one seed; returns failure messages (empty when every invariant held). */
export function checkSeed (seed: number): string[] {
  const rng = createRng(seed)
  const count = rng.int(3, 6)
  const nodes: SimNode[] = Array.from({ length: count }, (_, i) => ({ id: `n${i}`, core: new EventsCore(), stored: new Map(), order: [] }))
  const byId = new Map(nodes.map(n => [n.id, n]))
  const dropP = rng.float() * 0.4
  const dupP = rng.float() * 0.2
  const queue: Pending[] = []
  let now = 0
  let serial = 0
  let partitionUntil = -1
  const side = new Map(nodes.map(n => [n.id, rng.chance(0.5)]))
  const cut = (a: string, b: string): boolean => now < partitionUntil && side.get(a) !== side.get(b)
  const schedule = (delayMs: number, run: () => void): void => { queue.push({ at: now + delayMs, n: serial++, run }) }
  const failures: string[] = []

  function effects (node: SimNode, list: Effect[]): void {
    for (const e of list) {
      if (e.kind === 'persist') {
        for (const ev of e.events) {
          if (node.stored.has(ev.id)) failures.push(`${node.id} persisted ${ev.id} twice`)
          node.stored.set(ev.id, ev)
          node.order.push(ev.id)
        }
      } else if (e.kind === 'sync') {
        sync(node, e.peer, e.vector)
      }
    }
  }

  function step (node: SimNode, input: Input): void {
    node.core.step(input)
    effects(node, node.core.drain())
  }

  function sync (client: SimNode, peer: string, vector: VectorEntry[]): void {
    const server = byId.get(peer)!
    if (cut(client.id, peer) || rng.chance(dropP)) {
      schedule(rng.int(50, 500), () => { step(client, { kind: 'sync-failed', topic: TOPIC, peer }) })
      return
    }
    schedule(rng.int(1, 40), () => {
      const ours = server.core.vector(TOPIC)
      const plan = planSyncReply(ours, vector, rng.int(1, 8))
      const events = plan.ranges.flatMap(r => Array.from({ length: r.toSeq - r.fromSeq + 1 }, (_, k) => server.stored.get(`${r.author}#${r.fromSeq + k}`)!))
      schedule(rng.int(1, 40), () => {
        const before = client.core.stats.accepted
        for (const ev of events) step(client, { kind: 'event', event: ev, from: peer })
        step(client, { kind: 'sync-reply', topic: TOPIC, peer, vector: ours, received: client.core.stats.accepted - before, more: plan.more })
      })
    })
  }

  function gossip (from: SimNode, ev: Envelope): void {
    for (const to of nodes) {
      if (to === from || cut(from.id, to.id) || rng.chance(dropP)) continue
      const copies = rng.chance(dupP) ? 2 : 1
      for (let c = 0; c < copies; c++) schedule(rng.int(1, 200), () => { step(to, { kind: 'event', event: ev, from: from.id }) })
    }
  }

  for (const n of nodes) step(n, { kind: 'join', topic: TOPIC })
  for (const n of nodes) for (const p of nodes) if (p !== n) step(n, { kind: 'peer-up', topic: TOPIC, peer: p.id })
  const published = new Map<string, number>()
  const publishUntil = rng.int(2000, 10_000)
  if (rng.chance(0.7)) partitionUntil = rng.int(500, publishUntil + 5000)
  for (let t = 0; t < publishUntil; t += rng.int(5, 100)) {
    schedule(t, () => {
      const author = nodes[rng.int(0, count - 1)]!
      const seq = (published.get(author.id) ?? 0) + 1
      published.set(author.id, seq)
      const ev = event(author.id, seq, now)
      step(author, { kind: 'event', event: ev })
      gossip(author, ev)
    })
  }
  for (let t = TICK_MS; t < publishUntil + CONVERGE_MS; t += TICK_MS) schedule(t, () => { for (const n of nodes) step(n, { kind: 'tick' }) })
  while (queue.length > 0) {
    queue.sort((x, y) => x.at - y.at || x.n - y.n)
    const next = queue.shift()!
    now = next.at
    next.run()
  }

  const total = [...published.values()].reduce((a, b) => a + b, 0)
  let canonical: string | undefined
  for (const n of nodes) {
    if (n.stored.size !== total) failures.push(`${n.id} holds ${n.stored.size} of ${total} events`)
    if (n.core.heldCount(TOPIC) !== 0) failures.push(`${n.id} still holds back ${n.core.heldCount(TOPIC)} events`)
    const lastSeq = new Map<string, number>()
    for (const id of n.order) {
      const ev = n.stored.get(id)!
      if (ev.seq !== (lastSeq.get(ev.author) ?? 0) + 1) failures.push(`${n.id} appended ${id} after seq ${lastSeq.get(ev.author) ?? 0}`)
      lastSeq.set(ev.author, ev.seq)
    }
    const order = sortCanonical([...n.stored.values()]).map(e => e.id).join(',')
    if (canonical === undefined) canonical = order
    else if (order !== canonical) failures.push(`${n.id} canonical order differs from n0`)
  }
  return failures
}

/** `npm run sim -- check events --seeds N [--seed S]`. */
export async function run (options: SimOptions): Promise<SimSummary> {
  const seeds = options.seeds ?? 100
  const failures: string[] = []
  let failed = 0
  for (let i = 0; i < seeds; i++) {
    const seed = options.seed + i
    const problems = checkSeed(seed)
    if (problems.length > 0) {
      failed++
      failures.push(`seed ${seed}: ${problems.slice(0, 3).join('; ')} — replay: npm run sim -- check events --seeds 1 --seed ${seed}`)
    }
    options.progress(i + 1, seeds)
  }
  return { scenario: 'check events', nodes: 0, seed: options.seed, ok: failed === 0, metrics: { seeds, failed }, failures }
}
