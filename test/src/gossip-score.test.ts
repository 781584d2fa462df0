// GossipSub scoring on the docs and health topics, on real nodes over loopback TCP: a stranger
// that publishes frames the topic validator rejects is graylisted by every node, and the honest
// traffic on the topic goes on.

import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { DOCS_TOPIC_PREFIX } from '../../protocols/docs/messages.ts'
import { HEALTH_TOPIC } from '../../protocols/health/messages.ts'
import type { AgentNode } from '../../src/index.ts'
import { startMesh, stopAll, waitFor } from '../helpers.ts'
import { startStranger } from '../stranger.ts'
import type { Stranger } from '../stranger.ts'

/** GossipSub's graylist threshold (its default): below it a peer's messages are dropped unread. */
const GRAYLIST_THRESHOLD = -80

function scoreOf (node: AgentNode, peer: string): number {
  return (node.libp2p.services.pubsub as unknown as { getScore: (p: string) => number }).getScore(peer)
}

describe('GossipSub scoring on docs and health topics (real nodes, TCP)', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  let stranger: Stranger | undefined

  afterEach(async () => {
    await stopAll(nodes)
    await stranger?.libp2p.stop()
    nodes = []
    stranger = undefined
  })

  async function strangerOn (topic: string): Promise<string> {
    stranger = await startStranger()
    for (const n of nodes) await stranger.libp2p.dial(n.libp2p.getMultiaddrs()[0]!)
    stranger.libp2p.services.pubsub.subscribe(topic)
    const id = stranger.libp2p.peerId.toString()
    await waitFor(() => nodes.every(n => n.libp2p.services.pubsub.getSubscribers(topic).some(p => p.toString() === id)), `every node to see the stranger on ${topic}`)
    // And the stranger to see every node there: it publishes only to subscribers it knows of.
    const on = stranger.libp2p.services.pubsub
    await waitFor(() => nodes.every(n => on.getSubscribers(topic).some(p => p.toString() === n.peerId)), `the stranger to see every node on ${topic}`)
    return id
  }

  it('docs: garbage frames on a document topic graylist their sender; edits still converge', async () => {
    nodes = await startMesh(3)
    const docs = await Promise.all(nodes.map(async n => n.docs.open('scored')))
    const id = await strangerOn(`${DOCS_TOPIC_PREFIX}scored`)
    for (let i = 0; i < 10; i++) await stranger!.libp2p.services.pubsub.publish(`${DOCS_TOPIC_PREFIX}scored`, new Uint8Array([9, 9, 9, i]))
    await waitFor(() => nodes.every(n => scoreOf(n, id) < GRAYLIST_THRESHOLD), `every node to score the stranger below ${GRAYLIST_THRESHOLD}`, 60_000)
    for (const n of nodes) assert.ok(n.docs.stats().framesRejected >= 1, 'the rejected frames are counted')
    docs[0]!.getText('t').insert(0, 'still editing')
    await waitFor(() => docs.every((d: Y.Doc) => d.getText('t').toString() === 'still editing'), 'the honest edit to reach every node')
  })

  it('health: garbage announces graylist their sender; the members stay alive to each other', async () => {
    nodes = await startMesh(3)
    const id = await strangerOn(HEALTH_TOPIC)
    for (let i = 0; i < 10; i++) await stranger!.libp2p.services.pubsub.publish(HEALTH_TOPIC, new Uint8Array([0xff, i]))
    await waitFor(() => nodes.every(n => scoreOf(n, id) < GRAYLIST_THRESHOLD), `every node to score the stranger below ${GRAYLIST_THRESHOLD}`, 60_000)
    for (const n of nodes) assert.ok(n.health.stats().rejected >= 1, 'the rejected announces are counted')
    await waitFor(() => nodes.every(n => n.peers().filter(p => nodes.some(m => m.peerId === p.peerId) && p.status === 'alive').length === 2), 'every member alive to the others')
  })
})
