import assert from 'node:assert/strict'
import { createAgentNode, UnknownMethodError, RemoteError, LimitExceededError, TimeoutError, PeerUnreachableError } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { waitFor, stopAll } from '../../helpers.ts'

describe('direct messaging between two embedded nodes over TCP', () => {
  let a: AgentNode
  let b: AgentNode

  before(async () => {
    b = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'b', directFrameBytesMax: 64 * 1024 })
    a = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'a', peers: [b.addresses()[0]!], directFrameBytesMax: 1024 * 1024 })
    await waitFor(() => a.libp2p.getConnections().length > 0, 'a to connect to b')
  })
  after(async () => { await stopAll([a, b]) })

  it('request/response carries JSON and bytes both ways', async () => {
    b.direct.handle('echo', (payload, { from }) => ({ payload, from }))
    const reply = await a.direct.request(b.peerId, 'echo', { n: 1, bytes: new Uint8Array([1, 2, 3]) }) as Record<string, unknown>
    assert.deepEqual(reply, { payload: { n: 1, bytes: new Uint8Array([1, 2, 3]) }, from: a.peerId })
  })

  it('fire-and-forget reaches the handler', async () => {
    const seen: unknown[] = []
    b.direct.handle('note', (payload) => { seen.push(payload) })
    await a.direct.send(b.peerId, 'note', 'hello')
    await waitFor(() => seen.length === 1, 'the note to arrive')
    assert.deepEqual(seen, ['hello'])
  })

  it('an unknown method gives a typed error naming the method', async () => {
    await assert.rejects(a.direct.request(b.peerId, 'no-such-method', null), (err: unknown) => {
      assert.ok(err instanceof UnknownMethodError)
      assert.equal(err.method, 'no-such-method')
      assert.match(err.message, /no handler for method "no-such-method"/)
      return true
    })
  })

  it('a throwing handler sends its message back and the node keeps serving', async () => {
    b.direct.handle('explode', () => { throw new Error('balance would go negative') })
    await assert.rejects(a.direct.request(b.peerId, 'explode', null), (err: unknown) => {
      assert.ok(err instanceof RemoteError)
      assert.equal(err.remoteCode, 'handler-error')
      assert.match(err.message, /balance would go negative/)
      return true
    })
    b.direct.handle('ping', () => 'pong')
    assert.equal(await a.direct.request(b.peerId, 'ping', null), 'pong')
  })

  it('rejects a frame over the receiver\'s limit, and keeps serving', async () => {
    b.direct.handle('sink', (payload) => (payload as Uint8Array).byteLength)
    await assert.rejects(a.direct.request(b.peerId, 'sink', new Uint8Array(200 * 1024)), (err: unknown) => {
      assert.ok(err instanceof RemoteError)
      assert.equal(err.remoteCode, 'frame-too-large')
      assert.match(err.message, /exceeds this node's frame limit of 65536 bytes/)
      return true
    })
    assert.equal(b.direct.stats().rejected, 1)
    assert.equal(await a.direct.request(b.peerId, 'sink', new Uint8Array(1000)), 1000)
  })

  it('refuses to send a frame over the sender\'s own limit', async () => {
    await assert.rejects(b.direct.request(a.peerId, 'anything', new Uint8Array(100 * 1024)), LimitExceededError)
  })

  it('times out against a handler that never answers', async () => {
    b.direct.handle('hang', () => new Promise(() => {}))
    await assert.rejects(a.direct.request(b.peerId, 'hang', null, { timeoutMs: 200 }), TimeoutError)
  })

  it('honours an AbortSignal', async () => {
    const controller = new AbortController()
    const pending = a.direct.request(b.peerId, 'hang', null, { signal: controller.signal })
    controller.abort(new Error('user cancelled'))
    await assert.rejects(pending, /aborted/)
  })

  it('reports a peer it cannot reach', async () => {
    const gone = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const goneId = gone.peerId
    await gone.stop()
    await assert.rejects(a.direct.request(goneId, 'ping', null, { timeoutMs: 3000 }), (err: unknown) => err instanceof PeerUnreachableError || err instanceof TimeoutError)
  })
})
