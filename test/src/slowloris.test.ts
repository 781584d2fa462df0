// A stranger opens a stream on every agentmesh protocol a node serves, declares a frame, sends
// ten bytes of it and stalls (slowloris). On real nodes over loopback TCP, for each protocol:
// the node serves honest peers on the same protocol meanwhile, then times the stalled stream
// out and frees it (no stream of that protocol from the stranger is left on the node). Then a
// stranger that gets its answer but never closes its side: the node frees those streams too.

import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { AgentNode, RaftGroup } from '../../src/index.ts'
import { createAgentNode } from '../../src/index.ts'
import { DIRECT_PROTOCOL, encodeRequest } from '../../protocols/direct/messages.ts'
import { EVENTS_SYNC_PROTOCOL, SYNC_FRAME_BYTES_MAX, decodeSyncReply, encodeSyncFrame as encodeEventsSyncFrame } from '../../protocols/events/messages.ts'
import { HEALTH_PROTOCOL } from '../../protocols/health/messages.ts'
import { STATE_READ_PROTOCOL } from '../../protocols/state/adapter-read.ts'
import { READ_RESPONSE_BYTES_MAX, decodeReadResponse, encodeReadRequest } from '../../protocols/state/messages.ts'
import { DOCS_SYNC_PROTOCOL, DOCS_SYNC_FRAME_BYTES_MAX, decodeSyncFrame, encodeSyncFrame as encodeDocsSyncFrame } from '../../protocols/docs/messages.ts'
import { RAFT_PROTOCOL } from '../../protocols/raft/messages.ts'
import { BFT_PROTOCOL } from '../../protocols/bft/messages.ts'
import { connectAll, startCluster } from '../protocols/bft/adapter-helpers.ts'
import { startStranger } from '../stranger.ts'
import type { Stranger } from '../stranger.ts'
import { waitFor } from '../helpers.ts'

/** A varint length prefix. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return Uint8Array.from(out)
}

/** Longest read deadline of any protocol below (docs: a whole exchange, 30 s), with room for a loaded machine. */
const FREED_WITHIN_MS = 90_000

describe('a stream stalled mid-frame is timed out and freed on every protocol (real nodes, TCP)', function () {
  this.timeout(180_000)
  let nodes: AgentNode[]
  let victim: AgentNode
  let honest: AgentNode
  let cleanup: () => Promise<void>
  let groups: RaftGroup[]
  let stranger: Stranger
  let newcomer: AgentNode | undefined
  const stalled = new Map<string, Stream>()

  /** Open `protocol` on the victim, declare a frame of `declared` bytes, send ten of them, and stall. */
  async function stall (protocol: string, declared: number): Promise<void> {
    const stream = await stranger.libp2p.dialProtocol(victim.libp2p.peerId, protocol)
    stream.send(new Uint8Array([...varint(declared), ...new Uint8Array(10)]))
    stalled.set(protocol, stream)
  }

  /** Streams of `protocol` from the stranger that the victim still holds. */
  function held (protocol: string): number {
    return victim.libp2p.getConnections(stranger.libp2p.peerId).flatMap(c => c.streams).filter(s => s.protocol === protocol).length
  }

  /** Honest peer's raw request/response on `protocol`: one frame out, one frame back. */
  async function exchange (protocol: string, frame: Uint8Array, replyBytesMax: number): Promise<Uint8Array> {
    const stream = await honest.libp2p.dialProtocol(victim.libp2p.peerId, protocol)
    const lp = lpStream(stream, { maxDataLength: replyBytesMax, maxBufferSize: replyBytesMax + 1024 })
    await lp.write(frame)
    const reply = (await lp.read({ signal: AbortSignal.timeout(30_000) })).subarray()
    await stream.close()
    return reply
  }

  async function freed (protocol: string): Promise<void> {
    const stream = stalled.get(protocol)!
    await waitFor(() => stream.status !== 'open', `the victim to time out the stalled ${protocol} stream`, FREED_WITHIN_MS)
    await waitFor(() => held(protocol) === 0, `the victim to free the stalled ${protocol} stream`, FREED_WITHIN_MS)
  }

  before(async () => {
    ({ nodes, cleanup } = await startCluster(4, false))
    ;[victim, honest] = [nodes[0]!, nodes[1]!]
    const members = nodes.map(n => n.peerId)
    groups = await Promise.all(nodes.map(async n => await n.groups.join('slow', { members, validate: () => true })))
    victim.direct.handle('echo', (payload) => payload)
    await victim.docs.open('d')
    stranger = await startStranger()
    await stranger.libp2p.dial(victim.libp2p.getMultiaddrs()[0]!)
    // Every stall starts at once, so the whole file waits for the longest deadline only once.
    await Promise.all([
      stall(DIRECT_PROTOCOL, 1000),
      stall(EVENTS_SYNC_PROTOCOL, 1000),
      stall(HEALTH_PROTOCOL, 1000),
      stall(STATE_READ_PROTOCOL, 300),
      stall(DOCS_SYNC_PROTOCOL, 1000),
      stall(RAFT_PROTOCOL, 1000),
      stall(BFT_PROTOCOL, 1000)
    ])
  })

  after(async () => {
    await Promise.all([...nodes, ...(newcomer === undefined ? [] : [newcomer])].map(async n => { await n.stop() }))
    await stranger?.libp2p.stop()
    await cleanup()
  })

  it('direct', async () => {
    assert.equal(await honest.direct.request(victim.peerId, 'echo', 'still served'), 'still served')
    await freed(DIRECT_PROTOCOL)
  })

  it('events sync', async () => {
    const reply = decodeSyncReply(await exchange(EVENTS_SYNC_PROTOCOL, encodeEventsSyncFrame({ kind: 'sync', topic: 'slow', vector: [] }), SYNC_FRAME_BYTES_MAX))
    assert.equal(reply.topic, 'slow')
    await freed(EVENTS_SYNC_PROTOCOL)
  })

  it('health', async () => {
    newcomer = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [victim.addresses()[0]!] })
    await waitFor(() => victim.peers().some(p => p.peerId === newcomer!.peerId), 'the victim to list a newcomer')
    await freed(HEALTH_PROTOCOL)
  })

  it('state one-hop reads', async () => {
    assert.equal(decodeReadResponse(await exchange(STATE_READ_PROTOCOL, encodeReadRequest('slow/key'), READ_RESPONSE_BYTES_MAX)), null)
    await freed(STATE_READ_PROTOCOL)
  })

  it('raft', async () => {
    await groups[0]!.kv.put('k', 'still served', { timeoutMs: 30_000 })
    assert.equal(await groups[0]!.kv.get('k', { timeoutMs: 30_000 }), 'still served')
    await freed(RAFT_PROTOCOL)
  })

  it('bft', async () => {
    // Proposed through the victim: it commits only after taking votes from the others.
    const decision = await groups[0]!.propose({ amount: 1 }, { bft: true, timeoutMs: 30_000 }) as { value: unknown }
    assert.deepEqual(decision.value, { amount: 1 })
    await freed(BFT_PROTOCOL)
  })

  it('docs sync', async () => {
    const step1 = encodeDocsSyncFrame({ doc: 'd', body: { kind: 'step1', stateVector: Y.encodeStateVector(new Y.Doc()) } })
    const reply = decodeSyncFrame(await exchange(DOCS_SYNC_PROTOCOL, step1, DOCS_SYNC_FRAME_BYTES_MAX))
    // The responder writes its awareness frame just before its step 2 (SPEC docs S2), and only
    // when a step 2 follows, so either first frame shows the exchange was served.
    assert.ok(reply.body.kind === 'awareness' || reply.body.kind === 'step2', `first reply frame is ${reply.body.kind}`)
    await freed(DOCS_SYNC_PROTOCOL)
  })

  it('a stranger that gets its answer and never closes its side does not keep the stream', async () => {
    // Each exchange is complete; the stranger only keeps its side open (close() alone left such
    // streams on the node for good).
    const direct = await stranger.libp2p.dialProtocol(victim.libp2p.peerId, DIRECT_PROTOCOL)
    const events = await stranger.libp2p.dialProtocol(victim.libp2p.peerId, EVENTS_SYNC_PROTOCOL)
    const reads = await stranger.libp2p.dialProtocol(victim.libp2p.peerId, STATE_READ_PROTOCOL)
    const lps = [lpStream(direct), lpStream(events, { maxDataLength: SYNC_FRAME_BYTES_MAX }), lpStream(reads)]
    await lps[0]!.write(encodeRequest({ version: 1, kind: 'request', method: 'echo', payload: 'x' }))
    await lps[1]!.write(encodeEventsSyncFrame({ kind: 'sync', topic: 'slow', vector: [] }))
    await lps[2]!.write(encodeReadRequest('slow/key'))
    for (const lp of lps) await lp.read()
    for (const protocol of [DIRECT_PROTOCOL, EVENTS_SYNC_PROTOCOL, STATE_READ_PROTOCOL]) {
      await waitFor(() => held(protocol) === 0, `the victim to free the answered ${protocol} stream`, FREED_WITHIN_MS)
    }
  })

  it('the victim still runs and the stranger is still connected: only the streams were cut', async () => {
    assert.equal(victim.running, true)
    await connectAll([victim, honest])
    assert.ok(victim.libp2p.getConnections(stranger.libp2p.peerId).length > 0)
  })
})
