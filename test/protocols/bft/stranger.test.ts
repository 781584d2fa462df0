// A stranger — its own key, member of nothing — speaks BFT to a four-member group on real nodes
// (memory transport): it submits items and claims a far greater height. Members drop and count
// every frame, answer none, and commit only their own items (SPEC bft "Threat model").

import assert from 'node:assert/strict'
import { logger } from '@libp2p/logger'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, BftGroup } from '../../../src/index.ts'
import { createLibp2pPeerLinks } from '../../../protocols/kit/libp2p-peer-link.ts'
import type { PeerLinks } from '../../../protocols/kit/peer-link.ts'
import { BFT_FRAME_BYTES_MAX, BFT_PROTOCOL, encodeMessage } from '../../../protocols/bft/messages.ts'
import { encodeItem } from '../../../protocols/bft/adapter-group.ts'
import { stopAll, waitFor } from '../../helpers.ts'

const ROUNDS = 5

describe('bft: a stranger is not heard (real nodes)', function () {
  this.timeout(120_000)
  let members: AgentNode[]
  let stranger: AgentNode
  let groups: BftGroup[]
  let links: PeerLinks
  /** Frames any member sent the stranger. */
  let answered = 0

  before(async () => {
    const first = await createAgentNode({ transport: 'memory', name: 'm0' })
    members = [first]
    for (let i = 1; i < 4; i++) members.push(await createAgentNode({ transport: 'memory', name: `m${i}`, peers: first.addresses() }))
    for (const a of members) for (const b of members) if (a !== b) await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    stranger = await createAgentNode({ transport: 'memory', name: 'stranger', peers: first.addresses() })
    for (const m of members) await stranger.libp2p.dial(m.libp2p.getMultiaddrs()[0]!)
    const ids = members.map(m => m.peerId)
    groups = await Promise.all(members.map(async m => await m.bft.join('ledger', { members: ids })))
    // The stranger speaks BFT on its own link (its node's bft service stops first: one handler per protocol).
    await stranger.bft.stop()
    links = createLibp2pPeerLinks({ libp2p: stranger.libp2p, log: logger('test:bft:stranger') }, { protocol: BFT_PROTOCOL, frameBytesMax: BFT_FRAME_BYTES_MAX, queueBytesMax: 2 * BFT_FRAME_BYTES_MAX, keepAliveTag: 'agentmesh-test' })
    links.onFrame(() => { answered++ })
    await links.start()
  })

  after(async () => {
    await links.stop()
    await stopAll([...members, stranger])
  })

  it('drops and counts its submissions and height claims, answers nothing, and commits only members\' items', async () => {
    const rejected = groups.map(g => g.status().rejected)
    const forged = { from: 'the stranger' }
    for (let round = 0; round < ROUNDS; round++) {
      for (const m of members) {
        links.send(m.peerId, encodeMessage({ type: 'submit', groupId: 'ledger', items: [encodeItem(forged, { nonce: Uint8Array.of(round), lastHeight: 1_000 })] }))
        links.send(m.peerId, encodeMessage({ type: 'status', groupId: 'ledger', height: 1_000_000 }))
      }
    }
    await waitFor(() => groups.every((g, i) => g.status().rejected - rejected[i]! >= 2 * ROUNDS), 'every member to drop every stranger frame', 60_000)
    for (const g of groups) assert.equal(g.status().pending, 0, 'no stranger item entered a pending pool')
    const decision = await groups[1]!.propose({ from: 'a member' }, { timeoutMs: 30_000 })
    assert.deepEqual(decision.value, { from: 'a member' })
    for (const g of groups) {
      await waitFor(() => g.status().committedHeight >= decision.height, 'every member to commit')
      const items = (await g.log()).reduce((n, d) => n + d.block.items.length, 0)
      assert.equal(items, 1, 'the only committed item is the member\'s')
    }
    assert.equal(answered, 0, 'no member sent the stranger a frame')
  })
})
