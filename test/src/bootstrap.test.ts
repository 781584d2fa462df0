// Bootstrap peers: their addresses are usable at once, and bad ones are refused up front.

import assert from 'node:assert/strict'
import { createAgentNode } from '../../src/index.ts'
import { stopAll } from '../helpers.ts'

describe('bootstrap peers', () => {
  it('a node can call a bootstrap peer by peer id as soon as createAgentNode returns', async () => {
    const alice = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const bob = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: alice.addresses() })
    try {
      alice.direct.handle('echo', (payload) => payload)
      // No wait for the bootstrap dial: the address from `peers` is already in bob's peer store.
      assert.deepEqual(await bob.direct.request(alice.peerId, 'echo', { hi: 1 }, { timeoutMs: 10_000 }), { hi: 1 })
    } finally {
      await stopAll([alice, bob])
    }
  })

  it('refuses a bootstrap address whose /p2p/ part is not a peer id, before starting anything', async () => {
    await assert.rejects(createAgentNode({ peers: ['/ip4/127.0.0.1/tcp/4001/p2p/notapeer'] }), /Invalid peer id "notapeer" in multiaddr/)
  })
})
