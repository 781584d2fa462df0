import assert from 'node:assert/strict'
import { createAgentNode } from '../../src/index.ts'
import { waitFor, tempDir, stopAll } from '../helpers.ts'

describe('createAgentNode', () => {
  it('keeps its peer id across a restart with the same data dir', async () => {
    const dir = await tempDir()
    try {
      const first = await createAgentNode({ dataDir: dir.path, listen: ['/ip4/127.0.0.1/tcp/0'] })
      const id = first.peerId
      await first.stop()
      const second = await createAgentNode({ dataDir: dir.path, listen: ['/ip4/127.0.0.1/tcp/0'] })
      assert.equal(second.peerId, id)
      await second.stop()
    } finally {
      await dir.remove()
    }
  })

  it('gets a fresh identity without a data dir', async () => {
    const [a, b] = [await createAgentNode({ transport: 'memory' }), await createAgentNode({ transport: 'memory' })]
    assert.notEqual(a.peerId, b.peerId)
    await stopAll([a, b])
  })

  it('talks over the in-process memory transport', async () => {
    const b = await createAgentNode({ transport: 'memory', name: 'b' })
    const a = await createAgentNode({ transport: 'memory', name: 'a', peers: b.addresses() })
    try {
      assert.match(b.addresses()[0]!, /^\/memory\/.+\/p2p\//)
      b.direct.handle('add', (p) => (p as number[]).reduce((x, y) => x + y, 0))
      await waitFor(() => a.libp2p.getConnections().length > 0, 'a to connect to b')
      assert.equal(await a.direct.request(b.peerId, 'add', [1, 2, 3]), 6)
    } finally {
      await stopAll([a, b])
    }
  })

  it('stops cleanly, and stop() is idempotent', async () => {
    const node = await createAgentNode({ transport: 'memory' })
    await Promise.all([node.stop(), node.stop()])
    await node.stop()
    assert.equal(node.running, false)
    assert.equal(node.libp2p.status, 'stopped')
  })

  it('rejects a bad bootstrap address with a message naming it', async () => {
    await assert.rejects(createAgentNode({ peers: ['not-a-multiaddr'] }), /Invalid multiaddr "not-a-multiaddr"/)
  })
})
