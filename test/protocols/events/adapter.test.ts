import assert from 'node:assert/strict'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, AgentEvent } from '../../../src/index.ts'
import { waitFor, tempDir, stopAll } from '../../helpers.ts'

async function take (iterable: AsyncIterable<AgentEvent>, n: number): Promise<AgentEvent[]> {
  const out: AgentEvent[] = []
  if (n === 0) return out
  for await (const e of iterable) { out.push(e); if (out.length >= n) break }
  return out
}

async function meshReady (nodes: AgentNode[], topic: string): Promise<void> {
  await waitFor(() => nodes.every(n => n.events.status(topic).peers >= 1), `every node to see a peer on ${topic}`)
}

describe('events on real nodes', function () {
  this.timeout(90_000)

  it('publishes, delivers to subscribers on other nodes, and replays from the start', async () => {
    const b = await createAgentNode({ transport: 'memory' })
    const a = await createAgentNode({ transport: 'memory', peers: b.addresses() })
    try {
      const live = take(b.events.subscribe('orders', { from: 'start' }), 3)
      await a.events.join('orders')
      await meshReady([a, b], 'orders')
      const published = []
      for (let i = 0; i < 3; i++) published.push(await a.events.publish('orders', { type: 'placed', data: { n: i } }))
      const got = await live
      assert.deepEqual(got.map(e => e.id), published.map(e => e.id))
      assert.deepEqual(got.map(e => e.seq), [1, 2, 3])
      assert.equal(got[0]!.author, a.peerId)
      const history = await b.events.history('orders')
      assert.deepEqual(history.map(e => e.id), published.map(e => e.id))
      assert.deepEqual((await b.events.history('orders', { after: published[0]!.id, limit: 1 })).map(e => e.id), [published[1]!.id])
      await waitFor(() => b.events.status('orders').caughtUp, 'b to be caught up')
      assert.equal(b.events.status('orders').count, 3)
      assert.equal(b.events.status('orders').lastEventId, published[2]!.id)
    } finally {
      await stopAll([a, b])
    }
  })

  it('delivers exactly once across a restart when resuming from the last seen id', async () => {
    const dir = await tempDir()
    let node = await createAgentNode({ dataDir: dir.path, transport: 'memory' })
    try {
      for (let i = 0; i < 5; i++) await node.events.publish('audit', { type: 't', data: i })
      const firstThree = await take(node.events.subscribe('audit', { from: 'start' }), 3)
      await node.stop()
      node = await createAgentNode({ dataDir: dir.path, transport: 'memory' })
      const stored = await node.events.history('audit')
      assert.equal(stored.length, 5)
      const rest = node.events.subscribe('audit', { from: firstThree[2]!.id })
      const more = take(rest, 3)
      await node.events.publish('audit', { type: 't', data: 5 })
      const resumed = await more
      assert.deepEqual(resumed.map(e => e.data), [3, 4, 5])
      assert.deepEqual(resumed.map(e => e.seq), [4, 5, 6], 'seq continues after restart')
      assert.equal(node.events.status('audit').count, 6)
    } finally {
      await node.stop()
      await dir.remove()
    }
  })

  it('keeps storing a topic it subscribed to before a restart, without subscribing again', async () => {
    const dir = await tempDir()
    const a = await createAgentNode({ transport: 'memory' })
    let b = await createAgentNode({ transport: 'memory', dataDir: dir.path, peers: a.addresses() })
    try {
      const controller = new AbortController()
      const it = b.events.subscribe('news', { signal: controller.signal })[Symbol.asyncIterator]()
      const first = it.next()
      await a.events.publish('news', { type: 'x', data: 1 })
      assert.equal((await first).value?.data, 1)
      controller.abort()
      await b.stop()
      b = await createAgentNode({ transport: 'memory', dataDir: dir.path, peers: a.addresses() })
      await a.events.publish('news', { type: 'x', data: 2 })
      await waitFor(() => b.events.status('news').count === 2, 'the restarted node to store the topic again')
    } finally {
      await stopAll([a, b])
      await dir.remove()
    }
  })

  it('a node stopped during 100 publishes catches up all 100 after it restarts', async () => {
    const dir = await tempDir()
    const a = await createAgentNode({ transport: 'memory', eventsSyncIntervalMs: 500 })
    let b = await createAgentNode({ transport: 'memory', dataDir: dir.path, peers: a.addresses() })
    try {
      await b.events.join('jobs')
      await a.events.join('jobs')
      await meshReady([a, b], 'jobs')
      for (let i = 0; i < 100; i++) {
        await a.events.publish('jobs', { type: 'job', data: i })
        if (i === 30) await b.stop()
      }
      b = await createAgentNode({ transport: 'memory', dataDir: dir.path, peers: a.addresses(), eventsSyncIntervalMs: 500 })
      await waitFor(() => b.events.status('jobs').count === 100, 'b to hold all 100 events', 30_000)
      await waitFor(() => b.events.status('jobs').caughtUp, 'b to report caught up')
      const all = await take(b.events.subscribe('jobs', { from: 'start' }), 100)
      assert.deepEqual(all.map(e => e.data), Array.from({ length: 100 }, (_, i) => i))
    } finally {
      await stopAll([a, b])
      await dir.remove()
    }
  })

  it('after a partition heals, both sides catch up', async () => {
    let cut = false
    const gater = { denyDialPeer: async () => cut, denyInboundConnection: async () => cut, denyOutboundConnection: async () => cut }
    const a = await createAgentNode({ transport: 'memory', connectionGater: gater, eventsSyncIntervalMs: 500 })
    const b = await createAgentNode({ transport: 'memory', connectionGater: gater, peers: a.addresses(), eventsSyncIntervalMs: 500 })
    try {
      await Promise.all([a.events.join('plan'), b.events.join('plan')])
      await meshReady([a, b], 'plan')
      await a.events.publish('plan', { type: 'before', data: 0 })
      await waitFor(() => b.events.status('plan').count === 1, 'b to get the first event')
      cut = true
      await Promise.all([a, b].map(async n => { for (const c of n.libp2p.getConnections()) await c.close() }))
      for (let i = 0; i < 10; i++) await a.events.publish('plan', { type: 'a', data: i })
      for (let i = 0; i < 7; i++) await b.events.publish('plan', { type: 'b', data: i })
      assert.equal(a.events.status('plan').count, 11)
      assert.equal(b.events.status('plan').count, 8)
      assert.equal(b.events.status('plan').caughtUp, false)
      cut = false
      await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
      await waitFor(() => a.events.status('plan').count === 18 && b.events.status('plan').count === 18, 'both sides to hold all 18 events', 30_000)
      const [ha, hb] = [await a.events.history('plan'), await b.events.history('plan')]
      assert.deepEqual(ha.map(e => e.id), hb.map(e => e.id), 'same canonical order on both sides')
    } finally {
      await stopAll([a, b])
    }
  })

  it('a late joiner at the end of a line a—b—c gets the whole history and live events through b', async () => {
    const a = await createAgentNode({ transport: 'memory' })
    const b = await createAgentNode({ transport: 'memory', peers: a.addresses() })
    let c: AgentNode | undefined
    try {
      await Promise.all([a.events.join('log'), b.events.join('log')])
      await meshReady([a, b], 'log')
      for (let i = 0; i < 20; i++) await a.events.publish('log', { type: 'x', data: i })
      await waitFor(() => b.events.status('log').count === 20, 'b to hold 20 events')
      // Explicit topology: c may only talk to b (its gater refuses a in both directions).
      const notA = { denyDialPeer: async (p: { toString(): string }) => p.toString() === a.peerId, denyInboundEncryptedConnection: async (p: { toString(): string }) => p.toString() === a.peerId }
      c = await createAgentNode({ transport: 'memory', peers: b.addresses(), connectionGater: notA })
      const replay = take(c.events.subscribe('log', { from: 'start' }), 25)
      await waitFor(() => c!.events.status('log').count === 20, 'c to catch up the history from b')
      assert.equal(c.libp2p.getConnections(a.libp2p.peerId).length, 0, 'c is not connected to a')
      await meshReady([c], 'log')
      for (let i = 20; i < 25; i++) await a.events.publish('log', { type: 'x', data: i })
      assert.deepEqual((await replay).map(e => e.data), Array.from({ length: 25 }, (_, i) => i))
    } finally {
      await stopAll([a, b, ...(c !== undefined ? [c] : [])])
    }
  })

  it('rejects a forged event, counts it, and keeps running', async () => {
    const b = await createAgentNode({ transport: 'memory' })
    const a = await createAgentNode({ transport: 'memory', peers: b.addresses() })
    try {
      await Promise.all([a.events.join('t'), b.events.join('t')])
      await meshReady([a, b], 't')
      const { decodeEnvelope, encodeBody, encodeEnvelope } = await import('../../../protocols/events/messages.ts')
      const real = await a.events.publish('t', { type: 'ok', data: 1 })
      await waitFor(() => b.events.status('t').count === 1, 'b to get the real event')
      // Claims to be by b, seq 1, signed by a's key: the signature does not match the author.
      const body = encodeBody({ topic: 't', type: 'evil', data: 'x', author: b.peerId, hlc: real.hlc, seq: 1 })
      const forged = encodeEnvelope(body, new Uint8Array(64).fill(7))
      assert.equal(decodeEnvelope(forged).author, b.peerId)
      await a.libp2p.services.pubsub.publish('agentmesh/events/1/t', forged)
      await a.libp2p.services.pubsub.publish('agentmesh/events/1/t', new Uint8Array([1, 2, 3]))
      await waitFor(() => b.events.stats().forged >= 1 && b.events.stats().malformed >= 1, 'b to count the forged and malformed events')
      assert.equal(b.events.status('t').count, 1)
      await a.events.publish('t', { type: 'ok', data: 2 })
      await waitFor(() => b.events.status('t').count === 2, 'b to keep accepting real events')
    } finally {
      await stopAll([a, b])
    }
  })

  it('retention keeps the newest events, and a late peer syncs from above the floor', async () => {
    const a = await createAgentNode({ transport: 'memory', eventsRetention: { countMax: 5 } })
    let b: AgentNode | undefined
    try {
      for (let i = 1; i <= 8; i++) await a.events.publish('r', { type: 'x', data: i })
      assert.equal(a.events.status('r').count, 5)
      assert.deepEqual((await a.events.history('r')).map(e => e.seq), [4, 5, 6, 7, 8])
      b = await createAgentNode({ transport: 'memory', peers: a.addresses() })
      await b.events.join('r')
      await waitFor(() => b!.events.status('r').count === 5, 'b to fetch the 5 retained events')
      await waitFor(() => b!.events.status('r').caughtUp, 'b to be caught up despite the pruned prefix')
      assert.deepEqual((await b.events.history('r')).map(e => e.seq), [4, 5, 6, 7, 8])
      await a.events.publish('r', { type: 'x', data: 9 })
      await waitFor(() => b!.events.status('r').count === 6, 'b to get the next live event')
    } finally {
      await stopAll([a, ...(b !== undefined ? [b] : [])])
    }
  })

  it('a subscriber that falls behind retention ends with SubscriberLaggedError, never a silent skip', async () => {
    const node = await createAgentNode({ transport: 'memory', eventsRetention: { countMax: 3 } })
    try {
      for (let i = 1; i <= 3; i++) await node.events.publish('lag', { type: 'x', data: i })
      const it = node.events.subscribe('lag', { from: 'start' })[Symbol.asyncIterator]()
      assert.equal((await it.next()).value?.data, 1)
      for (let i = 4; i <= 6; i++) await node.events.publish('lag', { type: 'x', data: i })
      await assert.rejects(async () => { await it.next() }, (err: Error) => err.name === 'SubscriberLaggedError')
      await assert.rejects(node.events.history('lag', { after: 'f'.repeat(64) }), (err: Error) => err.name === 'EventNotFoundError')
    } finally {
      await node.stop()
    }
  })

  it('rebuilds a projection by replay after a restart', async () => {
    const dir = await tempDir()
    let node = await createAgentNode({ dataDir: dir.path, transport: 'memory' })
    const fold = { initial: { total: 0, count: 0 }, apply: (s: { total: number, count: number }, e: AgentEvent) => ({ total: s.total + (e.data as number), count: s.count + 1 }) }
    try {
      const live = node.events.project('ledger', fold)
      await live.ready
      for (let i = 1; i <= 10; i++) await node.events.publish('ledger', { type: 'credit', data: i })
      await waitFor(() => live.state().count === 10, 'the live projection to apply 10 events')
      assert.deepEqual(live.state(), { total: 55, count: 10 })
      live.close()
      await node.stop()
      node = await createAgentNode({ dataDir: dir.path, transport: 'memory' })
      const rebuilt = node.events.project('ledger', fold)
      await rebuilt.ready
      assert.deepEqual(rebuilt.state(), { total: 55, count: 10 })
      rebuilt.close()
    } finally {
      await node.stop()
      await dir.remove()
    }
  })
})
