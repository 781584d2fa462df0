// Inbound connection limits on real TCP (src/libp2p.ts): sockets that connect and never
// start the handshake must not lock honest newcomers out of a node.

import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import { waitFor, stopAll } from '../helpers.ts'

const SILENT_SOCKETS = 50

describe('libp2p limits: silent sockets', function () {
  this.timeout(60_000)
  let nodes: AgentNode[] = []
  const sockets = new Set<Socket>()
  let attacking = true
  after(async () => {
    attacking = false
    for (const socket of sockets) socket.destroy()
    await stopAll(nodes)
  })

  it(`a node held by ${SILENT_SOCKETS} sockets that send nothing still lets a real node connect and join`, async () => {
    const a = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'a' })
    nodes = [a]
    const port = Number(a.libp2p.getMultiaddrs()[0]!.toString().split('/')[4])
    // Each socket comes from its own loopback address (127.0.0.2, .3, …), as from many hosts,
    // so libp2p's per-host rate limit does not stop them; a socket the node closes is reopened
    // 20 ms later, so the attack keeps its sockets open for the whole test.
    const hold = (i: number): void => {
      if (!attacking) return
      const socket = connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${2 + i}` })
      sockets.add(socket)
      socket.on('error', () => { /* refused or reset by the node: the close handler reopens it */ })
      socket.on('close', () => { sockets.delete(socket); setTimeout(hold, 20, i) })
    }
    for (let i = 0; i < SILENT_SOCKETS; i++) hold(i)
    // libp2p's default pending limit (10) would refuse and close all but ten of them.
    await waitFor(() => [...sockets].filter(s => s.readyState === 'open').length >= 10, 'the silent sockets to be open')

    const b = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], name: 'b', peers: [a.addresses()[0]!] })
    nodes.push(b)
    await waitFor(() => a.peers().some(p => p.peerId === b.peerId && p.status === 'alive') && b.peers().some(p => p.peerId === a.peerId && p.status === 'alive'), 'a and b to list each other alive', 30_000)
    assert.ok([...sockets].filter(s => s.readyState === 'open').length >= 10, 'the attack was still on when b joined')
    a.direct.handle('ping', () => 'pong')
    assert.equal(await b.direct.request(a.peerId, 'ping', null), 'pong')
  })
})
