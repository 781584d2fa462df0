// Health and mesh discovery on real nodes over loopback TCP: discovery beyond the
// bootstrap peer, a kill -9 detected as suspect then dead, and hostile announcements.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { lpStream } from '@libp2p/utils'
import { createAgentNode, LimitExceededError } from '../../../src/index.ts'
import type { AgentNode, AgentNodeOptions, PeerStatus } from '../../../src/index.ts'
import { HEALTH_TOPIC, HEALTH_PROTOCOL, ANNOUNCE_BYTES_MAX, encodeHealthMessage } from '../../../protocols/health/messages.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { waitFor, stopAll } from '../../helpers.ts'

const loopback = ['/ip4/127.0.0.1/tcp/0']
/** Short thresholds so the test runs in seconds; generous against a loaded 2-core machine. */
const fast: AgentNodeOptions = { healthIntervalMs: 250, healthSuspectAfterMs: 2000, healthDeadAfterMs: 4000, healthDisconnectGraceMs: 750 }

function connectedTo (node: AgentNode, other: AgentNode): boolean {
  return node.libp2p.getConnections(other.libp2p.peerId).length > 0
}
function statusOf (node: AgentNode, peerId: string): PeerStatus | undefined {
  return node.peers().find(p => p.peerId === peerId)?.status
}
function clock (): number { return performance.timeOrigin + performance.now() }

describe('health: discovery and membership on real nodes', function () {
  this.timeout(60_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  it('B and C bootstrap only from A, and all three end up connected and alive to each other', async () => {
    const joins = new Map<string, string[]>()
    const track = (node: AgentNode): AgentNode => {
      joins.set(node.name, [])
      node.addEventListener('peer:join', (e) => { joins.get(node.name)?.push(e.detail.peerId) })
      return node
    }
    const a = track(await createAgentNode({ listen: loopback, name: 'a', capabilities: ['plan'], ...fast }))
    const b = track(await createAgentNode({ listen: loopback, name: 'b', capabilities: ['code', 'test'], peers: [a.addresses()[0]!], ...fast }))
    const c = track(await createAgentNode({ listen: loopback, name: 'c', peers: [a.addresses()[0]!], ...fast }))
    nodes = [a, b, c]
    await waitFor(() => nodes.every(n => nodes.every(o => o === n || connectedTo(n, o))), 'every pair of nodes to be connected', 20_000)
    await waitFor(() => nodes.every(n => n.peers().filter(p => p.status === 'alive').length === 2), 'every node to list the other two as alive', 20_000)
    for (const node of nodes) {
      const others = nodes.filter(o => o !== node)
      const peers = node.peers()
      assert.deepEqual(peers.map(p => p.peerId), others.map(o => o.peerId).sort())
      for (const other of others) {
        const info = peers.find(p => p.peerId === other.peerId)!
        assert.equal(info.name, other.name)
        assert.equal(info.status, 'alive')
        assert.equal(info.connected, true)
        assert.match(info.version, /^\d+\.\d+\.\d+/)
        assert.ok(Math.abs(Date.now() - info.lastSeenMs) < 10_000, 'lastSeenMs is a recent epoch timestamp')
      }
      assert.deepEqual([...joins.get(node.name)!].sort(), others.map(o => o.peerId).sort(), `${node.name} saw peer:join for the other two`)
    }
    assert.deepEqual(c.peers().find(p => p.peerId === b.peerId)?.capabilities, ['code', 'test'])
  })

  it('a peer whose connection dropped is reconnected, and stays alive through gossip meanwhile', async () => {
    const a = await createAgentNode({ listen: loopback, name: 'a', ...fast })
    const b = await createAgentNode({ listen: loopback, name: 'b', peers: [a.addresses()[0]!], ...fast })
    const c = await createAgentNode({ listen: loopback, name: 'c', peers: [a.addresses()[0]!], ...fast })
    nodes = [a, b, c]
    await waitFor(() => connectedTo(b, c) && statusOf(b, c.peerId) === 'alive', 'b and c to be connected')
    const leaves: string[] = []
    b.addEventListener('peer:leave', (e) => { leaves.push(e.detail.peerId) })
    await b.libp2p.hangUp(c.libp2p.peerId)
    // Neither is a bootstrap peer of the other. Health discovery redials from c's announced
    // addresses (in a small mesh the DHT's keep-alive reconnect may win that race).
    await waitFor(() => connectedTo(b, c) && b.peers().find(p => p.peerId === c.peerId)?.connected === true, 'b and c to reconnect', 20_000)
    assert.equal(statusOf(b, c.peerId), 'alive')
    assert.deepEqual(leaves, [], 'a dropped connection alone is not a leave')
  })

  it('a clean stop says goodbye: peers mark it dead and fire peer:leave at once', async () => {
    // Default 1 s interval: without the goodbye, peer:leave would take deadAfterMs (10 s).
    const a = await createAgentNode({ listen: loopback, name: 'a' })
    const b = await createAgentNode({ listen: loopback, name: 'b', peers: [a.addresses()[0]!] })
    nodes = [a, b]
    await waitFor(() => statusOf(a, b.peerId) === 'alive', 'a to see b alive')
    const left: string[] = []
    a.addEventListener('peer:leave', (e) => { left.push(e.detail.peerId) })
    const stoppedAt = clock()
    await b.stop()
    await waitFor(() => left.includes(b.peerId), 'peer:leave for b')
    assert.equal(statusOf(a, b.peerId), 'dead')
    assert.ok(clock() - stoppedAt < a.health.config.deadAfterMs, 'goodbye beats the dead-after threshold')
  })
})

describe('health: node options', () => {
  it('refuses thresholds that cannot work, naming the option', async () => {
    await assert.rejects(createAgentNode({ transport: 'memory', healthIntervalMs: 1000, healthSuspectAfterMs: 800 }), /healthSuspectAfterMs: 800 must exceed healthIntervalMs \(1000\)/)
    await assert.rejects(createAgentNode({ transport: 'memory', healthSuspectAfterMs: 5000, healthDeadAfterMs: 4000 }), /deadAfterMs: 4000 must exceed suspectAfterMs \(5000\)/)
  })

  it('refuses capabilities too many to announce, naming the limit', async () => {
    await assert.rejects(createAgentNode({ transport: 'memory', capabilities: Array.from({ length: 40 }, (_, i) => `skill-${i}`) }), (err: unknown) => err instanceof LimitExceededError && /CAPABILITIES_MAX/.test(err.message))
  })

  it('derives thresholds from healthIntervalMs unless given', async () => {
    const node = await createAgentNode({ transport: 'memory', healthIntervalMs: 200 })
    try {
      const { intervalMs, suspectAfterMs, deadAfterMs, disconnectGraceMs } = node.health.config
      assert.deepEqual([intervalMs, suspectAfterMs, deadAfterMs, disconnectGraceMs], [200, 600, 2000, 300])
    } finally {
      await node.stop()
    }
  })
})

describe('health: failure detection of a killed process', function () {
  this.timeout(60_000)
  let a: AgentNode | undefined
  let child: ChildProcess | undefined
  after(async () => {
    child?.kill('SIGKILL')
    await a?.stop()
  })

  it('marks a kill -9ed node suspect, then dead within the thresholds, and fires peer:leave', async () => {
    a = await createAgentNode({ listen: loopback, name: 'observer', ...fast })
    const fixture = fileURLToPath(new URL('./fixtures/node-process.ts', import.meta.url))
    child = spawn(process.execPath, [fixture, JSON.stringify({ listen: loopback, name: 'victim', peers: [a.addresses()[0]], ...fast })], { stdio: ['ignore', 'pipe', 'inherit'] })
    const ready = await new Promise<{ peerId: string }>((resolve, reject) => {
      child!.once('exit', (code) => { reject(new Error(`child exited early with ${String(code)}`)) })
      createInterface({ input: child!.stdout! }).once('line', (line) => { resolve(JSON.parse(line) as { peerId: string }) })
    })
    const victim = ready.peerId
    await waitFor(() => statusOf(a!, victim) === 'alive', 'the observer to see the child alive', 30_000)

    const transitions: Array<{ status: PeerStatus, atMs: number }> = []
    const leaves: number[] = []
    a.health.addEventListener('peer:status', (e) => { if (e.detail.peerId === victim) transitions.push({ status: e.detail.status, atMs: clock() }) })
    a.addEventListener('peer:leave', (e) => { if (e.detail.peerId === victim) leaves.push(clock()) })
    const killedAt = clock()
    child.kill('SIGKILL')
    await waitFor(() => leaves.length > 0, 'peer:leave for the killed node', 30_000)

    const { suspectAfterMs, deadAfterMs } = a.health.config
    const lastSeenMs = a.peers().find(p => p.peerId === victim)!.lastSeenMs
    assert.deepEqual(transitions.map(t => t.status), ['suspect', 'dead'], 'alive -> suspect -> dead, in that order')
    const [suspect, dead] = transitions as unknown as [{ atMs: number }, { atMs: number }]
    // Detection bound: threshold after the last announcement, plus one tick and scheduling slack.
    const slackMs = 2500
    assert.ok(suspect.atMs - killedAt <= suspectAfterMs + slackMs, `suspect ${Math.round(suspect.atMs - killedAt)} ms after the kill`)
    assert.ok(dead.atMs - killedAt <= deadAfterMs + slackMs, `dead ${Math.round(dead.atMs - killedAt)} ms after the kill`)
    assert.ok(dead.atMs - lastSeenMs >= deadAfterMs - 1, `never dead before deadAfterMs of silence (${Math.round(dead.atMs - lastSeenMs)} ms)`)
    assert.equal(statusOf(a, victim), 'dead')
    assert.ok(leaves[0]! >= dead.atMs)
  })
})

describe('health: hostile announcements', function () {
  this.timeout(60_000)
  let nodes: AgentNode[] = []
  after(async () => { await stopAll(nodes) })

  it('rejects malformed and forged announcements, counts them, and keeps running', async () => {
    const a = await createAgentNode({ listen: loopback, name: 'a', ...fast })
    const mallory = await createAgentNode({ listen: loopback, name: 'mallory', peers: [a.addresses()[0]!], ...fast })
    const c = await createAgentNode({ listen: loopback, name: 'c', peers: [a.addresses()[0]!], ...fast })
    nodes = [a, mallory, c]
    await waitFor(() => statusOf(a, mallory.peerId) === 'alive' && statusOf(a, c.peerId) === 'alive', 'a to see mallory and c alive')
    await waitFor(() => mallory.libp2p.services.pubsub.getSubscribers(HEALTH_TOPIC).some(p => p.equals(a.libp2p.peerId)), 'mallory to see a subscribed')
    const before = a.health.stats()
    const pubsub = mallory.libp2p.services.pubsub

    // 1. Bytes that are not CBOR; 2. CBOR that is not an announce; 3. an oversized field.
    await pubsub.publish(HEALTH_TOPIC, new Uint8Array([0xff, 0x00, 0x13, 0x37]))
    await pubsub.publish(HEALTH_TOPIC, encodeCbor({ kind: 'announce', peerId: mallory.peerId }))
    await pubsub.publish(HEALTH_TOPIC, encodeCbor({ kind: 'announce', peerId: mallory.peerId, intervalMs: 250, incarnation: 9, seq: 9, name: 'x', capabilities: Array.from({ length: 1000 }, () => 'c'), version: '1', addresses: [] }))
    // 4. A well-formed announce, signed by mallory, claiming to be c and renaming it.
    const forged = encodeHealthMessage({ kind: 'announce', peerId: c.peerId, intervalMs: 250, incarnation: 999, seq: 999, name: 'evil-c', capabilities: [], version: '6.6.6', addresses: ['/ip4/127.0.0.1/tcp/1'] })
    await pubsub.publish(HEALTH_TOPIC, forged)
    // 5. The same forgery straight down a health stream.
    const stream = await mallory.libp2p.dialProtocol(a.libp2p.peerId, HEALTH_PROTOCOL)
    await lpStream(stream).write(forged)
    await stream.close()

    // 6. A direct frame over ANNOUNCE_BYTES_MAX, refused from its length prefix.
    const big = await mallory.libp2p.dialProtocol(a.libp2p.peerId, HEALTH_PROTOCOL)
    await lpStream(big, { maxDataLength: 1024 * 1024 }).write(new Uint8Array(ANNOUNCE_BYTES_MAX + 1))
    await big.close().catch((err: unknown) => { assert.ok(err instanceof Error, 'a aborted the oversized stream') })

    await waitFor(() => a.health.stats().rejected - before.rejected >= 6, 'a to reject all six hostile messages')
    const after = a.health.stats()
    assert.equal(after.rejectedMalformed - before.rejectedMalformed, 4)
    assert.equal(after.rejectedForged - before.rejectedForged, 2)
    const seenC = a.peers().find(p => p.peerId === c.peerId)!
    assert.equal(seenC.name, 'c', 'the forged name did not stick')
    assert.notEqual(seenC.version, '6.6.6')
    assert.deepEqual(a.peers().map(p => p.name).sort(), ['c', 'mallory'], 'no entry was added or renamed by hostile input')

    // Still running: fresh announcements keep flowing and the node answers requests.
    const accepted = a.health.stats().accepted
    await waitFor(() => a.health.stats().accepted > accepted + 2, 'a to keep accepting announcements')
    assert.equal(statusOf(a, mallory.peerId), 'alive')
    assert.equal(a.running, true)
    a.direct.handle('ping', () => 'pong')
    assert.equal(await c.direct.request(a.peerId, 'ping', null), 'pong')
  })
})
