// Deterministic check of the events core: K cores on a seeded network that drops, duplicates,
// reorders, delays and partitions gossip and sync; after healing, every node must hold every
// event exactly once, in per-author order, with nothing held back and the same canonical order.
// In most seeds a lying peer joins (SPEC events E11, E12): it answers sync with forged vectors
// (huge floors and seqs, fake authors), replays real events out of order and gossips events of
// authors it made up. No honest publish may fail and no honest event may be lost.
// In half the seeds the topic has a writer list (SPEC events E15): every node but one outsider
// restricts it (some before joining, some mid-run), possibly one of them without being a writer;
// the outsider publishes too. Restricted nodes must end with every writer event and nothing else,
// and no honest server may send them a non-writer's event.

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
/**
 * The same with a liar: its made-up authors (up to LIAR_FAKE_EVENTS_MAX events) travel by sync
 * too, in this check's tiny batches (1–8 events, against 256 on real nodes), so catch-up takes
 * more rounds.
 */
const CONVERGE_WITH_LIAR_MS = 240_000
/** The injected lying peer's id. */
const LIAR = 'liar'
/** Events of made-up authors the liar gossips at most per seed (the quota itself is covered by core tests). */
const LIAR_FAKE_EVENTS_MAX = 400

interface SimNode { id: string, core: EventsCore, stored: Map<string, Envelope>, order: string[] }
interface Pending { at: number, n: number, run: () => void }

function event (author: string, seq: number, wallMs: number): Envelope {
  return { id: `${author}#${seq}`, topic: TOPIC, type: 'x', data: seq, author, hlc: { wallMs, logical: seq }, seq, bodyBytes: new Uint8Array(), signature: new Uint8Array(), wire: new Uint8Array() }
}

/** Run one seed; returns failure messages (empty when every invariant held). */
export function checkSeed (seed: number): string[] {
  const rng = createRng(seed)
  const count = rng.int(3, 6)
  const nodes: SimNode[] = Array.from({ length: count }, (_, i) => ({ id: `n${i}`, core: new EventsCore({ self: `n${i}` }), stored: new Map(), order: [] }))
  const byId = new Map(nodes.map(n => [n.id, n]))
  let dropP = rng.float() * 0.4
  const dupP = rng.float() * 0.2
  const queue: Pending[] = []
  let now = 0
  let serial = 0
  let partitionUntil = -1
  const side = new Map(nodes.map(n => [n.id, rng.chance(0.5)]))
  const cut = (a: string, b: string): boolean => now < partitionUntil && side.get(a) !== side.get(b)
  const schedule = (delayMs: number, run: () => void): void => { queue.push({ at: now + delayMs, n: serial++, run }) }
  const failures: string[] = []
  /** node:author pairs where an honest author was evicted (allowed; it must come back complete). */
  const evictedHonest = new Set<string>()

  // Writer lists (SPEC E15), drawn from their own rng so seeds without them replay as before.
  const wrng = createRng(seed ^ 0x77726974)
  const restrictedMode = wrng.chance(0.5)
  const outsider = restrictedMode ? nodes[count - 1]! : undefined
  const reader = restrictedMode && count >= 4 && wrng.chance(0.5) ? nodes[count - 2]! : undefined
  const writerIds = restrictedMode ? nodes.filter(n => n !== outsider && n !== reader).map(n => n.id) : undefined
  const writerSet = writerIds === undefined ? undefined : new Set(writerIds)
  const restrictedNodes = new Set(nodes.filter(n => restrictedMode && n !== outsider))
  /** Restricted nodes that restrict mid-run (the others restrict before joining). */
  const restrictLater = new Set([...restrictedNodes].filter(() => wrng.chance(0.5)))

  function effects (node: SimNode, list: Effect[]): void {
    for (const e of list) {
      if (e.kind === 'persist') {
        for (const ev of e.events) {
          if (node.stored.has(ev.id)) failures.push(`${node.id} persisted ${ev.id} twice`)
          if (ev.author !== node.id && byId.has(ev.author) === false && !ev.author.startsWith('fake')) failures.push(`${node.id} persisted an event of unknown author ${ev.author}`)
          node.stored.set(ev.id, ev)
          node.order.push(ev.id)
        }
      } else if (e.kind === 'sync') {
        sync(node, e.peer, e.vector, e.writers)
      } else if (e.kind === 'evict') {
        // The store forgets the author's events; if it comes back, they are stored again.
        for (const [id, ev] of node.stored) if (ev.author === e.author) node.stored.delete(id)
        node.order = node.order.filter(id => node.stored.has(id))
        if (byId.has(e.author)) evictedHonest.add(`${node.id}:${e.author}`)
      }
    }
  }

  function step (node: SimNode, input: Input): void {
    node.core.step(input)
    effects(node, node.core.drain())
  }

  const honest = (ev: Envelope): boolean => byId.has(ev.author)
  /** Where each server's next reply to each client resumes (round-robin over authors). */
  const resumeAt = new Map<string, string | undefined>()
  /** What the liar saw by gossip, to replay out of order. */
  const liarSeen: Envelope[] = []

  function liarReply (client: SimNode): void {
    const honestAuthors = nodes.map(n => n.id)
    const vector: VectorEntry[] = [...honestAuthors, ...Array.from({ length: rng.int(0, 50) }, () => `fake${rng.int(0, 5000)}`)].map(author => {
      const seq = rng.chance(0.5) ? Number.MAX_SAFE_INTEGER : rng.int(0, 1000)
      return { author, seq, floor: rng.chance(0.5) ? seq : rng.int(0, seq) }
    })
    const events = Array.from({ length: Math.min(liarSeen.length, rng.int(0, 8)) }, () => liarSeen[rng.int(0, liarSeen.length - 1)]!)
    schedule(rng.int(1, 40), () => {
      const before = client.core.stats.accepted
      for (const ev of events) step(client, { kind: 'event', event: ev, from: LIAR })
      step(client, { kind: 'sync-reply', topic: TOPIC, peer: LIAR, vector, received: client.core.stats.accepted - before, more: rng.chance(0.5) })
    })
  }

  function sync (client: SimNode, peer: string, vector: VectorEntry[], writers?: string[]): void {
    if (peer === LIAR) { liarReply(client); return }
    const server = byId.get(peer)!
    if (cut(client.id, peer) || rng.chance(dropP)) {
      schedule(rng.int(50, 500), () => { step(client, { kind: 'sync-failed', topic: TOPIC, peer }) })
      return
    }
    schedule(rng.int(1, 40), () => {
      const ours = server.core.vector(TOPIC)
      const plan = planSyncReply(ours, vector, rng.int(1, 8), resumeAt.get(`${server.id}>${client.id}`), writers)
      if (writers !== undefined && plan.ranges.some(range => !writers.includes(range.author))) failures.push(`${server.id} planned a non-writer's events for ${client.id}, which restricted the topic`)
      resumeAt.set(`${server.id}>${client.id}`, plan.resumeAt)
      const events = plan.ranges.flatMap(r => Array.from({ length: r.toSeq - r.fromSeq + 1 }, (_, k) => server.stored.get(`${r.author}#${r.fromSeq + k}`)!))
      schedule(rng.int(1, 40), () => {
        const before = client.core.stats.accepted
        for (const ev of events) step(client, { kind: 'event', event: ev, from: peer })
        step(client, { kind: 'sync-reply', topic: TOPIC, peer, vector: ours, received: client.core.stats.accepted - before, more: plan.more })
      })
    })
  }

  function gossip (from: SimNode, ev: Envelope): void {
    if (liar && rng.chance(0.5)) liarSeen.push(ev)
    for (const to of nodes) {
      if (to === from || cut(from.id, to.id) || rng.chance(dropP)) continue
      const copies = rng.chance(dupP) ? 2 : 1
      for (let c = 0; c < copies; c++) schedule(rng.int(1, 200), () => { step(to, { kind: 'event', event: ev, from: from.id }) })
    }
  }

  const liar = rng.chance(0.8)
  for (const n of restrictedNodes) if (!restrictLater.has(n)) step(n, { kind: 'restrict', topic: TOPIC, writers: writerIds! })
  for (const n of nodes) step(n, { kind: 'join', topic: TOPIC })
  for (const n of nodes) for (const p of nodes) if (p !== n) step(n, { kind: 'peer-up', topic: TOPIC, peer: p.id })
  if (liar) for (const n of nodes) step(n, { kind: 'peer-up', topic: TOPIC, peer: LIAR })
  const published = new Map<string, number>()
  const publishUntil = rng.int(2000, 10_000)
  if (rng.chance(0.7)) partitionUntil = rng.int(500, publishUntil + 5000)
  for (const n of restrictLater) schedule(wrng.int(0, publishUntil), () => { step(n, { kind: 'restrict', topic: TOPIC, writers: writerIds! }) })
  for (let t = 0; t < publishUntil; t += rng.int(5, 100)) {
    schedule(t, () => {
      const picked = nodes[rng.int(0, count - 1)]!
      // A restricted non-writer cannot publish (NotAWriterError in the adapter); the outsider does instead.
      const author = picked === reader ? outsider! : picked
      const seq = (published.get(author.id) ?? 0) + 1
      published.set(author.id, seq)
      const ev = event(author.id, seq, now)
      const head = author.core.head(TOPIC, author.id).seq
      if (head !== seq - 1) failures.push(`${author.id} would publish seq ${head + 1}, expected ${seq}`)
      const before = author.stored.size
      step(author, { kind: 'event', event: ev })
      if (author.stored.size !== before + 1 || !author.stored.has(ev.id)) failures.push(`${author.id}'s publish of seq ${seq} was not stored`)
      gossip(author, ev)
    })
  }
  if (liar) {
    // Events of made-up authors, some in order (to take table room), some far ahead (to be held).
    const fakeEvents = rng.int(0, LIAR_FAKE_EVENTS_MAX)
    for (let i = 0; i < fakeEvents; i++) {
      schedule(rng.int(0, publishUntil), () => {
        const to = nodes[rng.int(0, count - 1)]!
        const fake = event(`fake${i}`, rng.chance(0.8) ? 1 : rng.int(2, 1_000_000), now)
        step(to, { kind: 'event', event: fake, from: LIAR })
      })
    }
  }
  for (let t = TICK_MS; t < publishUntil + (liar ? CONVERGE_WITH_LIAR_MS : CONVERGE_MS); t += TICK_MS) schedule(t, () => { for (const n of nodes) step(n, { kind: 'tick' }) })
  const drain = (): void => {
    while (queue.length > 0) {
      queue.sort((x, y) => x.at - y.at || x.n - y.n)
      const next = queue.shift()!
      now = next.at
      next.run()
    }
  }
  drain()
  if (!liar) {
    // Healed and quiet: one more round with every peer must leave every node caught up (SPEC E7).
    // A node that counted a peer holding a non-writer's events as "ahead" would stay behind (E15).
    dropP = 0
    for (const n of nodes) for (const p of nodes) if (p !== n) step(n, { kind: 'peer-up', topic: TOPIC, peer: p.id })
    drain()
    for (const n of nodes) if (!n.core.caughtUp(TOPIC)) failures.push(`${n.id} is not caught up after a quiet, loss-free round`)
  }

  const total = [...published.values()].reduce((a, b) => a + b, 0)
  const writerTotal = [...published].reduce((sum, [a, k]) => sum + (writerSet === undefined || writerSet.has(a) ? k : 0), 0)
  const isWriter = (author: string): boolean => writerSet === undefined || writerSet.has(author)
  let canonical: string | undefined
  for (const n of nodes) {
    const restricted = restrictedNodes.has(n)
    const held = [...n.stored.values()].filter(honest).length
    const expected = restricted ? writerTotal : total
    if (held !== expected) failures.push(`${n.id} holds ${held} of ${expected} honest events${restricted ? ' (restricted to writers)' : ''}`)
    if (restricted) {
      const foreign = [...n.stored.values()].filter(ev => !isWriter(ev.author))
      if (foreign.length > 0) failures.push(`${n.id} restricted the topic yet holds ${foreign.length} events of non-writers, e.g. ${foreign[0]!.id}`)
    }
    if (n.core.heldCount(TOPIC) > 0 && [...published.keys()].some(a => (!restricted || isWriter(a)) && n.core.head(TOPIC, a).seq < published.get(a)!)) failures.push(`${n.id} still holds back ${n.core.heldCount(TOPIC)} events`)
    const lastSeq = new Map<string, number>()
    for (const id of n.order) {
      const ev = n.stored.get(id)!
      const last = lastSeq.get(ev.author) ?? 0
      // Honest authors: seq 1, 2, 3…; made-up ones may have gaps nobody can serve, skipped (SPEC E8).
      if (honest(ev) ? ev.seq !== last + 1 : ev.seq <= last) failures.push(`${n.id} appended ${id} after seq ${last}`)
      lastSeq.set(ev.author, ev.seq)
    }
    const order = sortCanonical([...n.stored.values()].filter(ev => honest(ev) && isWriter(ev.author))).map(e => e.id).join(',')
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
