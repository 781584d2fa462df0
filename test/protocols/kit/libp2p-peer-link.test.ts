// The shared libp2p peer link (raft and bft) on real nodes over the memory transport: delivery with
// the authenticated sender, bounded queues, stalled and oversized frames, keep-alive tags.

import assert from 'node:assert/strict'
import { logger } from '@libp2p/logger'
import { Uint8ArrayList } from 'uint8arraylist'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { createLibp2pPeerLinks } from '../../../protocols/kit/libp2p-peer-link.ts'
import type { Libp2pPeerLinkInit } from '../../../protocols/kit/libp2p-peer-link.ts'
import type { PeerLinks } from '../../../protocols/kit/peer-link.ts'
import { parsePeerId } from '../../../protocols/kit/peer-id.ts'
import { stopAll, waitFor } from '../../helpers.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshLibp2p, defaultListen } from '../../../src/libp2p.ts'
import type { MeshLibp2p } from '../../../src/libp2p.ts'
import { openStorage } from '../../../src/storage.ts'
import { RAFT_FRAME_BYTES_MAX } from '../../../protocols/raft/adapter.ts'
import { SNAPSHOT_BYTES_MAX } from '../../../protocols/raft/messages.ts'

/** A started libp2p host as the node builds it, without the agentmesh services on top. */
async function bareHost (): Promise<{ libp2p: MeshLibp2p, stop: () => Promise<void> }> {
  const storage = await openStorage({})
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createMeshLibp2p({ privateKey, datastore: storage.datastore, transport: 'memory', listen: defaultListen('memory', `bare-${Math.random().toString(36).slice(2)}`), dhtValidators: {}, dhtSelectors: {} })
  await libp2p.start()
  return { libp2p, stop: async () => { await libp2p.stop(); await storage.close() } }
}

const PROTOCOL = '/agentmesh/test-link/1.0.0'
const FRAME_BYTES_MAX = 64 * 1024

function linksOn (node: AgentNode, init: Partial<Libp2pPeerLinkInit> = {}): PeerLinks {
  return createLibp2pPeerLinks({ libp2p: node.libp2p, log: logger(`test:link:${node.name}`) }, {
    protocol: PROTOCOL, frameBytesMax: FRAME_BYTES_MAX, queueBytesMax: 4 * FRAME_BYTES_MAX, keepAliveTag: 'agentmesh-test', ...init
  })
}

/** A varint length prefix. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return Uint8Array.from(out)
}

describe('libp2p peer link (kit)', () => {
  let a: AgentNode
  let b: AgentNode
  let linksA: PeerLinks
  let linksB: PeerLinks
  let received: Array<{ from: string, frame: Uint8Array }>

  beforeEach(async () => {
    b = await createAgentNode({ transport: 'memory', name: 'b' })
    a = await createAgentNode({ transport: 'memory', name: 'a', peers: b.addresses() })
    await waitFor(() => a.libp2p.getConnections(parsePeerId(b.peerId)).length > 0, 'a to connect to b')
    received = []
    linksA = linksOn(a)
    linksB = linksOn(b, { frameReadTimeoutMs: 300 })
    linksB.onFrame((from, frame) => { received.push({ from, frame: frame.slice() }) })
    await linksA.start()
    await linksB.start()
  })

  afterEach(async () => {
    await linksA.stop()
    await linksB.stop()
    await stopAll([a, b])
  })

  it('delivers frames in order with the sender the connection authenticated', async () => {
    for (let i = 0; i < 100; i++) linksA.send(b.peerId, Uint8Array.of(i, 1, 2, 3))
    await waitFor(() => received.length === 100, 'b to receive 100 frames')
    assert.deepEqual(received.map(r => r.frame[0]), Array.from({ length: 100 }, (_, i) => i))
    assert.ok(received.every(r => r.from === a.peerId))
    assert.equal(linksA.stats().framesSent, 100)
    assert.equal(linksB.stats().framesReceived, 100)
  })

  it('bounds the queue in bytes: frames past queueBytesMax are dropped at once, not buffered', () => {
    // The first send starts a dial; everything sent before it completes waits in the queue.
    for (let i = 0; i < 10; i++) linksA.send(b.peerId, new Uint8Array(FRAME_BYTES_MAX))
    assert.equal(linksA.stats().framesDropped, 6, '4 frames fill queueBytesMax, 6 are dropped')
  })

  it('drops a frame over frameBytesMax on the sender', () => {
    linksA.send(b.peerId, new Uint8Array(FRAME_BYTES_MAX + 1))
    assert.equal(linksA.stats().framesDropped, 1)
  })

  it('resets a stream whose declared frame never finishes, and keeps serving other streams', async () => {
    const stream = await a.libp2p.dialProtocol(parsePeerId(b.peerId), PROTOCOL)
    // Declare a frame of FRAME_BYTES_MAX bytes, send ten of them, and stall.
    stream.send(new Uint8ArrayList(varint(FRAME_BYTES_MAX), new Uint8Array(10)).subarray())
    await waitFor(() => linksB.stats().framesRejected === 1, 'b to give up on the unfinished frame')
    await waitFor(() => stream.status !== 'open', 'the stalled stream to be reset')
    linksA.send(b.peerId, Uint8Array.of(7))
    await waitFor(() => received.length === 1, 'b to still take frames from a')
  })

  it('resets a stream that declares a frame over frameBytesMax', async () => {
    const stream = await a.libp2p.dialProtocol(parsePeerId(b.peerId), PROTOCOL)
    stream.send(varint(FRAME_BYTES_MAX + 1))
    await waitFor(() => linksB.stats().framesRejected === 1, 'b to reject the oversized frame')
    await waitFor(() => stream.status !== 'open', 'the stream to be reset')
    assert.equal(received.length, 0)
  })

  it('tags kept-alive peers in the peer store, and untags them when no longer kept', async () => {
    const tag = 'keep-alive-agentmesh-test'
    linksA.keepAlive([b.peerId, a.peerId])
    await waitFor(async () => (await a.libp2p.peerStore.get(parsePeerId(b.peerId))).tags.get(tag)?.value === 100, 'b to be tagged keep-alive')
    linksA.keepAlive([])
    await waitFor(async () => !(await a.libp2p.peerStore.get(parsePeerId(b.peerId))).tags.has(tag), 'the tag to be removed')
  })
})

describe('keep-alive on bare libp2p hosts (no health, no bootstrapper to redial)', () => {
  it('gets a kept-alive peer reconnected by libp2p when its connection drops', async () => {
    const [a, b] = [await bareHost(), await bareHost()]
    const links = createLibp2pPeerLinks({ libp2p: a.libp2p, log: logger('test:link:bare') }, { protocol: PROTOCOL, frameBytesMax: FRAME_BYTES_MAX, queueBytesMax: FRAME_BYTES_MAX, keepAliveTag: 'agentmesh-test' })
    try {
      await links.start()
      await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
      links.keepAlive([b.libp2p.peerId.toString()])
      await waitFor(async () => (await a.libp2p.peerStore.get(b.libp2p.peerId)).tags.has('keep-alive-agentmesh-test'), 'b to be tagged keep-alive')
      const before = a.libp2p.getConnections(b.libp2p.peerId).map(c => c.id)
      await a.libp2p.hangUp(b.libp2p.peerId)
      await waitFor(() => a.libp2p.getConnections(b.libp2p.peerId).some(c => !before.includes(c.id)), 'libp2p to reconnect a to b')
    } finally {
      await links.stop()
      await a.stop()
      await b.stop()
    }
  })
})

describe('libp2p host configuration', () => {
  it('lets two pings overlap on one connection (the connection monitor and Kad-DHT both ping)', async () => {
    const b = await createAgentNode({ transport: 'memory', name: 'b' })
    const a = await createAgentNode({ transport: 'memory', name: 'a', peers: b.addresses() })
    try {
      await waitFor(() => a.libp2p.getConnections(parsePeerId(b.peerId)).length > 0, 'a to connect to b')
      const rtts = await Promise.all([1, 2, 3].map(async () => await a.libp2p.services.ping.ping(parsePeerId(b.peerId))))
      assert.equal(rtts.length, 3)
    } finally {
      await stopAll([a, b])
    }
  })
})

describe('peer link frames at the raft bound', function () {
  this.timeout(120_000)
  it('carries a frame of RAFT_FRAME_BYTES_MAX (a snapshot of SNAPSHOT_BYTES_MAX), past libp2p\'s 4 MiB default buffer', async () => {
    const b = await createAgentNode({ transport: 'memory', name: 'b' })
    const a = await createAgentNode({ transport: 'memory', name: 'a', peers: b.addresses() })
    const init = { protocol: PROTOCOL, frameBytesMax: RAFT_FRAME_BYTES_MAX, queueBytesMax: 2 * RAFT_FRAME_BYTES_MAX, keepAliveTag: 'agentmesh-test' }
    const linksA = createLibp2pPeerLinks({ libp2p: a.libp2p, log: logger('test:link:a') }, init)
    const linksB = createLibp2pPeerLinks({ libp2p: b.libp2p, log: logger('test:link:b') }, init)
    const received: Uint8Array[] = []
    linksB.onFrame((_from, frame) => { received.push(frame.slice()) })
    try {
      await linksA.start()
      await linksB.start()
      await waitFor(() => a.libp2p.getConnections(parsePeerId(b.peerId)).length > 0, 'a to connect to b')
      const frame = new Uint8Array(RAFT_FRAME_BYTES_MAX).map((_, i) => i % 251)
      assert.ok(SNAPSHOT_BYTES_MAX < frame.byteLength)
      linksA.send(b.peerId, frame)
      await waitFor(() => received.length === 1, 'b to receive the whole frame', 60_000)
      assert.deepEqual(received[0], frame)
      assert.equal(linksB.stats().framesRejected, 0)
    } finally {
      await linksA.stop()
      await linksB.stop()
      await stopAll([a, b])
    }
  })
})
