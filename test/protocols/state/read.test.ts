import assert from 'node:assert/strict'
import fc from 'fast-check'
import { xor } from 'uint8arrays/xor'
import { xorCompare } from 'uint8arrays/xor-compare'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { readOrder, kadIdOf } from '../../../protocols/state/replicas.ts'
import type { ReplicaCandidate } from '../../../protocols/state/replicas.ts'
import {
  decodeReadRequest, decodeReadResponse, encodeReadRequest, encodeReadResponse, encodeRecord, encodeValue, signRecord,
  READ_REQUEST_BYTES_MAX, RECORD_BYTES_MAX
} from '../../../protocols/state/messages.ts'
import { STATE_READ_PROTOCOL } from '../../../protocols/state/adapter-read.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'
import { waitFor, stopAll } from '../../helpers.ts'
import { identity } from './fixtures.ts'

/** A candidate whose Kademlia id is `sha256(label)`. */
function candidate (label: string, connected: boolean): ReplicaCandidate {
  return { peerId: label, kadId: kadIdOf(new TextEncoder().encode(label)), connected }
}

const KEY_ID = kadIdOf(new TextEncoder().encode('/am/jobs/1'))
const byDistance = (a: ReplicaCandidate, b: ReplicaCandidate): number => xorCompare(xor(a.kadId, KEY_ID), xor(b.kadId, KEY_ID))

describe('state: one-hop read order (pure)', () => {
  it('asks only the closest ids, connected ones first, each group closest first', () => {
    const self = kadIdOf(new TextEncoder().encode('self'))
    const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((label, i) => candidate(label, i % 3 === 0))
    const ranked = [...all, { peerId: 'self', kadId: self, connected: false }].sort(byDistance)
    const closest = ranked.slice(0, 4).filter(c => c.peerId !== 'self')
    const expected = [...closest.filter(c => c.connected), ...closest.filter(c => !c.connected)].map(c => c.peerId)
    assert.deepEqual(readOrder(KEY_ID, self, all, 4), expected)
  })

  it('counts this node among the closest but never asks it', () => {
    // With self closest of all, the 3 closest leave room for only 2 peers.
    const peers = ['p1', 'p2', 'p3', 'p4'].map(label => candidate(label, false))
    const order = readOrder(KEY_ID, KEY_ID, peers, 3)
    assert.deepEqual(order, [...peers].sort(byDistance).slice(0, 2).map(c => c.peerId))
  })

  it('returns nothing without members', () => {
    assert.deepEqual(readOrder(KEY_ID, kadIdOf(new Uint8Array([1])), [], 20), [])
  })

  it('property: a connected-first, distance-sorted subset of the k closest', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 0, maxLength: 40 }),
      fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      fc.integer({ min: 1, max: 25 }),
      (labels, connected, k) => {
        const candidates = labels.map((label, i) => candidate(`peer-${label}`, connected[i]!))
        const self = kadIdOf(new TextEncoder().encode('self-node'))
        const order = readOrder(KEY_ID, self, candidates, k)
        const ranked = [...candidates, { peerId: 'self', kadId: self, connected: false }].sort(byDistance).slice(0, k)
        const expectedSet = new Set(ranked.filter(c => c.peerId !== 'self').map(c => c.peerId))
        assert.deepEqual(new Set(order), expectedSet)
        const byId = new Map(candidates.map(c => [c.peerId, c]))
        const rows = order.map(id => byId.get(id)!)
        const firstUnconnected = rows.findIndex(c => !c.connected)
        if (firstUnconnected !== -1) assert.ok(rows.slice(firstUnconnected).every(c => !c.connected), 'connected peers come first')
        for (let i = 1; i < rows.length; i++) {
          if (rows[i - 1]!.connected === rows[i]!.connected) assert.equal(byDistance(rows[i - 1]!, rows[i]!), -1, 'closest first within a group')
        }
      }
    ))
  })
})

describe('state: one-hop read codec', () => {
  it('round-trips a request and both kinds of response', () => {
    assert.equal(decodeReadRequest(encodeReadRequest('jobs/42')), 'jobs/42')
    assert.equal(decodeReadResponse(encodeReadResponse(null)), null)
    assert.deepEqual(decodeReadResponse(encodeReadResponse(new Uint8Array([1, 2, 3]))), new Uint8Array([1, 2, 3]))
  })

  const bad: Array<[string, () => unknown, new (...args: never[]) => Error, RegExp]> = [
    ['garbage request', () => decodeReadRequest(new Uint8Array([0xff, 0x00])), DecodeError, /state read request/],
    ['request with a bad key', () => decodeReadRequest(encodeCbor({ v: 1, key: 'a//b' })), DecodeError, /segments must be non-empty/],
    ['request of another version', () => decodeReadRequest(encodeCbor({ v: 2, key: 'a' })), DecodeError, /unsupported format version 2/],
    ['request with an extra field', () => decodeReadRequest(encodeCbor({ v: 1, key: 'a', more: 1 })), DecodeError, /unknown field "more"/],
    ['oversized request', () => decodeReadRequest(new Uint8Array(READ_REQUEST_BYTES_MAX + 1)), LimitExceededError, /exceeds/],
    ['response that is not a map', () => decodeReadResponse(encodeCbor([1])), DecodeError, /not a map/],
    ['response record of the wrong type', () => decodeReadResponse(encodeCbor({ v: 1, record: 'text' })), DecodeError, /record must be bytes or null/],
    ['response record past RECORD_BYTES_MAX', () => decodeReadResponse(encodeCbor({ v: 1, record: new Uint8Array(RECORD_BYTES_MAX + 1) })), LimitExceededError, /RECORD_BYTES_MAX/]
  ]
  for (const [name, run, type, message] of bad) {
    it(`rejects a ${name}`, () => {
      assert.throws(run, (err: unknown) => err instanceof type && message.test((err as Error).message))
    })
  }
})

describe('state: one-hop reads on real nodes (memory transport)', function () {
  this.timeout(60_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  /** `count` nodes joined through the first; resolves once every node knows every other (health) and has a DHT peer. */
  async function settledMesh (count: number): Promise<AgentNode[]> {
    const first = await createAgentNode({ transport: 'memory', name: 'r0' })
    const mesh = [first]
    for (let i = 1; i < count; i++) mesh.push(await createAgentNode({ transport: 'memory', name: `r${i}`, peers: first.addresses() }))
    await waitFor(() => mesh.every(n => (n.libp2p.services.dht as SingleKadDHT).routingTable.size >= 1 && n.peers().length === count - 1), 'every node to know every other')
    return mesh
  }

  it('answers a get from the replicas in one hop, without walking the DHT', async () => {
    nodes = await settledMesh(5)
    const receipt = await nodes[0]!.state.put('jobs/7', { done: true })
    assert.equal(receipt.replicas, 4)
    const reader = nodes[3]!
    const before = reader.state.stats()
    assert.deepEqual((await reader.state.get('jobs/7'))?.value, { done: true })
    const after = reader.state.stats()
    assert.equal(after.getsOneHop - before.getsOneHop, 1, 'the get had its quorum from one-hop reads')
    assert.equal(after.getsWalked, before.getsWalked, 'no DHT walk was needed')
    assert.ok(after.reads.hits - before.reads.hits >= 2, 'two replicas answered (the local copy is the third)')
  })

  it('drops a forged copy from a replica and still returns the real record', async () => {
    nodes = await settledMesh(5)
    await nodes[0]!.state.put('shared/config', 'real')
    // r1 serves a copy that claims r0 wrote "evil", signed with another key.
    const mallory = await identity()
    const nowMs = Date.now()
    const forged = encodeRecord(await signRecord({ key: 'shared/config', value: encodeValue('evil'), author: nodes[0]!.peerId, version: 9, hlc: { wallMs: nowMs + 1000, logical: 0 }, expiresAtMs: nowMs + 60_000 }, mallory.key))
    const liar = nodes[1]!
    await liar.libp2p.unhandle(STATE_READ_PROTOCOL)
    await liar.libp2p.handle(STATE_READ_PROTOCOL, async (stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(encodeReadResponse(forged))
      await stream.close()
    })
    const reader = nodes[4]!
    // quorum 5 asks every peer, the liar included.
    const entry = await reader.state.get('shared/config', { quorum: 5 })
    assert.equal(entry?.value, 'real')
    assert.ok(reader.state.stats().reads.rejected >= 1, 'the forged copy was rejected')
  })

  it('refuses malformed and oversized requests, and keeps serving', async () => {
    nodes = await settledMesh(3)
    await nodes[0]!.state.put('jobs/9', 9)
    const [server, client] = [nodes[1]!, nodes[2]!]
    const send = async (bytes: Uint8Array): Promise<void> => {
      const stream = await client.libp2p.dialProtocol(peerIdFromString(server.peerId), STATE_READ_PROTOCOL)
      await lpStream(stream).write(bytes)
      await stream.close().catch(() => {})
    }
    await send(new Uint8Array([0xff, 0xfe, 0xfd]))
    await send(new Uint8Array(READ_REQUEST_BYTES_MAX + 100))
    await waitFor(() => server.state.stats().reads.serveErrors >= 2, 'both bad requests to be refused')
    const before = client.state.stats()
    assert.equal((await client.state.get('jobs/9'))?.value, 9)
    assert.equal(client.state.stats().getsOneHop - before.getsOneHop, 1, 'the server still answers one-hop reads')
  })

  it('falls back to the DHT walk for a key no replica holds, and returns undefined', async () => {
    nodes = await settledMesh(4)
    const reader = nodes[2]!
    const before = reader.state.stats()
    assert.equal(await reader.state.get('jobs/none'), undefined)
    const after = reader.state.stats()
    assert.equal(after.getsWalked - before.getsWalked, 1)
    assert.equal(after.reads.misses - before.reads.misses, 3, 'every other member was asked first, and had none')
  })
})
