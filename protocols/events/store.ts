// Persistence of the events log in the node's LevelDB sublevel (SPEC events, "Storage"):
// per-topic meta, events by (author, seq), the local log order, the canonical order, and
// an id index for dedup and resume across restarts.

import { encodeCbor, decodeCbor } from '../kit/cbor.ts'
import { SYNC } from '../kit/store.ts'
import type { KvStore } from '../kit/store.ts'
import { hlcValidate, HLC_ZERO } from '../kit/hlc.ts'
import { assert } from '../kit/assert.ts'
import { AUTHOR_CHARS_MAX, checkWriters, decodeEnvelope, orderKeyOf, seqKey, SYNC_FRAME_BYTES_MAX, TOPIC_WRITERS_MAX } from './messages.ts'
import type { Envelope, VectorEntry } from './messages.ts'
import type { AuthorState } from './core.ts'

/** Meta record bound: a topic's meta holds one entry per author (TOPIC_AUTHORS_MAX). */
const META_BYTES_MAX = 4 * 1024 * 1024
/** Index records are small tuples. */
const INDEX_BYTES_MAX = 1024

/** Per-topic counters and vector, rewritten with every append batch. */
export interface TopicMeta {
  /** Local log position of the newest stored event (1-based, never reused). */
  localSeq: number
  count: number
  bytes: number
  authors: Map<string, AuthorState>
  /** Bytes of envelopes stored per author (per-author retention, SPEC E8). */
  authorBytes: Map<string, number>
  /** The peer that introduced each author ('' for this node), so per-peer quotas survive restarts (SPEC E11). */
  introducers: Map<string, string>
}

/** Where an event sits in this node's store. */
export interface EventLocation { topic: string, author: string, seq: number, localSeq: number, orderKey: string }

/** One stored event with its positions. */
export interface StoredEvent { envelope: Envelope, localSeq: number, orderKey: string }

const SEP = '\u0000'
const HIGH = '\uffff'

function metaKey (topic: string): string { return `m!${topic}` }
function eventKey (topic: string, author: string, seq: number): string { return `e!${topic}${SEP}${author}${SEP}${seqKey(seq)}` }
function logKey (topic: string, localSeq: number): string { return `l!${topic}${SEP}${seqKey(localSeq)}` }
function orderKey (topic: string, key: string): string { return `o!${topic}${SEP}${key}` }
function idKey (id: string): string { return `i!${id}` }
function writersKey (topic: string): string { return `w!${topic}` }
/** A writer list record: TOPIC_WRITERS_MAX peer ids of AUTHOR_CHARS_MAX characters, CBOR-framed. */
const WRITERS_BYTES_MAX = TOPIC_WRITERS_MAX * (AUTHOR_CHARS_MAX + 4) + 16

function encodeMeta (m: TopicMeta): Uint8Array {
  return encodeCbor({ localSeq: m.localSeq, count: m.count, bytes: m.bytes, authors: [...m.authors].map(([a, s]) => [a, s.seq, s.hlc.wallMs, s.hlc.logical, s.floor, m.authorBytes.get(a) ?? 0, m.introducers.get(a) ?? null]) })
}

function decodeMeta (bytes: Uint8Array): TopicMeta {
  const v = decodeCbor(bytes, { bytesMax: META_BYTES_MAX, what: 'events topic meta' }) as { localSeq: number, count: number, bytes: number, authors: Array<[string, number, number, number, number, number?, (string | null)?]> }
  const authors = new Map<string, AuthorState>()
  const authorBytes = new Map<string, number>()
  const introducers = new Map<string, string>()
  for (const [a, seq, wallMs, logical, floor, stored, introducer] of v.authors) {
    authors.set(a, { seq, hlc: hlcValidate({ wallMs, logical }, 'events topic meta'), floor })
    authorBytes.set(a, stored ?? 0) // metas written before per-author bytes count as 0 until compacted
    if (typeof introducer === 'string') introducers.set(a, introducer)
  }
  return { localSeq: v.localSeq, count: v.count, bytes: v.bytes, authors, authorBytes, introducers }
}

/** The events store over one sublevel. */
export class EventsStore {
  readonly #db: KvStore
  readonly #meta = new Map<string, TopicMeta>()
  /** Topics whose membership is on disk (E1). */
  readonly #joined = new Set<string>()

  constructor (db: KvStore) { this.#db = db }

  /** Load every topic's meta (the topics this node stores). */
  async load (): Promise<Map<string, TopicMeta>> {
    for await (const [key, value] of this.#db.iterator({ gte: 'm!', lt: `m!${HIGH}` })) {
      this.#meta.set(key.slice(2), decodeMeta(value))
      this.#joined.add(key.slice(2))
    }
    return new Map(this.#meta)
  }

  /** Writer lists of restricted topics (SPEC E15), as `restrict` stored them. */
  async loadWriters (): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>()
    for await (const [key, value] of this.#db.iterator({ gte: 'w!', lt: `w!${HIGH}` })) {
      out.set(key.slice(2), checkWriters(decodeCbor(value, { bytesMax: WRITERS_BYTES_MAX, what: 'events writer list' }), 'events writer list'))
    }
    return out
  }

  /** Record a topic's writer list (fsynced: a restart must not reopen the topic, SPEC E15). */
  async setWriters (topic: string, writers: readonly string[]): Promise<void> {
    await this.#db.put(writersKey(topic), encodeCbor([...writers]), SYNC)
  }

  /** Meta of a topic without creating it (read-only views such as `status`). */
  peekMeta (topic: string): TopicMeta {
    return this.#meta.get(topic) ?? { localSeq: 0, count: 0, bytes: 0, authors: new Map(), authorBytes: new Map(), introducers: new Map() }
  }

  /** Meta of a topic (empty when new). */
  meta (topic: string): TopicMeta {
    let m = this.#meta.get(topic)
    if (m === undefined) { m = { localSeq: 0, count: 0, bytes: 0, authors: new Map(), authorBytes: new Map(), introducers: new Map() }; this.#meta.set(topic, m) }
    return m
  }

  /** Record that this node stores `topic` (durable, so it resumes after a restart). */
  async join (topic: string): Promise<void> {
    if (this.#joined.has(topic)) return
    await this.#db.put(metaKey(topic), encodeMeta(this.meta(topic)), SYNC)
    this.#joined.add(topic)
  }

  /**
   * Append accepted events in order, in one atomic batch with the updated meta.
   * `durable` fsyncs (SPEC E9: own publishes). Returns the stored events with positions.
   */
  async append (topic: string, events: Envelope[], options: { durable: boolean, introducers?: ReadonlyMap<string, string> }): Promise<StoredEvent[]> {
    const m = this.meta(topic)
    const ops: Array<{ type: 'put', key: string, value: Uint8Array }> = []
    const out: StoredEvent[] = []
    for (const e of events) {
      const localSeq = ++m.localSeq
      const ok = orderKeyOf(e)
      ops.push({ type: 'put', key: eventKey(topic, e.author, e.seq), value: e.wire })
      ops.push({ type: 'put', key: logKey(topic, localSeq), value: encodeCbor([e.author, e.seq]) })
      ops.push({ type: 'put', key: orderKey(topic, ok), value: encodeCbor([e.author, e.seq, localSeq]) })
      ops.push({ type: 'put', key: idKey(e.id), value: encodeCbor([topic, e.author, e.seq, localSeq, ok]) })
      const a = m.authors.get(e.author) ?? { seq: 0, hlc: e.hlc, floor: 0 }
      assert(e.seq === a.seq + 1 || e.seq > a.floor, 'appends follow the core\'s contiguous order')
      m.authors.set(e.author, { seq: e.seq, hlc: e.hlc, floor: a.floor })
      m.count++
      m.bytes += e.wire.byteLength
      m.authorBytes.set(e.author, (m.authorBytes.get(e.author) ?? 0) + e.wire.byteLength)
      const introducer = options.introducers?.get(e.author)
      if (introducer !== undefined && !m.introducers.has(e.author)) m.introducers.set(e.author, introducer)
      out.push({ envelope: e, localSeq, orderKey: ok })
    }
    ops.push({ type: 'put', key: metaKey(topic), value: encodeMeta(m) })
    await this.#db.batch(ops, options.durable ? SYNC : {})
    return out
  }

  /** Record floors learnt from a peer's compaction (SPEC E8); mirrors the core's jump over them. */
  async setFloors (topic: string, vector: VectorEntry[]): Promise<void> {
    const m = this.meta(topic)
    let changed = false
    for (const v of vector) {
      const a = m.authors.get(v.author)
      if (a !== undefined && v.floor <= a.floor) continue
      if (a === undefined && v.floor === 0) continue
      const next = a ?? { seq: 0, hlc: HLC_ZERO, floor: 0 }
      next.floor = v.floor
      next.seq = Math.max(next.seq, v.floor)
      m.authors.set(v.author, next)
      changed = true
    }
    if (changed) await this.#db.put(metaKey(topic), encodeMeta(m))
  }

  /** Where event `id` is stored, if it is. */
  async locate (id: string): Promise<EventLocation | undefined> {
    const v = await this.#db.get(idKey(id))
    if (v === undefined) return undefined
    const [topic, author, seq, localSeq, ok] = decodeCbor(v, { bytesMax: INDEX_BYTES_MAX, what: 'events id index' }) as [string, string, number, number, string]
    return { topic, author, seq, localSeq, orderKey: ok }
  }

  async #event (topic: string, author: string, seq: number): Promise<Envelope | undefined> {
    const wire = await this.#db.get(eventKey(topic, author, seq))
    return wire === undefined ? undefined : decodeEnvelope(wire)
  }

  /** Events in local log order after `afterLocalSeq`, at most `limit`. */
  async readLog (topic: string, afterLocalSeq: number, limit: number): Promise<StoredEvent[]> {
    const out: StoredEvent[] = []
    for await (const [key, value] of this.#db.iterator({ gt: logKey(topic, afterLocalSeq), lt: `l!${topic}${SEP}${HIGH}`, limit })) {
      const [author, seq] = decodeCbor(value, { bytesMax: INDEX_BYTES_MAX, what: 'events log index' }) as [string, number]
      const envelope = await this.#event(topic, author, seq)
      assert(envelope !== undefined, 'a log entry points at a stored event')
      out.push({ envelope, localSeq: Number(key.slice(key.lastIndexOf(SEP) + 1)), orderKey: orderKeyOf(envelope) })
    }
    return out
  }

  /** Events in canonical order after `afterOrderKey` (exclusive), at most `limit`. */
  async readCanonical (topic: string, afterOrderKey: string | undefined, limit: number): Promise<StoredEvent[]> {
    const out: StoredEvent[] = []
    const range = afterOrderKey === undefined ? { gte: `o!${topic}${SEP}` } : { gt: orderKey(topic, afterOrderKey) }
    for await (const [key, value] of this.#db.iterator({ ...range, lt: `o!${topic}${SEP}${HIGH}`, limit })) {
      const [author, seq, localSeq] = decodeCbor(value, { bytesMax: INDEX_BYTES_MAX, what: 'events order index' }) as [string, number, number]
      const envelope = await this.#event(topic, author, seq)
      // Reads run outside the serial queue: retention may remove an event between the index
      // entry and the event itself. Such an event is gone, as if the read had come a moment later.
      if (envelope === undefined) continue
      out.push({ envelope, localSeq, orderKey: key.slice(`o!${topic}${SEP}`.length) })
    }
    return out
  }

  /** Wire bytes of an author's events fromSeq..toSeq, stopping at `bytesMax` in total (sync replies). */
  async readRange (topic: string, range: { author: string, fromSeq: number, toSeq: number }, bytesMax = SYNC_FRAME_BYTES_MAX / 2): Promise<{ wires: Uint8Array[], complete: boolean }> {
    const wires: Uint8Array[] = []
    let bytes = 0
    for await (const value of this.#db.values({ gte: eventKey(topic, range.author, range.fromSeq), lte: eventKey(topic, range.author, range.toSeq) })) {
      if (bytes + value.byteLength > bytesMax && wires.length > 0) return { wires, complete: false }
      wires.push(value)
      bytes += value.byteLength
    }
    return { wires, complete: true }
  }

  /**
   * Apply retention (SPEC E8). Count and bytes are fair per author: while the topic is over a
   * cap, the oldest event of the author holding the most (events, or bytes) goes, so one author
   * can never evict the others' history. Age removes the oldest events in canonical order.
   * Per author this always removes a prefix. Returns the new floors and the local positions removed.
   */
  async compact (topic: string, limits: { countMax: number, bytesMax: number, minWallMs: number }): Promise<{ floors: Map<string, number>, removedLocalSeqs: number[] }> {
    const m = this.meta(topic)
    const floors = new Map<string, number>()
    const removed: Array<{ author: string, seq: number }> = []
    const stored = new Map([...m.authors].map(([author, a]) => [author, { count: a.seq - a.floor, bytes: m.authorBytes.get(author) ?? 0, floor: a.floor }]))
    let { count, bytes } = m
    while (count > limits.countMax || bytes > limits.bytesMax) {
      const byBytes = count <= limits.countMax
      let largest: string | undefined
      let most = 0
      for (const [author, s] of stored) {
        const size = byBytes ? s.bytes : s.count
        if (s.count > 0 && size > most) { most = size; largest = author }
      }
      if (largest === undefined) break
      const s = stored.get(largest)!
      const wire = await this.#db.get(eventKey(topic, largest, s.floor + 1))
      assert(wire !== undefined, 'an author\'s stored events are the range (floor, head]')
      s.floor++
      s.count--
      s.bytes = Math.max(0, s.bytes - wire.byteLength)
      count--
      bytes -= wire.byteLength
      removed.push({ author: largest, seq: s.floor })
    }
    for await (const [key, value] of this.#db.iterator({ gte: `o!${topic}${SEP}`, lt: `o!${topic}${SEP}${HIGH}` })) {
      const wallMs = Number(key.slice(`o!${topic}${SEP}`.length).split('.')[0])
      if (wallMs >= limits.minWallMs) break
      const [author, seq] = decodeCbor(value, { bytesMax: INDEX_BYTES_MAX, what: 'events order index' }) as [string, number, number]
      const s = stored.get(author)!
      if (seq <= s.floor) continue // already removed by the fair pass
      const wire = await this.#db.get(eventKey(topic, author, seq))
      assert(wire !== undefined && seq === s.floor + 1, 'age removes each author\'s oldest events first')
      s.floor = seq
      s.count--
      s.bytes = Math.max(0, s.bytes - wire.byteLength)
      count--
      bytes -= wire.byteLength
      removed.push({ author, seq })
    }
    if (removed.length === 0) return { floors, removedLocalSeqs: [] }
    const { ops, removedLocalSeqs } = await this.#removeOps(topic, removed)
    m.count = count
    m.bytes = bytes
    for (const { author, seq } of removed) floors.set(author, seq)
    for (const [author, floor] of floors) {
      m.authors.get(author)!.floor = floor
      m.authorBytes.set(author, stored.get(author)!.bytes)
    }
    await this.#db.batch([...ops, { type: 'put', key: metaKey(topic), value: encodeMeta(m) }])
    return { floors, removedLocalSeqs }
  }

  /**
   * Forget an author entirely (SPEC E11: evicted to make room): its stored events and its entry.
   * Returns the local positions removed.
   */
  async evictAuthor (topic: string, author: string): Promise<number[]> {
    const m = this.meta(topic)
    const a = m.authors.get(author)
    if (a === undefined) return []
    const removed = Array.from({ length: a.seq - a.floor }, (_, i) => ({ author, seq: a.floor + 1 + i }))
    const { ops, removedLocalSeqs, bytes } = await this.#removeOps(topic, removed)
    m.count -= removed.length
    m.bytes -= bytes
    m.authors.delete(author)
    m.authorBytes.delete(author)
    m.introducers.delete(author)
    await this.#db.batch([...ops, { type: 'put', key: metaKey(topic), value: encodeMeta(m) }])
    return removedLocalSeqs
  }

  /** Deletions of stored events and all their index entries. */
  async #removeOps (topic: string, events: Array<{ author: string, seq: number }>): Promise<{ ops: Array<{ type: 'del', key: string }>, removedLocalSeqs: number[], bytes: number }> {
    const ops: Array<{ type: 'del', key: string }> = []
    const removedLocalSeqs: number[] = []
    let bytes = 0
    for (const { author, seq } of events) {
      const wire = await this.#db.get(eventKey(topic, author, seq))
      assert(wire !== undefined, 'only stored events are removed')
      const e = decodeEnvelope(wire)
      const location = await this.locate(e.id)
      assert(location !== undefined, 'a stored event is in the id index')
      ops.push({ type: 'del', key: eventKey(topic, author, seq) }, { type: 'del', key: orderKey(topic, location.orderKey) }, { type: 'del', key: logKey(topic, location.localSeq) }, { type: 'del', key: idKey(e.id) })
      removedLocalSeqs.push(location.localSeq)
      bytes += wire.byteLength
    }
    return { ops, removedLocalSeqs, bytes }
  }
}
