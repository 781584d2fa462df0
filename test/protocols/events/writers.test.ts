// Writer lists on events topics (SPEC events E15), on real nodes over the memory transport:
// three nodes restrict a topic to two writers; an outsider that restricted nothing publishes as
// itself. Its events must land on no restricted node, live or through anti-entropy, and a late
// joiner that syncs only from the outsider must catch up without asking for them again and again.

import assert from 'node:assert/strict'
import { createAgentNode, NotAWriterError, LimitExceededError, DecodeError } from '../../../src/index.ts'
import type { AgentNode, AgentNodeOptions } from '../../../src/index.ts'
import { TOPIC_WRITERS_MAX } from '../../../protocols/events/messages.ts'
import { SYNC_BATCH_EVENTS_MAX } from '../../../protocols/events/messages.ts'
import { waitFor, stopAll, tempDir } from '../../helpers.ts'

const FAST: AgentNodeOptions = { transport: 'memory', eventsSyncIntervalMs: 300 }

async function authorsIn (node: AgentNode, topic: string): Promise<Set<string>> {
  return new Set((await node.events.history(topic)).map(e => e.author))
}

describe('events writer lists (real nodes, memory transport)', function () {
  this.timeout(120_000)

  it('refuses a non-writer\'s events live and in sync, on every restricted node and on a late joiner', async () => {
    const topic = 'plan'
    const w1 = await createAgentNode(FAST)
    const nodes = [w1]
    let late: AgentNode | undefined
    try {
      nodes.push(await createAgentNode({ ...FAST, peers: w1.addresses() }))
      nodes.push(await createAgentNode({ ...FAST, peers: w1.addresses() }))
      const outsider = await createAgentNode({ ...FAST, peers: w1.addresses() })
      nodes.push(outsider)
      const [, w2, reader] = nodes as [AgentNode, AgentNode, AgentNode, AgentNode]
      const writers = [w1.peerId, w2.peerId]
      const restricted = [w1, w2, reader]
      for (const n of restricted) await n.events.restrict(topic, { writers })
      await Promise.all(nodes.map(async n => { await n.events.join(topic) }))
      await waitFor(() => nodes.every(n => n.events.status(topic).peers >= 1), 'every node to see a topic peer')

      // More outsider events than one sync batch: a restricted node that asked for them every round would never end.
      const outsiderCount = SYNC_BATCH_EVENTS_MAX + 44
      for (let i = 0; i < outsiderCount; i++) await outsider.events.publish(topic, { type: 'edit', data: `PWNED ${i}` })
      for (let i = 0; i < 3; i++) {
        await w1.events.publish(topic, { type: 'edit', data: `w1 ${i}` })
        await w2.events.publish(topic, { type: 'edit', data: `w2 ${i}` })
      }
      await assert.rejects(reader.events.publish(topic, { type: 'edit', data: 'not mine to write' }), (err: unknown) => {
        assert.ok(err instanceof NotAWriterError, `NotAWriterError, got ${String(err)}`)
        assert.equal(err.code, 'ERR_NOT_A_WRITER')
        assert.match(err.message, /plan/)
        return true
      })

      await waitFor(async () => (await outsider.events.history(topic)).length === outsiderCount + 6, 'the outsider to hold every event')
      for (const n of restricted) {
        await waitFor(async () => (await n.events.history(topic)).length === 6, 'every restricted node to hold the 6 writer events')
        await waitFor(() => n.events.status(topic).caughtUp, 'every restricted node to be caught up')
        assert.deepEqual(await authorsIn(n, topic), new Set(writers), 'only writers are stored')
      }
      // Live: each restricted node the outsider is connected to refused its gossip.
      assert.ok(restricted.some(n => n.events.stats().unauthorized > 0), 'refusals are counted')

      // A late joiner that can only sync from the outsider: it gets the writers' events, none of the outsider's.
      late = await createAgentNode({ ...FAST, peers: outsider.addresses() })
      await late.events.restrict(topic, { writers })
      const history = late.events.history(topic)
      assert.equal((await history).length, 0)
      await waitFor(async () => (await late!.events.history(topic)).length === 6, 'the late joiner to get the writer events')
      await waitFor(() => late!.events.status(topic).caughtUp, 'the late joiner to be caught up with the outsider')
      assert.deepEqual(await authorsIn(late, topic), new Set(writers))

      // Further sync rounds neither fetch nor refuse anything: the outsider's events are never asked for.
      const before = late.events.stats()
      await waitFor(() => late!.events.stats().syncRounds >= before.syncRounds + 5, 'five more sync rounds')
      const after = late.events.stats()
      assert.equal(after.unauthorized, before.unauthorized, 'no refused event travels in sync')
      assert.equal(after.accepted, before.accepted)
      // (Mesh discovery may have connected it to more topic peers meanwhile; each needs one round.)
      await waitFor(() => late!.events.status(topic).caughtUp, 'the late joiner to stay caught up')

      // Live again: a new outsider event is refused on arrival, counted, and not stored.
      const counted = late.events.stats().unauthorized
      const lateEvent = await outsider.events.publish(topic, { type: 'edit', data: 'PWNED live' })
      await waitFor(() => late!.events.stats().unauthorized > counted, 'the late joiner to refuse the live outsider event')
      await w1.events.publish(topic, { type: 'edit', data: 'w1 after' })
      for (const n of [...restricted, late]) {
        await waitFor(async () => (await n.events.history(topic)).length === 7, 'the new writer event everywhere')
        assert.ok(!(await n.events.history(topic)).some(e => e.id === lateEvent.id))
      }
    } finally {
      await stopAll([...nodes, ...(late === undefined ? [] : [late])])
    }
  })

  it('removes a non-writer\'s events stored before the restriction, and keeps the list across a restart', async () => {
    const topic = 'audit'
    const dir = await tempDir()
    const outsider = await createAgentNode(FAST)
    let node = await createAgentNode({ ...FAST, dataDir: dir.path, peers: outsider.addresses() })
    try {
      await node.events.join(topic)
      await node.events.publish(topic, { type: 'x', data: 'mine' })
      const theirs = await outsider.events.publish(topic, { type: 'x', data: 'theirs' })
      await waitFor(async () => (await node.events.history(topic)).some(e => e.id === theirs.id), 'the open topic to store the outsider event')

      const subscription = node.events.subscribe(topic, { from: 'start' })[Symbol.asyncIterator]()
      assert.equal((await subscription.next()).value?.data, 'mine')
      await node.events.restrict(topic, { writers: [node.peerId] })
      assert.deepEqual((await node.events.history(topic)).map(e => e.data), ['mine'])
      await subscription.return?.()

      await node.stop()
      node = await createAgentNode({ ...FAST, dataDir: dir.path, peers: outsider.addresses() })
      const refusedBefore = node.events.stats().unauthorized
      await outsider.events.publish(topic, { type: 'x', data: 'theirs again' })
      await node.events.publish(topic, { type: 'x', data: 'mine again' })
      await waitFor(() => node.events.stats().unauthorized > refusedBefore, 'the restarted node to refuse the outsider')
      assert.deepEqual((await node.events.history(topic)).map(e => e.data), ['mine', 'mine again'])
    } finally {
      await stopAll([node, outsider])
      await dir.remove()
    }
  })

  it('bounds and checks the writer list', async () => {
    const node = await createAgentNode({ transport: 'memory' })
    try {
      const tooMany = Array.from({ length: TOPIC_WRITERS_MAX + 1 }, () => node.peerId)
      await assert.rejects(node.events.restrict('t', { writers: tooMany }), LimitExceededError)
      await assert.rejects(node.events.restrict('t', { writers: ['not-a-peer-id'] }), DecodeError)
      await node.events.restrict('t', { writers: [] })
      await assert.rejects(node.events.publish('t', { type: 'x' }), NotAWriterError)
    } finally {
      await node.stop()
    }
  })
})
