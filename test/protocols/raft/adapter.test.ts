// The raft transport on real nodes: frames are routed by group name, and a frame for a group this
// node has not joined is dropped and counted exactly like a frame from a non-member.

import assert from 'node:assert/strict'
import { logger } from '@libp2p/logger'
import { createAgentNode } from '../../../src/index.ts'
import { createRaftTransport } from '../../../protocols/raft/adapter.ts'
import { message } from '../../../protocols/raft/messages.ts'
import { parsePeerId } from '../../../protocols/kit/peer-id.ts'
import { stopAll, waitFor } from '../../helpers.ts'

describe('raft transport on real nodes', () => {
  it('drops frames for an unknown group and from a non-member alike, so a stranger cannot list groups', async () => {
    const b = await createAgentNode({ transport: 'memory', name: 'b' })
    const c = await createAgentNode({ transport: 'memory', name: 'c' })
    const stranger = await createAgentNode({ transport: 'memory', name: 'stranger', peers: b.addresses() })
    try {
      await waitFor(() => stranger.libp2p.getConnections(parsePeerId(b.peerId)).length > 0, 'the stranger to connect to b')
      await b.groups.join('g', { members: [b.peerId, c.peerId], electionMs: 60_000, heartbeatMs: 1_000 })
      // The stranger speaks raft with its own transport (its node's one stops first: one handler per protocol).
      await stranger.groups.stop()
      const transport = createRaftTransport({ libp2p: stranger.libp2p, log: logger('test:raft:stranger') })
      await transport.start()
      try {
        const before = b.groups.stats()
        const probe = { type: 'heartbeat' as const, from: stranger.peerId, to: b.peerId, term: 1 }
        transport.send('g', message(probe))
        await waitFor(() => b.groups.stats().framesRejected - before.framesRejected === 1, 'b to drop the non-member frame')
        const afterMember = b.groups.stats()
        transport.send('no-such-group', message(probe))
        await waitFor(() => b.groups.stats().framesRejected - afterMember.framesRejected === 1, 'b to drop the unknown-group frame')
        const after = b.groups.stats()
        assert.equal(after.framesReceived, before.framesReceived, 'neither frame reached a group')
        assert.deepEqual({ ...after, framesRejected: 0 }, { ...afterMember, framesRejected: 0 }, 'both drops moved the same counter only')
      } finally {
        await transport.stop()
      }
    } finally {
      await stopAll([b, c, stranger])
    }
  })
})
