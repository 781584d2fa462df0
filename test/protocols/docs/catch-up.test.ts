// `node.docs.whenCaughtUp`: something to await after `open()` before reading a shared doc (real nodes).

import assert from 'node:assert/strict'
import type { AgentNode } from '../../../src/index.ts'
import { NotRunningError, TimeoutError } from '../../../src/index.ts'
import { startMesh, stopAll, waitFor } from '../../helpers.ts'

describe('docs.whenCaughtUp on real nodes (TCP loopback)', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  it('a late opener that awaits catch-up with one peer reads what the other wrote', async () => {
    nodes = await startMesh(2)
    const [a, b] = nodes as [AgentNode, AgentNode]
    const docA = await a.docs.open('plan')
    docA.getText('body').insert(0, 'written before b opened it')
    const docB = await b.docs.open('plan')
    const status = await b.docs.whenCaughtUp('plan', { peers: 1, timeoutMs: 60_000 })
    assert.equal(status.caughtUp, true)
    assert.deepEqual(status.peers, [a.peerId])
    assert.equal(docB.getText('body').toString(), 'written before b opened it')
  })

  it('awareness set before a peer opens the doc reaches that peer, both ways', async () => {
    nodes = await startMesh(2)
    const [a, b] = nodes as [AgentNode, AgentNode]
    const docA = await a.docs.open('presence')
    a.docs.awareness('presence').setLocalStateField('user', { name: 'alice' })
    const docB = await b.docs.open('presence')
    b.docs.awareness('presence').setLocalStateField('user', { name: 'bob' })
    await b.docs.whenCaughtUp('presence', { peers: 1, timeoutMs: 60_000 })
    await a.docs.whenCaughtUp('presence', { peers: 1, timeoutMs: 60_000 })
    // Right after the exchange, not after y-protocols' 15 s renewal (which would hide a lost frame).
    const presence = (at: AgentNode, clientID: number): string | undefined => (at.docs.awareness('presence').getStates().get(clientID) as { user?: { name: string } } | undefined)?.user?.name
    assert.equal(presence(b, docA.clientID), 'alice', "alice's presence reached b with the sync")
    await waitFor(() => presence(a, docB.clientID) === 'bob', "bob's presence at a", 30_000)
  })

  it('times out with a typed error naming the doc when the expected peers never come; closing ends a wait', async () => {
    nodes = await startMesh(1)
    const [a] = nodes as [AgentNode]
    await a.docs.open('lonely')
    await assert.rejects(a.docs.whenCaughtUp('lonely', { peers: 1, timeoutMs: 300 }), (err: unknown) => err instanceof TimeoutError && /document "lonely".*timed out after 300 ms/.test(err.message))
    const waiting = a.docs.whenCaughtUp('lonely', { peers: 1, timeoutMs: 60_000 })
    await a.docs.close('lonely')
    await assert.rejects(waiting, NotRunningError)
    // With no peer expected, an open doc is caught up at once.
    await a.docs.open('solo')
    assert.equal((await a.docs.whenCaughtUp('solo')).caughtUp, true)
  })
})
