// A stranger — its own key, member of nothing — attacks a three-member raft group on real nodes
// (memory transport) with every message type at a higher term: heartbeats to make members follow
// it, a snapshot naming itself the only voter, forged appends and votes. The group keeps its
// leader, term, voters and state, and keeps committing (SPEC raft "Threat model").

import assert from 'node:assert/strict'
import { logger } from '@libp2p/logger'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, RaftGroup } from '../../../src/index.ts'
import { createRaftTransport } from '../../../protocols/raft/adapter.ts'
import type { RaftTransport } from '../../../protocols/raft/adapter.ts'
import { message } from '../../../protocols/raft/messages.ts'
import type { Message } from '../../../protocols/raft/messages.ts'
import { parsePeerId } from '../../../protocols/kit/peer-id.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { stopAll, waitFor } from '../../helpers.ts'

const ATTACK_TERM = 68
const ROUNDS = 5

/** Every message a stranger can send a member, each at `term`. */
function hostile (from: string, to: string, term: number): Message[] {
  const entry = { term, index: 2, kind: 'normal' as const, data: encodeCbor({ op: 'put', key: 'k', value: 'forged' }), client: '', seq: 0 }
  return [
    message({ type: 'heartbeat', from, to, term, commit: 1 }),
    message({ type: 'preVote', from, to, term, index: 100, logTerm: term }),
    message({ type: 'vote', from, to, term, index: 100, logTerm: term, force: true }),
    message({ type: 'app', from, to, term, index: 1, logTerm: 1, entries: [entry], commit: 2 }),
    message({ type: 'snap', from, to, term, snapshot: { index: 50, term, voters: [from], data: new Uint8Array(0) } }),
    message({ type: 'timeoutNow', from, to, term: 1 })
  ]
}

describe('raft: a stranger cannot take over a group (real nodes)', function () {
  this.timeout(120_000)
  let members: AgentNode[]
  let stranger: AgentNode
  let groups: RaftGroup[]
  let transport: RaftTransport

  before(async () => {
    const first = await createAgentNode({ transport: 'memory', name: 'm0' })
    members = [first, await createAgentNode({ transport: 'memory', name: 'm1', peers: first.addresses() }), await createAgentNode({ transport: 'memory', name: 'm2', peers: first.addresses() })]
    stranger = await createAgentNode({ transport: 'memory', name: 'stranger', peers: first.addresses() })
    for (const m of members) await stranger.libp2p.dial(m.libp2p.getMultiaddrs()[0]!)
    const ids = members.map(m => m.peerId)
    groups = await Promise.all(members.map(async m => await m.groups.join('g', { members: ids })))
    await groups[0]!.waitForLeader({ timeoutMs: 30_000 })
    await groups[0]!.kv.put('k', 'honest', { timeoutMs: 30_000 })
    // The stranger speaks raft with its own transport (its node's one stops first: one handler per protocol).
    await stranger.groups.stop()
    transport = createRaftTransport({ libp2p: stranger.libp2p, log: logger('test:raft:stranger') })
    await transport.start()
  })

  after(async () => {
    await transport.stop()
    await stopAll([...members, stranger])
  })

  it('higher-term heartbeats, votes, appends and a self-electing snapshot change nothing, and are counted', async () => {
    await waitFor(() => groups.every(g => g.leader() !== null && g.leader() === groups[0]!.leader()), 'every member to agree on a leader')
    const leader = groups[0]!.leader()
    const terms = groups.map(g => g.term())
    const rejected = members.map(m => m.groups.stats().framesRejected)
    for (let round = 0; round < ROUNDS; round++) {
      for (const m of members) for (const frame of hostile(stranger.peerId, m.peerId, ATTACK_TERM + round)) transport.send('g', frame)
    }
    const sent = ROUNDS * hostile(stranger.peerId, members[0]!.peerId, ATTACK_TERM).length
    await waitFor(() => members.every((m, i) => m.groups.stats().framesRejected - rejected[i]! >= sent), 'every member to drop every stranger frame', 60_000)
    for (const [i, g] of groups.entries()) {
      assert.equal(g.leader(), leader, `member ${i} still follows its leader`)
      assert.equal(g.term(), terms[i], `member ${i} kept its term (not ${ATTACK_TERM})`)
      assert.deepEqual(g.members().sort(), members.map(m => m.peerId).sort(), `member ${i} kept its voters`)
    }
    for (const g of groups) assert.equal(await g.kv.get('k', { timeoutMs: 30_000 }), 'honest')
    await groups[2]!.kv.put('after', 'still commits', { timeoutMs: 30_000 })
    assert.equal(await groups[1]!.kv.get('after', { timeoutMs: 30_000 }), 'still commits')
    assert.equal(stranger.libp2p.getConnections(parsePeerId(members[0]!.peerId)).length > 0, true, 'the stranger was not even disconnected: only its frames were dropped')
  })
})
