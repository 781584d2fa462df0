// Per-peer request budgets on real nodes over loopback TCP (SPEC direct D5): a peer that
// floods one connection with requests is refused past its budget with a typed error, and
// other peers are served as usual.

import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { createAgentNode, RateLimitedError } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { DIRECT_PROTOCOL, encodeRequest, decodeResponse, DIRECT_FRAME_BYTES_MAX } from '../../../protocols/direct/messages.ts'
import type { ResponseFrame } from '../../../protocols/direct/messages.ts'
import { DIRECT_REQUESTS_PER_PEER_BURST, DIRECT_REQUESTS_PER_PEER_PER_S } from '../../../protocols/direct/adapter.ts'
import { waitFor, stopAll } from '../../helpers.ts'
import { startStranger } from '../../stranger.ts'
import type { Stranger } from '../../stranger.ts'

const FLOOD_REQUESTS = 5_000
/** Requests the flooder keeps in flight: under libp2p's default of 64 outbound streams per protocol. */
const IN_FLIGHT = 48

describe('direct: per-peer request budget', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  let stranger: Stranger | undefined
  after(async () => {
    await stopAll(nodes)
    await stranger?.libp2p.stop()
  })

  it(`a stranger sending ${FLOOD_REQUESTS} requests over one connection is refused past its budget; an honest peer is served meanwhile`, async () => {
    const server = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'server' })
    const honest = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'honest', peers: [server.addresses()[0]!] })
    nodes = [server, honest]
    let handled = 0
    server.direct.handle('work', () => { handled++; return 'done' })
    await waitFor(() => honest.libp2p.getConnections(server.libp2p.peerId).length > 0, 'honest to connect')

    stranger = await startStranger()
    const host = stranger.libp2p
    const connection = await host.dial(server.libp2p.getMultiaddrs()[0]!)
    const frame = encodeRequest({ version: 1, kind: 'request', method: 'work', payload: null })
    const outcomes = { reply: 0, rateLimited: 0, other: 0 }
    const startedMs = performance.now()
    let sent = 0
    const once = async (): Promise<void> => {
      sent++
      const stream = await connection.newStream(DIRECT_PROTOCOL)
      const lp = lpStream(stream, { maxDataLength: DIRECT_FRAME_BYTES_MAX })
      await lp.write(frame)
      const response: ResponseFrame = decodeResponse((await lp.read()).subarray(), DIRECT_FRAME_BYTES_MAX)
      await stream.close()
      if (response.kind === 'reply') outcomes.reply++
      else if (response.code === 'rate-limited') outcomes.rateLimited++
      else outcomes.other++
    }
    const flood = async (): Promise<void> => {
      while (sent < FLOOD_REQUESTS) await once()
    }
    // One request first: yamux resets a connection that opens more than 10 streams before the
    // remote has acknowledged any (its own early-stream defence), so a flood starts warm.
    await once()
    const flooding = Promise.all(Array.from({ length: IN_FLIGHT }, flood))
    // While the flood runs, the honest peer's requests go through.
    await waitFor(() => outcomes.rateLimited > 0, 'the stranger to hit its budget', 60_000)
    for (let i = 0; i < 20; i++) assert.equal(await honest.direct.request(server.peerId, 'work', null), 'done')
    await flooding
    const elapsedS = (performance.now() - startedMs) / 1000

    assert.equal(outcomes.other, 0)
    assert.equal(outcomes.reply + outcomes.rateLimited, FLOOD_REQUESTS)
    assert.ok(outcomes.reply <= DIRECT_REQUESTS_PER_PEER_BURST + DIRECT_REQUESTS_PER_PEER_PER_S * elapsedS, `${outcomes.reply} served in ${elapsedS.toFixed(1)} s stays within the budget`)
    assert.equal(server.direct.stats().rateLimited, outcomes.rateLimited, 'every refusal is counted')
    assert.equal(handled, outcomes.reply + 20)
    assert.equal(server.running, true)
  })

  it('an honest node over its budget gets a RateLimitedError naming the limit, and is served again after a pause', async () => {
    const server = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'server' })
    const caller = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'caller', peers: [server.addresses()[0]!] })
    nodes = [server, caller]
    server.direct.handle('work', () => 'done')
    await waitFor(() => caller.libp2p.getConnections(server.libp2p.peerId).length > 0, 'caller to connect')
    const errors: unknown[] = []
    for (let round = 0; round < 10 && errors.length === 0; round++) {
      const results = await Promise.allSettled(Array.from({ length: 200 }, async () => await caller.direct.request(server.peerId, 'work', null)))
      for (const r of results) if (r.status === 'rejected') errors.push(r.reason)
    }
    assert.ok(errors.length > 0, 'the caller went over its budget')
    for (const err of errors) {
      assert.ok(err instanceof RateLimitedError, String(err))
      assert.equal(err.limit, 'DIRECT_REQUESTS_PER_PEER_PER_S')
      assert.match(err.message, /refused "work": over DIRECT_REQUESTS_PER_PEER_PER_S \(\d+ requests\/s per peer, burst \d+\)/)
    }
    await waitFor(async () => (await caller.direct.request(server.peerId, 'work', null).catch(() => 'refused')) === 'done', 'the budget to refill')
  })
})
