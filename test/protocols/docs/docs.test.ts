// Real nodes (memory transport) sharing Yjs documents: live sync, late joiners, restarts,
// partitions, presence, exact counters, and hostile sync frames.

import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { peerIdFromString } from '@libp2p/peer-id'
import { createAgentNode, PNCounter } from '../../../src/index.ts'
import type { AgentNode, AgentNodeOptions } from '../../../src/index.ts'
import { DOCS_SYNC_PROTOCOL, DOCS_GOSSIP_FRAME_BYTES_MAX, docTopic, encodeSyncFrame } from '../../../protocols/docs/messages.ts'
import { waitFor, tempDir, stopAll } from '../../helpers.ts'

const text = (doc: Y.Doc): string => doc.getText('t').toString()

async function memoryNode (options: AgentNodeOptions = {}): Promise<AgentNode> {
  return createAgentNode({ transport: 'memory', ...options })
}

async function connected (a: AgentNode, b: AgentNode): Promise<void> {
  await waitFor(() => a.libp2p.getConnections(b.libp2p.peerId).length > 0 && b.libp2p.getConnections(a.libp2p.peerId).length > 0, 'nodes to connect')
}

describe('node.docs on real nodes', function () {
  this.timeout(60_000)
  const nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes.splice(0)) })

  it('three nodes open a doc, edit concurrently and converge; status reports caught up', async () => {
    const a = await memoryNode({ name: 'a' })
    const b = await memoryNode({ name: 'b', peers: a.addresses() })
    const c = await memoryNode({ name: 'c', peers: [...a.addresses(), ...b.addresses()] })
    nodes.push(a, b, c)
    await connected(a, b); await connected(a, c); await connected(b, c)
    const docs = await Promise.all([a, b, c].map(n => n.docs.open('shared')))
    await waitFor(() => [a, b, c].every(n => n.docs.status('shared').caughtUp && n.docs.status('shared').peers.length === 2), 'every node to see two caught-up peers')
    docs.forEach((doc, i) => { doc.getText('t').insert(0, `from-${i};`) })
    docs[0]!.getMap('m').set('k', 'v')
    await waitFor(() => docs.every(d => text(d) === text(docs[0]!) && text(d).length === 3 * 'from-0;'.length && d.getMap('m').get('k') === 'v'), 'all three docs to converge')
    for (const i of [0, 1, 2]) assert.ok(text(docs[0]!).includes(`from-${i};`))
  })

  it('a late joiner gets the full document by sync step 1/2', async () => {
    const a = await memoryNode()
    nodes.push(a)
    const doc = await a.docs.open('paper')
    for (let i = 0; i < 200; i++) doc.getText('t').insert(doc.getText('t').length, `line ${i}\n`)
    const late = await memoryNode({ peers: a.addresses() })
    nodes.push(late)
    await connected(a, late)
    const lateDoc = await late.docs.open('paper')
    await waitFor(() => late.docs.status('paper').caughtUp && text(lateDoc) === text(doc), 'the late joiner to catch up')
    assert.deepEqual(late.docs.status('paper').peers, [a.peerId])
    assert.ok(late.docs.stats().syncsCompleted >= 1)
  })

  it('restores a document from the data dir before any peer answers, and merges offline edits on reconnect', async () => {
    const dirA = await tempDir()
    const dirB = await tempDir()
    try {
      const a = await memoryNode({ dataDir: dirA.path, listen: ['/memory/docs-restore-a'] })
      let b = await memoryNode({ dataDir: dirB.path, peers: a.addresses() })
      nodes.push(a, b)
      await connected(a, b)
      const docA = await a.docs.open('journal')
      let docB = await b.docs.open('journal')
      docA.getText('t').insert(0, 'shared ')
      await waitFor(() => text(docB) === 'shared ', 'b to receive the first edit')
      await b.stop()
      // Both edit while b is down: a online, b (restarted alone) offline.
      docA.getText('t').insert(7, 'while-b-down ')
      b = await memoryNode({ dataDir: dirB.path })
      nodes.push(b)
      docB = await b.docs.open('journal')
      assert.equal(text(docB), 'shared ', 'restored from the database with no peer at all')
      docB.getText('t').insert(0, 'offline ')
      await b.stop()
      b = await memoryNode({ dataDir: dirB.path, peers: a.addresses() })
      nodes.push(b)
      docB = await b.docs.open('journal')
      assert.ok(text(docB).includes('offline '), 'offline edit survived the restart')
      await waitFor(() => text(docB) === text(docA) && text(docA).includes('offline ') && text(docA).includes('while-b-down '), 'offline edits to merge both ways')
    } finally {
      await stopAll(nodes.splice(0))
      await dirA.remove(); await dirB.remove()
    }
  })

  it('compacts the update log into a snapshot and restores from it', async () => {
    const dir = await tempDir()
    try {
      let a = await memoryNode({ dataDir: dir.path })
      nodes.push(a)
      const doc = await a.docs.open('long')
      for (let i = 0; i < 1100; i++) doc.getText('t').insert(i, 'x')
      await waitFor(() => a.docs.stats().compactions >= 1, 'a compaction past DOCS_COMPACT_UPDATES_MAX')
      await a.stop()
      a = await memoryNode({ dataDir: dir.path })
      nodes.push(a)
      assert.equal(text(await a.docs.open('long')), 'x'.repeat(1100))
    } finally {
      await stopAll(nodes.splice(0))
      await dir.remove()
    }
  })

  it('converges after a partition heals', async () => {
    let cut = false
    const gater = { denyDialPeer: async () => cut, denyInboundEncryptedConnection: async () => cut }
    const a = await memoryNode({ connectionGater: gater })
    const b = await memoryNode({ peers: a.addresses(), connectionGater: gater })
    nodes.push(a, b)
    await connected(a, b)
    const [docA, docB] = [await a.docs.open('plan'), await b.docs.open('plan')]
    docA.getText('t').insert(0, 'base ')
    await waitFor(() => text(docB) === 'base ', 'the base edit to arrive')
    cut = true
    await a.libp2p.hangUp(b.libp2p.peerId)
    await waitFor(() => a.libp2p.getConnections().length === 0 && b.libp2p.getConnections().length === 0, 'the partition')
    assert.deepEqual(a.docs.status('plan').peers, [])
    docA.getText('t').insert(5, 'A-side ')
    docB.getText('t').insert(0, 'B-side ')
    docB.getMap('m').set('decision', 'b')
    assert.notEqual(text(docA), text(docB))
    cut = false
    await a.libp2p.dial(peerIdFromString(b.peerId))
    await waitFor(() => text(docA) === text(docB) && text(docA).includes('A-side') && text(docA).includes('B-side') && docA.getMap('m').get('decision') === 'b', 'the docs to converge after healing')
    await waitFor(() => a.docs.status('plan').caughtUp && b.docs.status('plan').caughtUp, 'both to report caught up')
  })

  it('delivers an update too big for gossip through a sync exchange', async () => {
    const a = await memoryNode()
    const b = await memoryNode({ peers: a.addresses() })
    nodes.push(a, b)
    await connected(a, b)
    const [docA, docB] = [await a.docs.open('big'), await b.docs.open('big')]
    await waitFor(() => a.docs.status('big').caughtUp && a.docs.status('big').peers.length === 1, 'a to sync with b')
    const published = a.docs.stats().gossipFramesPublished
    const big = 'z'.repeat(DOCS_GOSSIP_FRAME_BYTES_MAX + 1000)
    docA.getText('t').insert(0, big)
    await waitFor(() => text(docB) === big, 'b to receive the big update')
    assert.equal(a.docs.stats().gossipFramesPublished, published, 'the big update was not gossiped')
  })

  it('shares presence through awareness', async () => {
    const a = await memoryNode()
    const b = await memoryNode({ peers: a.addresses() })
    nodes.push(a, b)
    await connected(a, b)
    await a.docs.open('room'); await b.docs.open('room')
    await waitFor(() => a.docs.status('room').peers.length === 1 && b.docs.status('room').peers.length === 1, 'both to see each other')
    a.docs.awareness('room').setLocalStateField('user', { name: 'alice' })
    const clientA = a.docs.awareness('room').clientID
    await waitFor(() => (b.docs.awareness('room').getStates().get(clientA) as { user?: { name: string } } | undefined)?.user?.name === 'alice', 'b to see alice')
    await a.docs.close('room')
    await waitFor(() => !b.docs.awareness('room').getStates().has(clientA), 'alice to leave on close')
  })

  it('concurrent increments from three nodes sum exactly', async () => {
    const a = await memoryNode()
    const b = await memoryNode({ peers: a.addresses() })
    const c = await memoryNode({ peers: a.addresses() })
    nodes.push(a, b, c)
    await connected(a, b); await connected(a, c)
    const counters = await Promise.all([a, b, c].map(async n => new PNCounter(await n.docs.open('counters'), { name: 'hits', agent: n.peerId })))
    await Promise.all(counters.map(async (counter, i) => {
      for (let k = 0; k < 50; k++) {
        counter.increment(i + 1)
        if (k % 10 === 0) await new Promise(resolve => setImmediate(resolve))
      }
      counter.decrement(1)
    }))
    await waitFor(() => counters.every(c => c.value() === 50 * (1 + 2 + 3) - 3), 'every counter to read 297')
  })

  it('rejects malformed and oversized sync frames without crashing, and keeps syncing', async () => {
    const a = await memoryNode()
    const evil = await memoryNode({ peers: a.addresses() })
    nodes.push(a, evil)
    await connected(a, evil)
    const doc = await a.docs.open('target')
    doc.getText('t').insert(0, 'intact')
    // 1. garbage inside a well-formed length prefix
    const garbage = await evil.libp2p.dialProtocol(a.libp2p.peerId, DOCS_SYNC_PROTOCOL)
    garbage.send(new Uint8Array([5, 0xff, 0xff, 0xff, 0xff, 0xff]))
    // 2. a length prefix announcing 64 MiB (over DOCS_SYNC_FRAME_BYTES_MAX)
    const oversized = await evil.libp2p.dialProtocol(a.libp2p.peerId, DOCS_SYNC_PROTOCOL)
    oversized.send(new Uint8Array([0x80, 0x80, 0x80, 0x20, 1, 2, 3]))
    // 3. a well-formed step 2 whose update is not a Yjs update
    const bogus = await evil.libp2p.dialProtocol(a.libp2p.peerId, DOCS_SYNC_PROTOCOL)
    const frame = encodeSyncFrame({ doc: 'target', body: { kind: 'step2', update: new Uint8Array([200, 1, 2, 3, 4, 5]) } })
    bogus.send(new Uint8Array([frame.byteLength, ...frame]))
    // 4. garbage published on the document's topic
    await evil.libp2p.services.pubsub.publish(docTopic('target'), new Uint8Array([0, 2, 50, 1, 2]))
    await evil.libp2p.services.pubsub.publish(docTopic('target'), new Uint8Array([7, 7, 7]))
    await waitFor(() => a.docs.stats().framesRejected >= 4 && a.docs.stats().syncsFailed >= 3, 'the bad streams and gossip frames to be rejected')
    assert.equal(text(doc), 'intact')
    assert.equal(a.running, true)
    // The node still syncs with an honest peer.
    const honestDoc = await evil.docs.open('target')
    await waitFor(() => text(honestDoc) === 'intact', 'an honest sync after the attacks')
  })
})
