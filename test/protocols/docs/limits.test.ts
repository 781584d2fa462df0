// Docs sync at its size bound on real nodes (memory transport): a late joiner gets a document
// just under DOCS_SYNC_FRAME_BYTES_MAX, and one of several writers over it in parts; one writer's
// history over it is refused and counted, and a peer whose
// every exchange fails is retried with backoff, not in a loop (SPEC docs L1, S6).

import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { lpStream } from '@libp2p/utils'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { DOCS_SYNC_PROTOCOL, DOCS_SYNC_FRAME_BYTES_MAX, docTopic, encodeSyncFrame } from '../../../protocols/docs/messages.ts'
import { startStranger } from '../../stranger.ts'
import type { Stranger } from '../../stranger.ts'
import { waitFor, stopAll } from '../../helpers.ts'

const MiB = 1024 * 1024
/** libp2p's default stream read buffer: every frame above it used to reset the stream. */
const LIBP2P_DEFAULT_BUFFER_BYTES = 4 * MiB

const text = (doc: Y.Doc): string => doc.getText('t').toString()

/** Grow `doc` with 100 KiB inserts until its whole state reaches `bytes`. */
function grow (doc: Y.Doc, bytes: number): number {
  const chunk = 100 * 1024
  let i = 0
  while (Y.encodeStateAsUpdate(doc).byteLength + chunk < bytes) {
    const line = `${i++}:`.padEnd(chunk, String.fromCharCode(97 + (i % 26)))
    doc.getText('t').insert(doc.getText('t').length, line)
  }
  return Y.encodeStateAsUpdate(doc).byteLength
}

async function connected (a: AgentNode, b: AgentNode): Promise<void> {
  await waitFor(() => a.libp2p.getConnections(b.libp2p.peerId).length > 0 && b.libp2p.getConnections(a.libp2p.peerId).length > 0, 'nodes to connect')
}

/** A varint length prefix. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return Uint8Array.from(out)
}

describe('docs sync at its size bound (real nodes)', function () {
  this.timeout(120_000)
  const nodes: AgentNode[] = []
  const strangers: Stranger[] = []
  afterEach(async () => {
    await stopAll(nodes.splice(0))
    await Promise.all(strangers.splice(0).map(async s => { await s.libp2p.stop() }))
  })

  it('a late joiner syncs a document grown to just under DOCS_SYNC_FRAME_BYTES_MAX', async () => {
    const a = await createAgentNode({ transport: 'memory', name: 'holder' })
    nodes.push(a)
    const doc = await a.docs.open('big')
    const size = grow(doc, DOCS_SYNC_FRAME_BYTES_MAX - 64 * 1024)
    assert.ok(size > LIBP2P_DEFAULT_BUFFER_BYTES && size < DOCS_SYNC_FRAME_BYTES_MAX, `document of ${size} bytes`)
    const late = await createAgentNode({ transport: 'memory', name: 'late', peers: a.addresses() })
    nodes.push(late)
    await connected(a, late)
    const lateDoc = await late.docs.open('big')
    await waitFor(() => late.docs.status('big').caughtUp && text(lateDoc).length === text(doc).length, 'the late joiner to catch up', 60_000)
    assert.equal(text(lateDoc), text(doc))
    assert.equal(late.docs.stats().syncFramesOversized, 0)
    assert.equal(a.docs.stats().syncFramesOversized, 0)
  })

  it('a document of several writers over the bound reaches a late joiner in parts, one writer per frame', async () => {
    const a = await createAgentNode({ transport: 'memory', name: 'holder' })
    nodes.push(a)
    const doc = await a.docs.open('parts')
    // Three writers of ~2.5 MiB each: 7.5 MiB in all, over one frame; each writer's part fits.
    for (let w = 0; w < 3; w++) {
      const writer = new Y.Doc()
      grow(writer, 2.5 * MiB)
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(writer))
    }
    const size = Y.encodeStateAsUpdate(doc).byteLength
    assert.ok(size > DOCS_SYNC_FRAME_BYTES_MAX, `document of ${size} bytes`)
    const late = await createAgentNode({ transport: 'memory', name: 'late', peers: a.addresses() })
    nodes.push(late)
    await connected(a, late)
    const lateDoc = await late.docs.open('parts')
    await waitFor(() => late.docs.status('parts').caughtUp && text(lateDoc).length === text(doc).length, 'the late joiner to catch up', 60_000)
    assert.equal(text(lateDoc), text(doc))
    assert.equal(a.docs.stats().syncFramesOversized, 0)
    assert.ok(a.docs.stats().syncBytesSent > DOCS_SYNC_FRAME_BYTES_MAX, 'more than one frame\'s worth was sent')
  })

  it('a document over the bound is refused before sending, and counted; the asker is not caught up', async () => {
    const a = await createAgentNode({ transport: 'memory', name: 'holder' })
    nodes.push(a)
    const doc = await a.docs.open('huge')
    const size = grow(doc, DOCS_SYNC_FRAME_BYTES_MAX + 256 * 1024)
    assert.ok(size > DOCS_SYNC_FRAME_BYTES_MAX)
    const late = await createAgentNode({ transport: 'memory', name: 'late', peers: a.addresses() })
    nodes.push(late)
    await connected(a, late)
    await late.docs.open('huge')
    await waitFor(() => a.docs.stats().syncFramesOversized >= 1 && late.docs.stats().syncsFailed >= 1, 'the holder to refuse its step 2 and the asker to fail')
    assert.equal(a.docs.stats().syncBytesSent < DOCS_SYNC_FRAME_BYTES_MAX, true, 'the oversized step 2 was never written')
    assert.equal(late.docs.status('huge').caughtUp, false)
    assert.equal(a.running && late.running, true)
  })

  it('a peer declaring a sync frame over the bound is refused, counted, and the node keeps syncing', async () => {
    const a = await createAgentNode({ transport: 'memory', name: 'a' })
    nodes.push(a)
    const doc = await a.docs.open('target')
    doc.getText('t').insert(0, 'intact')
    const stranger = await startStranger({ transport: 'memory', listen: [] })
    strangers.push(stranger)
    await stranger.libp2p.dial(a.libp2p.getMultiaddrs()[0]!)
    const stream = await stranger.libp2p.dialProtocol(a.libp2p.peerId, DOCS_SYNC_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: DOCS_SYNC_FRAME_BYTES_MAX })
    await lp.write(encodeSyncFrame({ doc: 'target', body: { kind: 'step1', stateVector: Uint8Array.of(0) } }))
    await lp.read() // a's step 2
    // A step 2 one byte over the bound: the length prefix and the first 64 KiB of it.
    stream.send(varint(DOCS_SYNC_FRAME_BYTES_MAX + 1))
    stream.send(new Uint8Array(64 * 1024))
    await waitFor(() => a.docs.stats().syncFramesOversized === 1, 'a to refuse the oversized frame')
    await waitFor(() => stream.status !== 'open', 'the stream to be reset')
    assert.ok(a.docs.stats().framesRejected >= 1)
    assert.equal(text(doc), 'intact')
    const b = await createAgentNode({ transport: 'memory', name: 'b', peers: a.addresses() })
    nodes.push(b)
    const docB = await b.docs.open('target')
    await waitFor(() => text(docB) === 'intact', 'an honest sync after the attack')
  })

  it('refuses sync streams past a peer\'s budget, and serves other peers meanwhile', async () => {
    const a = await createAgentNode({ transport: 'memory', name: 'a' })
    nodes.push(a)
    const doc = await a.docs.open('target')
    doc.getText('t').insert(0, 'intact')
    const stranger = await startStranger({ transport: 'memory', listen: [] })
    strangers.push(stranger)
    await stranger.libp2p.dial(a.libp2p.getMultiaddrs()[0]!)
    const step1 = encodeSyncFrame({ doc: 'target', body: { kind: 'step1', stateVector: Uint8Array.of(0) } })
    let refused = 0
    const ask = async (): Promise<void> => {
      const stream = await stranger.libp2p.dialProtocol(a.libp2p.peerId, DOCS_SYNC_PROTOCOL)
      try {
        const lp = lpStream(stream, { maxDataLength: DOCS_SYNC_FRAME_BYTES_MAX })
        await lp.write(step1)
        await lp.read() // a's step 2 (the whole document) or a reset past the budget
      } catch {
        refused++ // reset past the budget
      } finally {
        stream.abort(new Error('done'))
      }
    }
    // Batches under the 32 streams per connection, until a refuses (or far past the burst of 256).
    for (let asked = 0; a.docs.stats().syncsRateLimited === 0 && asked < 3_000; asked += 30) {
      await Promise.all(Array.from({ length: 30 }, ask))
    }
    assert.ok(a.docs.stats().syncsRateLimited >= 1, 'a refused streams past the budget')
    assert.ok(refused >= 1, 'the stranger saw its streams reset')
    const b = await createAgentNode({ transport: 'memory', name: 'b', peers: a.addresses() })
    nodes.push(b)
    const docB = await b.docs.open('target')
    await waitFor(() => text(docB) === 'intact', 'an honest peer to sync meanwhile')
  })

  it('backs off a peer whose every exchange fails instead of retrying on each trigger', async () => {
    const a = await createAgentNode({ transport: 'memory', name: 'a' })
    nodes.push(a)
    await a.docs.open('shared')
    const stranger = await startStranger({ transport: 'memory', listen: [] })
    strangers.push(stranger)
    let streams = 0
    // The stranger takes the doc's topic but resets every sync stream: each exchange fails.
    await stranger.libp2p.handle(DOCS_SYNC_PROTOCOL, (stream) => { streams++; stream.abort(new Error('refusing to sync')) })
    await stranger.libp2p.dial(a.libp2p.getMultiaddrs()[0]!)
    const pubsub = stranger.libp2p.services.pubsub
    const strangerId = stranger.libp2p.peerId.toString()
    const triggers = 20
    for (let i = 0; i < triggers; i++) {
      // Each (re)subscription makes a schedule a sync with the stranger (SPEC docs S4).
      const before = a.docs.stats().syncsStarted + a.docs.stats().syncsDeferred
      pubsub.subscribe(docTopic('shared'))
      await waitFor(() => a.docs.stats().syncsStarted + a.docs.stats().syncsDeferred > before, `trigger ${i} to start or defer a sync`)
      pubsub.unsubscribe(docTopic('shared'))
      await waitFor(() => !a.docs.status('shared').peers.includes(strangerId), `a to forget the stranger (${i})`)
    }
    const { syncsStarted, syncsDeferred } = a.docs.stats()
    // Without backoff every trigger is an exchange (20); with it, ~log2 of the time taken.
    assert.ok(syncsStarted <= triggers / 2, `${syncsStarted} exchanges started for ${triggers} triggers`)
    assert.ok(syncsDeferred >= triggers / 2, `${syncsDeferred} exchanges deferred`)
    assert.ok(streams <= syncsStarted)
  })
})
