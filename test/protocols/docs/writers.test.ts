// Writer lists on documents (SPEC docs W1-W5), on real nodes (memory transport): two writers'
// edits converge on every node that restricted the document; an outsider's edits (from a node
// that opened it without the list, or with a list of its own) land on none of them, live or in
// sync; a listed reader's own edits stay local.

import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { DOCS_WRITERS_MAX } from '../../../protocols/docs/adapter.ts'
import { stopAll, tempDir, waitFor } from '../../helpers.ts'

const text = (doc: Y.Doc): string => doc.getText('t').toString()

describe('docs writer lists (real nodes)', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  async function start (name: string, peers: AgentNode[] = []): Promise<AgentNode> {
    const node = await createAgentNode({ transport: 'memory', name, peers: peers.flatMap(p => p.addresses()) })
    nodes.push(node)
    return node
  }

  it('writers converge; outsiders and a reader never get an edit applied on a restricted node, live or in sync', async () => {
    const w1 = await start('w1')
    const w2 = await start('w2', [w1])
    const reader = await start('reader', [w1])
    const open = await start('open', [w1])
    const claimer = await start('claimer', [w1])
    const writers = [w1.peerId, w2.peerId]
    const [d1, d2, dr] = await Promise.all([w1, w2, reader].map(async n => n.docs.open('plan', { writers })))
    const dOpen = await open.docs.open('plan')
    const dClaim = await claimer.docs.open('plan', { writers: [claimer.peerId] })
    await waitFor(() => [w1, w2, reader].every(n => n.docs.status('plan').peers.length >= 4), 'every restricted node to see the others on the topic', 60_000)

    d1!.getText('t').insert(0, 'alpha ')
    d2!.getText('t').insert(0, 'beta ')
    await waitFor(() => [d1!, d2!, dr!].every(d => text(d).includes('alpha') && text(d).includes('beta')), 'both writers\' edits on every restricted node')
    // Outsiders: one without a list, one that lists itself. The reader is listed as no writer.
    dOpen.getText('t').insert(0, 'EVIL-OPEN ')
    dClaim.getText('t').insert(0, 'EVIL-CLAIM ')
    dr!.getText('t').insert(0, 'READER ')
    // A writer's edit after them shows the topic still carries what counts.
    d1!.getText('t').insert(0, 'gamma ')
    await waitFor(() => [d1!, d2!, dr!].every(d => text(d).includes('gamma')), 'the later writer edit everywhere')
    await waitFor(() => w1.docs.stats().unauthorized >= 2 && w2.docs.stats().unauthorized >= 2, 'the writers to refuse both outsiders')
    for (const d of [d1!, d2!]) assert.doesNotMatch(text(d), /EVIL|READER/)
    assert.doesNotMatch(text(dr!), /EVIL/)
    assert.match(text(dr!), /READER/, 'a reader keeps its own edit locally')
    assert.ok(reader.docs.stats().localUnsigned >= 1)
    // The open node takes the writers' signed edits like any update.
    await waitFor(() => text(dOpen).includes('gamma'), 'the open node to get the writers\' edits')

    // A late, restricted joiner that first meets only the open node: its unsigned step 2 is not applied.
    const late = await start('late', [open])
    const dLate = await late.docs.open('plan', { writers })
    await waitFor(() => late.docs.stats().unauthorized >= 1, 'the late joiner to refuse the open node\'s unsigned sync')
    assert.doesNotMatch(text(dLate), /EVIL/)
    // Then it meets a writer: the signed updates arrive through sync.
    await late.libp2p.dial(w1.libp2p.getMultiaddrs()[0]!)
    await waitFor(() => text(dLate).includes('alpha') && text(dLate).includes('beta') && text(dLate).includes('gamma'), 'the late joiner to sync the writers\' edits', 60_000)
    assert.doesNotMatch(text(dLate), /EVIL|READER/)
  })

  it('a writer restarted from its data dir still serves its signed updates to a late joiner', async () => {
    const dir = await tempDir('agentmesh-doc-writers-')
    try {
      const w = await createAgentNode({ transport: 'memory', name: 'w', dataDir: dir.path })
      nodes.push(w)
      const doc = await w.docs.open('kept', { writers: [w.peerId] })
      doc.getText('t').insert(0, 'signed before the restart')
      await w.docs.close('kept') // flushes the signed log
      await w.stop()
      nodes = []
      const again = await createAgentNode({ transport: 'memory', name: 'w', dataDir: dir.path })
      nodes.push(again)
      assert.equal(text(await again.docs.open('kept', { writers: [again.peerId] })), 'signed before the restart')
      const late = await start('late', [again])
      const dLate = await late.docs.open('kept', { writers: [again.peerId] })
      await waitFor(() => text(dLate) === 'signed before the restart', 'the late joiner to get the signed update from the restarted writer', 60_000)
      assert.equal(late.docs.stats().unauthorized, 0)
    } finally {
      await stopAll(nodes)
      nodes = []
      await dir.remove()
    }
  })

  it('refuses a bad list, and the same document with another list', async () => {
    const a = await start('a')
    await assert.rejects(a.docs.open('x', { writers: [] }), /writers/)
    await assert.rejects(a.docs.open('x', { writers: ['not-a-peer-id'] }), /not a peer id/)
    await assert.rejects(a.docs.open('x', { writers: Array.from({ length: DOCS_WRITERS_MAX + 1 }, () => a.peerId) }), /DOCS_WRITERS_MAX/)
    await a.docs.open('y', { writers: [a.peerId] })
    await assert.rejects(a.docs.open('y'), /already open with another writer list|already open/)
    await a.docs.open('y', { writers: [a.peerId] })
  })
})
