// A node whose bootstrap peers cannot be reached says so (`peer:unreachable`) and keeps dialling:
// a peer that comes up later at that address is still joined. Real nodes over loopback TCP.

import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode, UnreachablePeer } from '../../src/index.ts'
import { classifyDialError } from '../../src/bootstrap.ts'
import { tempDir, waitFor } from '../helpers.ts'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return port
}

describe('peer:unreachable (real nodes)', function () {
  this.timeout(120_000)
  const nodes: AgentNode[] = []

  it('reports a refused bootstrap address, then joins the node that comes up there', async () => {
    const port = await freePort()
    // The node that will listen there later keeps its identity in a data dir, so its address is known up front.
    const data = await tempDir()
    try {
      const first = await createAgentNode({ dataDir: data.path, listen: [] })
      const id = first.peerId
      await first.stop()
      const address = `/ip4/127.0.0.1/tcp/${port}/p2p/${id}`
      const node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [address] })
      nodes.push(node)
      const reported = await new Promise<UnreachablePeer[]>((resolve) => { node.addEventListener('peer:unreachable', (e) => { resolve(e.detail.peers) }, { once: true }) })
      assert.deepEqual(reported.map(p => [p.address, p.reason]), [[address, 'refused']])
      // It keeps dialling: start the node it names, at that address, and it joins.
      const target = await createAgentNode({ dataDir: data.path, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
      nodes.push(target)
      await waitFor(() => node.peers().some(p => p.peerId === id && p.status === 'alive'), 'the late peer to be joined', 60_000)
    } finally {
      await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
      await data.remove()
    }
  })

  it('classifies dial errors into reasons a user can act on', () => {
    assert.equal(classifyDialError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })).reason, 'refused')
    assert.equal(classifyDialError(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })).reason, 'timed out')
    const mismatch = classifyDialError(new Error('Payload identity key 12D3KooWA does not match expected remote identity key 12D3KooWB'))
    assert.deepEqual(mismatch, { reason: 'peer id mismatch', detail: 'the node at that address is 12D3KooWA' })
    assert.equal(classifyDialError(Object.assign(new Error('connect EHOSTUNREACH'), { code: 'EHOSTUNREACH' })).reason, 'no route')
    assert.equal(classifyDialError(new Error('something else')).reason, 'failed')
  })
})
