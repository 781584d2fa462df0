// `npm run sim -- crdt --nodes N [--edits E] [--batch K] [--trace file | --synthetic] --json`:
// replays a sequential editing trace split across N editors on real nodes (memory transport)
// and reports convergence time, bytes sent, the ratio to one local Y.Doc, and late-joiner sync time.

import * as Y from 'yjs'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import { docTopic } from '../../protocols/docs/messages.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'
import { positiveIntegerFlag } from '../flags.ts'
import { latencySummary } from '../stats.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { loadTrace, syntheticTrace } from '../crdt-trace.ts'
import type { Edit, Trace } from '../crdt-trace.ts'
import { waitUntil } from '../harness/delivery.ts'

/** Edits per batch by default: one transaction, hence one gossiped update, per 1,000 edits. */
export const CRDT_BATCH_EDITS_DEFAULT = 1000
/** How long any single wait may take before the run fails (a stuck replica is a failure, not a hang). */
const STEP_TIMEOUT_MS = 60_000
const DOC = 'paper'


function applyEdits (text: Y.Text, edits: readonly Edit[]): void {
  for (const [position, deleteCount, insert] of edits) {
    if (deleteCount > 0) text.delete(position, deleteCount)
    if (insert.length > 0) text.insert(position, insert)
  }
}

/**
 * A check that `doc` holds every insert and every delete of `update`. The state vector is
 * compared first (cheap); the full snapshot comparison, needed because deletes do not
 * advance a state vector, runs only once the inserts are in.
 */
function containsCheck (update: Uint8Array): (doc: Y.Doc) => boolean {
  const needed = Y.decodeStateVector(Y.encodeStateVectorFromUpdate(update))
  return (doc) => {
    for (const [client, clock] of needed) if (Y.getState(doc.store, client) < clock) return false
    return Y.snapshotContainsUpdate(Y.snapshot(doc), update)
  }
}

/** Resolve when `doc` has integrated `update`. */
async function waitForUpdate (doc: Y.Doc, update: Uint8Array, what: string): Promise<void> {
  const contains = containsCheck(update)
  if (contains(doc)) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { doc.off('afterTransaction', check); reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`)) }, STEP_TIMEOUT_MS)
    function check (): void {
      if (!contains(doc)) return
      clearTimeout(timer)
      doc.off('afterTransaction', check)
      resolve()
    }
    // 'afterTransaction', not 'update': an 'update' listener makes Yjs re-encode every applied update.
    doc.on('afterTransaction', check)
  })
}

/** Replay the trace into one local Y.Doc: the baseline for time and bytes. */
function localBaseline (trace: Trace, batch: number, seed: number): { ms: number, snapshotBytes: number, updateBytes: number, text: string } {
  const doc = new Y.Doc()
  // A seeded 32-bit client id like the random ones Yjs draws: its varint length shows in every struct.
  doc.clientID = createRng(seed).int(0, 0xffff_ffff)
  let updateBytes = 0
  doc.on('update', (u: Uint8Array) => { updateBytes += u.byteLength })
  const text = doc.getText('t')
  const started = performance.now()
  if (trace.startContent.length > 0) text.insert(0, trace.startContent)
  for (let i = 0; i < trace.edits.length; i += batch) doc.transact(() => { applyEdits(text, trace.edits.slice(i, i + batch)) })
  const ms = performance.now() - started
  return { ms, snapshotBytes: Y.encodeStateAsUpdate(doc).byteLength, updateBytes, text: text.toString() }
}

async function startMesh (count: number): Promise<AgentNode[]> {
  const nodes: AgentNode[] = []
  for (let i = 0; i < count; i++) {
    nodes.push(await createAgentNode({ transport: 'memory', name: `editor-${i}`, peers: nodes.flatMap(n => n.addresses()) }))
  }
  return nodes
}

/** Pick the trace: --synthetic, --trace <file>, or the shared automerge-paper trace; cut to --edits. */
function chooseTrace (options: SimOptions): Trace {
  const full = options.extra.synthetic === true
    ? syntheticTrace(positiveIntegerFlag(options, 'edits', 260_000), options.seed)
    : loadTrace(typeof options.extra.trace === 'string' ? options.extra.trace : undefined)
  const editsMax = positiveIntegerFlag(options, 'edits', full.edits.length)
  return editsMax < full.edits.length ? { ...full, edits: full.edits.slice(0, editsMax), endContent: undefined } : full
}

/** Start a node connected to `via` only, open the doc, and time until it holds the whole document. */
async function lateJoin (nodes: AgentNode[], via: AgentNode, expected: string, failures: string[]): Promise<{ ms: number, bytes: number }> {
  const late = await createAgentNode({ transport: 'memory', name: `late-joiner-${nodes.length}`, peers: via.addresses() })
  nodes.push(late)
  await waitUntil(() => late.libp2p.services.pubsub.getSubscribers(docTopic(DOC)).length > 0, { timeoutMs: STEP_TIMEOUT_MS, pollMs: 1, what: 'the late joiner to learn who has the doc' })
  const started = performance.now()
  const doc = await late.docs.open(DOC)
  const text = doc.getText('t')
  await waitUntil(() => late.docs.status(DOC).caughtUp && text.length === expected.length, { timeoutMs: STEP_TIMEOUT_MS, pollMs: 1, what: 'the late joiner to catch up' }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: status ${JSON.stringify(late.docs.status(DOC))}, ${text.length} of ${expected.length} chars`)
  })
  const ms = performance.now() - started
  if (text.toString() !== expected) failures.push(`late joiner ${late.name}'s document differs from the trace`)
  return { ms, bytes: late.docs.stats().syncBytesReceived }
}

function firstDifference (a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

/** The crdt benchmark (issue 4, "Performance"). */
export async function run (options: SimOptions): Promise<SimSummary> {
  const n = options.nodes ?? 4
  if (n < 1) throw new Error('--nodes must be at least 1')
  const batch = positiveIntegerFlag(options, 'batch', CRDT_BATCH_EDITS_DEFAULT)
  const lateJoiners = positiveIntegerFlag(options, 'late-joiners', 3)
  const trace = chooseTrace(options)
  options.log(`crdt: ${trace.edits.length} edits of ${trace.name} across ${n} editors, ${batch} edits per batch`)

  const baseline = localBaseline(trace, batch, options.seed)
  const expected = trace.endContent ?? baseline.text
  if (baseline.text !== expected) throw new Error('The local replay does not reproduce the trace\'s endContent: the trace is not sequential')

  const nodes = await startMesh(n)
  const failures: string[] = []
  try {
    const docs = await Promise.all(nodes.map(async node => node.docs.open(DOC)))
    await waitUntil(() => nodes.every(node => node.docs.status(DOC).peers.length === n - 1 && node.docs.status(DOC).caughtUp), { timeoutMs: STEP_TIMEOUT_MS, pollMs: 1, what: 'every editor to see and sync with every other' })
    const texts = docs.map(doc => doc.getText('t'))

    // Editors take turns: chunk c is applied by editor c mod N as one transaction, once that
    // editor has the previous chunk, so every position in the trace is valid where it is applied.
    const started = performance.now()
    if (trace.startContent.length > 0) texts[0]!.insert(0, trace.startContent)
    const replayOrigin = { crdt: 'replay' }
    let previous: Uint8Array | undefined
    const capture = (update: Uint8Array, origin: unknown): void => { if (origin === replayOrigin) previous = update }
    const chunks = Math.ceil(trace.edits.length / batch)
    for (let c = 0; c < chunks; c++) {
      const editor = c % n
      const doc = docs[editor]!
      if (previous !== undefined) await waitForUpdate(doc, previous, `editor ${editor} to receive chunk ${c - 1}`)
      doc.on('update', capture)
      doc.transact(() => { applyEdits(texts[editor]!, trace.edits.slice(c * batch, (c + 1) * batch)) }, replayOrigin)
      doc.off('update', capture)
      options.progress(c + 1, chunks)
    }
    const last = previous
    if (last !== undefined) await Promise.all(docs.map(async (doc, i) => { await waitForUpdate(doc, last, `editor ${i} to receive the last chunk`) }))
    const convergeMs = performance.now() - started

    const finalVector = Buffer.from(Y.encodeStateVector(docs[0]!)).toString('hex')
    const identical = docs.every(doc => doc.getText('t').toString() === expected && Buffer.from(Y.encodeStateVector(doc)).toString('hex') === finalVector)
    docs.forEach((doc, i) => {
      const text = doc.getText('t').toString()
      if (text !== expected) failures.push(`editor ${i}'s text differs from the trace (${text.length} vs ${expected.length} chars, first difference at ${firstDifference(text, expected)})`)
      else if (Buffer.from(Y.encodeStateVector(doc)).toString('hex') !== finalVector) failures.push(`editor ${i}'s state vector differs from editor 0's`)
    })

    const totals = nodes.map(node => node.docs.stats())
    const gossipBytes = totals.reduce((s, t) => s + t.gossipBytesPublished, 0)
    const syncBytes = totals.reduce((s, t) => s + t.syncBytesSent, 0)
    const messagesPublished = totals.reduce((s, t) => s + t.gossipFramesPublished, 0)
    const bytesDelivered = totals.reduce((s, t) => s + t.gossipBytesReceived + t.syncBytesReceived, 0)

    // Late joiners, one after another, each connect to one editor and open the finished document.
    const lateJoinMs: number[] = []
    let lateJoinBytes = 0
    for (let j = 0; j < lateJoiners; j++) {
      const result = await lateJoin(nodes, nodes[j % n]!, expected, failures)
      lateJoinMs.push(result.ms)
      lateJoinBytes = result.bytes
    }

    const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits
    const bytesSent = gossipBytes + syncBytes
    const late = latencySummary(lateJoinMs)
    return {
      scenario: 'crdt',
      nodes: n,
      seed: options.seed,
      ok: failures.length === 0,
      failures,
      metrics: {
        trace: trace.name,
        edits: trace.edits.length,
        batch_edits: batch,
        batches: chunks,
        doc_chars: expected.length,
        identical,
        converge_ms: round(convergeMs),
        local_replay_ms: round(baseline.ms),
        time_ratio: round(convergeMs / baseline.ms),
        bytes_sent: bytesSent,
        bytes_delivered: bytesDelivered,
        gossip_bytes: gossipBytes,
        sync_bytes: syncBytes,
        messages_published: messagesPublished,
        local_snapshot_bytes: baseline.snapshotBytes,
        local_update_bytes: baseline.updateBytes,
        ratio: round(bytesSent / baseline.snapshotBytes, 3),
        ratio_to_local_updates: round(bytesSent / baseline.updateBytes, 3),
        late_joiners: lateJoiners,
        late_join_p50_ms: late.p50_ms,
        late_join_max_ms: late.max_ms,
        late_join_bytes: lateJoinBytes
      }
    }
  } finally {
    await Promise.all(nodes.map(async node => { await node.stop() }))
  }
}
