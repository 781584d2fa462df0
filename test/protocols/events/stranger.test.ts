// A stranger — a libp2p node with its own key, member of nothing — attacks an events topic on a
// real 4-node mesh (memory transport): forged anti-entropy replies, a flood of valid events, and
// far-future clocks. Each test shows the mesh still holds (SPEC events "Threat model").

import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { PrivateKey } from '@libp2p/interface'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, AgentNodeOptions } from '../../../src/index.ts'
import { createMeshLibp2p } from '../../../src/libp2p.ts'
import type { MeshLibp2p } from '../../../src/libp2p.ts'
import { openStorage } from '../../../src/storage.ts'
import type { Storage } from '../../../src/storage.ts'
import {
  EVENTS_SYNC_PROTOCOL, EVENTS_GOSSIP_TOPIC_PREFIX, SYNC_FRAME_BYTES_MAX, decodeSyncReply, decodeSyncRequest,
  encodeBody, encodeEnvelope, encodeSyncFrame, signingBytes
} from '../../../protocols/events/messages.ts'
import type { VectorEntry } from '../../../protocols/events/messages.ts'
import { HLC_LOGICAL_MAX, HLC_DRIFT_MAX_MS, hlcCompare } from '../../../protocols/kit/hlc.ts'
import type { Hlc } from '../../../protocols/kit/hlc.ts'
import { TOPIC_AUTHORS_MAX } from '../../../protocols/events/core.ts'
import { waitFor, stopAll, tempDir } from '../../helpers.ts'

const HUGE = Number.MAX_SAFE_INTEGER

/** A bare libp2p host with the mesh's stack and its own key: no agentmesh services at all. */
interface Stranger { libp2p: MeshLibp2p, key: PrivateKey, id: string, storage: Storage, stop: () => Promise<void> }

async function startStranger (peers: AgentNode[]): Promise<Stranger> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const storage = await openStorage({})
  const libp2p = await createMeshLibp2p({ privateKey: key, datastore: storage.datastore, transport: 'memory', listen: [`/memory/stranger-${id}`], dhtValidators: {}, dhtSelectors: {} })
  await libp2p.start()
  for (const p of peers) await libp2p.dial(p.libp2p.getMultiaddrs()[0]!)
  return { libp2p, key, id, storage, stop: async () => { await libp2p.stop(); await storage.close() } }
}

/** A valid event signed by `key`: what any stranger can make. */
async function signedEvent (key: PrivateKey, fields: { topic: string, seq: number, hlc: Hlc, data?: unknown }): Promise<Uint8Array> {
  const author = peerIdFromPrivateKey(key).toString()
  const body = encodeBody({ topic: fields.topic, type: 'x', data: (fields.data ?? null) as never, author, hlc: fields.hlc, seq: fields.seq })
  return encodeEnvelope(body, await key.sign(signingBytes(body)))
}

/** Ask `node` for its sync reply on `topic`, as any peer may: its vector is what it would tell everyone. */
async function askVector (stranger: Stranger, node: AgentNode, topic: string): Promise<VectorEntry[]> {
  const stream = await stranger.libp2p.dialProtocol(node.libp2p.peerId, EVENTS_SYNC_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: SYNC_FRAME_BYTES_MAX })
  await lp.write(encodeSyncFrame({ kind: 'sync', topic, vector: [] }))
  const reply = decodeSyncReply((await lp.read()).subarray())
  await stream.close()
  return reply.vector
}

async function startMesh (count: number, options: AgentNodeOptions = {}): Promise<AgentNode[]> {
  const first = await createAgentNode({ transport: 'memory', eventsSyncIntervalMs: 500, ...options })
  const nodes = [first]
  for (let i = 1; i < count; i++) nodes.push(await createAgentNode({ transport: 'memory', eventsSyncIntervalMs: 500, peers: first.addresses(), ...options }))
  return nodes
}

async function meshReady (nodes: AgentNode[], topic: string, peers = nodes.length - 1): Promise<void> {
  await waitFor(() => nodes.every(n => n.events.status(topic).peers >= peers), `every node to see ${peers} peers on ${topic}`)
}

describe('events against a stranger (real nodes, memory transport)', function () {
  this.timeout(120_000)

  it('one forged anti-entropy reply changes nothing: every author still publishes, new authors are stored everywhere, across restarts', async () => {
    const dir = await tempDir()
    const nodes = await startMesh(3)
    nodes.push(await createAgentNode({ transport: 'memory', eventsSyncIntervalMs: 500, dataDir: dir.path, peers: nodes[0]!.addresses() }))
    const topic = 'poisoned'
    let stranger: Stranger | undefined
    let late: AgentNode | undefined
    try {
      await Promise.all(nodes.map(async n => { await n.events.join(topic) }))
      await meshReady(nodes, topic)
      for (const n of nodes) await n.events.publish(topic, { type: 'hello', data: n.peerId })
      await waitFor(() => nodes.every(n => n.events.status(topic).count === 4), 'every node to hold the 4 first events')

      // The stranger answers every sync request with a forged vector: every honest author at
      // seq = floor = 2^53 - 1, and 4092 made-up authors, so the table would be full.
      stranger = await startStranger(nodes)
      let served = 0
      const forged: VectorEntry[] = [
        ...nodes.map(n => ({ author: n.peerId, seq: HUGE, floor: HUGE })),
        ...Array.from({ length: TOPIC_AUTHORS_MAX - 4 }, (_, i) => ({ author: `12D3KooWfake${String(i).padStart(40, '0')}`, seq: HUGE, floor: HUGE }))
      ]
      await stranger.libp2p.handle(EVENTS_SYNC_PROTOCOL, async (stream) => {
        const lp = lpStream(stream, { maxDataLength: SYNC_FRAME_BYTES_MAX })
        const request = decodeSyncRequest((await lp.read()).subarray())
        await lp.write(encodeSyncFrame({ kind: 'sync-reply', topic: request.topic, events: [], vector: forged, more: true }))
        await stream.close()
        served++
      })
      stranger.libp2p.services.pubsub.subscribe(EVENTS_GOSSIP_TOPIC_PREFIX + topic)
      await waitFor(() => served >= nodes.length * 2, 'the stranger to answer sync rounds of every node')

      for (const n of nodes) {
        const vector = await askVector(stranger, n, topic)
        assert.equal(vector.length, 4, `${n.peerId} lists only the 4 real authors`)
        assert.ok(vector.every(v => v.seq === 1 && v.floor === 0), 'no seq or floor was taken from the forged vector')
      }
      for (const n of nodes) {
        const e = await n.events.publish(topic, { type: 'after', data: 1 })
        assert.equal(e.seq, 2, 'an honest author publishes its next seq')
      }
      late = await createAgentNode({ transport: 'memory', eventsSyncIntervalMs: 500, peers: nodes[0]!.addresses() })
      await late.events.join(topic)
      const fromLate = await late.events.publish(topic, { type: 'new-author', data: 1 })
      await waitFor(() => [...nodes, late!].every(n => n.events.status(topic).count === 9), 'every node to store all 9 events, the new author\'s included')
      for (const n of nodes) assert.ok((await n.events.history(topic)).some(e => e.id === fromLate.id))

      // Restart the node with a data dir: nothing forged was persisted either.
      const restarted = nodes[3]!
      await restarted.stop()
      nodes[3] = await createAgentNode({ transport: 'memory', eventsSyncIntervalMs: 500, dataDir: dir.path, peers: nodes[0]!.addresses() })
      const again = await nodes[3].events.publish(topic, { type: 'after-restart', data: 1 })
      assert.equal(again.seq, 3)
      const vector = await askVector(stranger, nodes[3], topic)
      assert.ok(vector.length <= 5 && vector.every(v => v.seq < 10 && v.floor === 0), 'the restarted node\'s vector is still only real authors')
    } finally {
      await stopAll([...nodes, ...(late !== undefined ? [late] : [])])
      await stranger?.stop()
      await dir.remove()
    }
  })

  it('a flood of valid events from a stranger erases no honest history on any node', async () => {
    const countMax = 300
    const nodes = await startMesh(4, { eventsRetention: { countMax } })
    const topic = 'flooded'
    let stranger: Stranger | undefined
    try {
      await Promise.all(nodes.map(async n => { await n.events.join(topic) }))
      await meshReady(nodes, topic)
      const honest: string[] = []
      for (let i = 0; i < 20; i++) for (const n of nodes) honest.push((await n.events.publish(topic, { type: 'work', data: i })).id)
      await waitFor(() => nodes.every(n => n.events.status(topic).count === honest.length), 'every node to hold the 80 honest events')

      stranger = await startStranger(nodes)
      const gossipTopic = EVENTS_GOSSIP_TOPIC_PREFIX + topic
      stranger.libp2p.services.pubsub.subscribe(gossipTopic)
      await waitFor(() => nodes.every(n => n.events.status(topic).peers >= 4), 'the stranger to join the topic mesh')
      // Signed ahead, then sent as fast as the stranger's GossipSub takes them.
      const start = Date.now()
      const flood = 2000
      const wires = await Promise.all(Array.from({ length: flood }, async (_, i) => await signedEvent(stranger!.key, { topic, seq: i + 1, hlc: { wallMs: start + i, logical: 0 } })))
      for (let i = 0; i < flood; i += 500) {
        await Promise.all(wires.slice(i, i + 500).map(async wire => { await stranger!.libp2p.services.pubsub.publish(gossipTopic, wire).catch(() => undefined) }))
      }
      // Whether the receivers took the flood at its rate or dropped part of it (the rate limit,
      // timing-dependent on a loaded machine), retention fills up to the cap with the flooder's events.
      await waitFor(() => nodes.every(n => n.events.status(topic).count === countMax), 'every topic to reach its cap', 90_000)
      const after = await nodes[1]!.events.publish(topic, { type: 'work', data: 'after' })
      honest.push(after.id)
      await waitFor(async () => (await Promise.all(nodes.map(async n => (await n.events.history(topic)).some(e => e.id === after.id)))).every(Boolean), 'a post-flood event to reach every node', 60_000)
      for (const n of nodes) {
        const stored = await n.events.history(topic)
        const ids = new Set(stored.map(e => e.id))
        assert.deepEqual(honest.filter(id => !ids.has(id)), [], 'every honest event is still stored')
        assert.ok(stored.length <= countMax, 'retention still holds the topic to its cap')
        assert.equal(stored.filter(e => e.author === stranger!.id).length, countMax - honest.length, 'the flooder holds only what the others leave')
      }
    } finally {
      await stopAll(nodes)
      await stranger?.stop()
    }
  })

  it('GossipSub graylists a peer whose events the validator rejects, then drops its valid events too', async () => {
    const nodes = await startMesh(4)
    const topic = 'scored'
    let stranger: Stranger | undefined
    try {
      await Promise.all(nodes.map(async n => { await n.events.join(topic) }))
      await meshReady(nodes, topic)
      stranger = await startStranger(nodes)
      const gossipTopic = EVENTS_GOSSIP_TOPIC_PREFIX + topic
      stranger.libp2p.services.pubsub.subscribe(gossipTopic)
      await waitFor(() => nodes.every(n => n.events.status(topic).peers >= 4), 'the stranger to join the topic mesh')
      // Ten events from beyond the drift bound: each is rejected, and GossipSub scores the sender.
      for (let seq = 1; seq <= 10; seq++) {
        await stranger.libp2p.services.pubsub.publish(gossipTopic, await signedEvent(stranger.key, { topic, seq, hlc: { wallMs: Date.now() + HLC_DRIFT_MAX_MS + 60_000, logical: seq } }))
      }
      const scoreOf = (n: AgentNode): number => (n.libp2p.services.pubsub as unknown as { getScore: (p: string) => number }).getScore(stranger!.id)
      await waitFor(() => nodes.every(n => scoreOf(n) < -80), 'every node to score the stranger below the graylist threshold (-80)', 60_000)
      await stranger.libp2p.services.pubsub.publish(gossipTopic, await signedEvent(stranger.key, { topic, seq: 1, hlc: { wallMs: Date.now(), logical: 0 } }))
      const marker = await nodes[0]!.events.publish(topic, { type: 'marker', data: 1 })
      await waitFor(async () => (await Promise.all(nodes.map(async n => (await n.events.history(topic)).some(e => e.id === marker.id)))).every(Boolean), 'an honest event published after it to reach every node')
      for (const n of nodes) {
        assert.ok(n.events.stats().tooFarAhead >= 1)
        assert.ok((await n.events.history(topic)).every(e => e.author !== stranger!.id), 'nothing from a graylisted peer was taken')
      }
    } finally {
      await stopAll(nodes)
      await stranger?.stop()
    }
  })

  it('an event stamped 55 s ahead with the logical counter at its maximum does not stop anyone publishing; 61 s ahead is rejected', async () => {
    const nodes = await startMesh(4)
    const topic = 'clock'
    let stranger: Stranger | undefined
    try {
      await Promise.all(nodes.map(async n => { await n.events.join(topic) }))
      await meshReady(nodes, topic)
      stranger = await startStranger(nodes)
      const gossipTopic = EVENTS_GOSSIP_TOPIC_PREFIX + topic
      stranger.libp2p.services.pubsub.subscribe(gossipTopic)
      await waitFor(() => nodes.every(n => n.events.status(topic).peers >= 4), 'the stranger to join the topic mesh')
      const poisoned = { wallMs: Date.now() + 55_000, logical: HLC_LOGICAL_MAX - 1 }
      await stranger.libp2p.services.pubsub.publish(gossipTopic, await signedEvent(stranger.key, { topic, seq: 1, hlc: poisoned }))
      await waitFor(() => nodes.every(n => n.events.status(topic).count === 1), 'every node to accept the (valid) poisoned event')
      for (const n of nodes) {
        const first = await n.events.publish(topic, { type: 'still-alive', data: 1 })
        const second = await n.events.publish(topic, { type: 'still-alive', data: 2 })
        assert.ok(hlcCompare(first.hlc, poisoned) > 0 && hlcCompare(second.hlc, first.hlc) > 0, 'stamps stay strictly after what the node saw')
        assert.ok(first.hlc.wallMs - Date.now() <= HLC_DRIFT_MAX_MS, 'and within the drift bound')
      }
      const tooFar = await signedEvent(stranger.key, { topic, seq: 2, hlc: { wallMs: Date.now() + HLC_DRIFT_MAX_MS + 1000, logical: 0 } })
      await stranger.libp2p.services.pubsub.publish(gossipTopic, tooFar)
      await waitFor(() => nodes.some(n => n.events.stats().tooFarAhead >= 1), 'the far-future event to be rejected')
      await waitFor(() => nodes.every(n => n.events.status(topic).count === 1 + 2 * nodes.length), 'every node to hold every honest event')
      for (const n of nodes) assert.ok((await n.events.history(topic)).every(e => e.seq !== 2 || e.author !== stranger!.id))
    } finally {
      await stopAll(nodes)
      await stranger?.stop()
    }
  })
})
