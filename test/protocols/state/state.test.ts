import assert from 'node:assert/strict'
import { hlcCompare, HLC_LOGICAL_MAX, HLC_DRIFT_MAX_MS } from '../../../protocols/kit/hlc.ts'
import type { SingleKadDHT, QueryEvent } from '@libp2p/kad-dht'
import { createAgentNode, NoReplicasError, AbortedError, RecordRejectedError } from '../../../src/index.ts'
import type { AgentNode, AgentNodeOptions } from '../../../src/index.ts'
import { dhtKeyOf, encodeRecord, encodeValue, signRecord } from '../../../protocols/state/messages.ts'
import { compareRecords } from '../../../protocols/state/select.ts'
import { waitFor, stopAll } from '../../helpers.ts'
import { identity } from './fixtures.ts'

/** Start `count` memory-transport nodes joined through the first; resolves once every routing table has a peer. */
async function startDhtMesh (count: number, options: (i: number) => AgentNodeOptions = () => ({})): Promise<AgentNode[]> {
  const first = await createAgentNode({ transport: 'memory', name: 'n0', ...options(0) })
  const nodes = [first]
  for (let i = 1; i < count; i++) nodes.push(await createAgentNode({ transport: 'memory', name: `n${i}`, peers: first.addresses(), ...options(i) }))
  await waitFor(() => nodes.every(n => (n.libp2p.services.dht as SingleKadDHT).routingTable.size >= 1), 'every DHT routing table to have a peer')
  return nodes
}

/** Put raw bytes through kad-dht, bypassing node.state's checks; returns how many remote peers stored them. */
async function rawPut (node: AgentNode, key: string, bytes: Uint8Array): Promise<number> {
  let stored = 0
  for await (const event of node.libp2p.services.dht.put(dhtKeyOf(key), bytes) as AsyncIterable<QueryEvent>) {
    if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') stored++
  }
  return stored
}

describe('state: signed DHT records on real nodes (memory transport)', function () {
  this.timeout(60_000)
  let nodes: AgentNode[] = []
  afterEach(async () => { await stopAll(nodes); nodes = [] })

  it('puts on one node and gets on every other; a missing key is undefined', async () => {
    nodes = await startDhtMesh(5)
    const receipt = await nodes[1]!.state.put('jobs/42', { status: 'done', bytes: new Uint8Array([1, 2]) })
    assert.ok(receipt.replicas >= 1, `expected replicas, got ${receipt.replicas}`)
    for (const node of nodes) {
      const entry = await node.state.get('jobs/42')
      assert.deepEqual(entry?.value, { status: 'done', bytes: new Uint8Array([1, 2]) })
      assert.equal(entry?.author, nodes[1]!.peerId)
      assert.equal(entry?.version, 1)
    }
    assert.equal(await nodes[3]!.state.get('jobs/nothing-here'), undefined)
    const second = await nodes[2]!.state.put('jobs/42', 'overwritten')
    assert.equal(second.version, 2, 'a write after reading version 1 is version 2')
    assert.equal((await nodes[4]!.state.get('jobs/42'))?.value, 'overwritten')
  })

  it('every node rejects forged and non-owner records put raw into the DHT', async () => {
    nodes = await startDhtMesh(5)
    const [alice, mallory] = [nodes[0]!, nodes[4]!]
    const cardKey = `agents/${alice.peerId}/card`
    await waitFor(async () => (await nodes[2]!.state.get(cardKey)) !== undefined, "alice's card to be published")
    const nowMs = Date.now()
    // Non-owner: mallory (any identity but alice's) signs a record for alice's key with her own identity.
    const evil = await identity()
    const notOwner = await signRecord({ key: cardKey, value: encodeValue({ peerId: alice.peerId, name: 'evil', capabilities: [], addresses: [] }), author: evil.id, version: 99, hlc: { wallMs: nowMs + 1000, logical: 0 }, expiresAtMs: nowMs + 60_000 }, evil.key)
    // Forged: mallory claims alice wrote a shared key, but signs with her own key.
    const forged = await signRecord({ key: 'shared/config', value: encodeValue('evil'), author: alice.peerId, version: 1, hlc: { wallMs: nowMs, logical: 0 }, expiresAtMs: nowMs + 60_000 }, evil.key)
    assert.equal(await rawPut(mallory, cardKey, encodeRecord(notOwner)), 0, 'no peer may store a non-owner record')
    assert.equal(await rawPut(mallory, 'shared/config', encodeRecord(forged)), 0, 'no peer may store a forged record')
    for (const node of nodes) {
      const card = await node.state.get(cardKey)
      assert.equal(card?.author, alice.peerId, `${node.name} must return alice's own card`)
      assert.equal((card?.value as { name: string }).name, 'n0')
      assert.equal(await node.state.get('shared/config'), undefined, `${node.name} must not return the forged record`)
      // The validator itself refuses both, on every node.
      const validate = node.libp2p.services.dht.validators.am!
      await assert.rejects(Promise.resolve(validate(dhtKeyOf(cardKey), encodeRecord(notOwner))), (err: unknown) => err instanceof RecordRejectedError && err.reason === 'not-owner')
      await assert.rejects(Promise.resolve(validate(dhtKeyOf('shared/config'), encodeRecord(forged))), (err: unknown) => err instanceof RecordRejectedError && err.reason === 'forged')
    }
    await assert.rejects(mallory.state.put(cardKey, 'mine now'), (err: unknown) => err instanceof RecordRejectedError && err.reason === 'not-owner')
  })

  it('resolves concurrent writes to one key the same way on every node', async () => {
    nodes = await startDhtMesh(6)
    const receipts = await Promise.all(nodes.slice(0, 4).map(async (node, i) => ({ author: node.peerId, receipt: await node.state.put('shared/leader-hint', `from-${i}`) })))
    const winner = receipts.reduce((best, r) => {
      const order = compareRecords({ ...r.receipt, key: '', value: new Uint8Array(), author: r.author, signature: new Uint8Array() }, { ...best.receipt, key: '', value: new Uint8Array(), author: best.author, signature: new Uint8Array() })
      return order > 0 ? r : best
    })
    for (const { author, receipt } of receipts) {
      // A refused put names the later write the replicas held then: not always the final winner
      // (with writes a < b < c, a can be refused by replicas that hold b before c arrives).
      if (receipt.supersededBy === undefined) continue
      const beats = hlcCompare(receipt.supersededBy.hlc, receipt.hlc) > 0 || (hlcCompare(receipt.supersededBy.hlc, receipt.hlc) === 0 && receipt.supersededBy.author > author)
      assert.ok(beats, 'a superseded put names a write that beats it')
    }
    for (const node of nodes) {
      const entry = await node.state.get('shared/leader-hint')
      assert.equal(entry?.author, winner.author, `${node.name} picked ${entry?.author}`)
      assert.deepEqual(entry?.hlc, winner.receipt.hlc)
    }
  })

  it('republishes a record before its TTL runs out, and lets it expire once forgotten', async () => {
    nodes = await startDhtMesh(3)
    const ttlMs = 3_000
    const first = await nodes[0]!.state.put('shared/heartbeat', 'alive', { ttlMs })
    await waitFor(async () => ((await nodes[2]!.state.get('shared/heartbeat'))?.expiresAtMs ?? 0) > first.expiresAtMs, 'a republished copy with a later expiry', 10_000)
    await new Promise(resolve => setTimeout(resolve, first.expiresAtMs - Date.now() + 200))
    assert.equal((await nodes[1]!.state.get('shared/heartbeat'))?.value, 'alive', 'still there after the first TTL ran out')
    const republished = (await nodes[1]!.state.get('shared/heartbeat'))!
    assert.deepEqual(republished.hlc, first.hlc, 'a republish keeps the HLC, so it never beats a newer write')
    nodes[0]!.state.forget('shared/heartbeat')
    await waitFor(async () => (await nodes[1]!.state.get('shared/heartbeat')) === undefined, 'the forgotten record to expire everywhere', 10_000)
    assert.equal(await nodes[0]!.state.get('shared/heartbeat'), undefined)
  })

  it('finds agents by capability across five nodes, with no registry', async () => {
    const caps = [['summarise'], ['translate'], ['summarise', 'translate'], [], ['summarise']]
    nodes = await startDhtMesh(5, i => ({ capabilities: caps[i] }))
    const expected = nodes.filter((_, i) => caps[i]!.includes('summarise')).map(n => n.peerId).sort()
    await waitFor(async () => (await nodes[3]!.state.findAgents({ capability: 'summarise' })).length === expected.length, 'three summarisers to be found', 20_000)
    for (const node of nodes) {
      const found = await node.state.findAgents({ capability: 'summarise' })
      assert.deepEqual(found.map(c => c.peerId), expected, `${node.name} found ${found.map(c => c.name).join(',')}`)
      for (const card of found) {
        assert.ok(card.capabilities.includes('summarise'))
        assert.match(card.addresses[0]!, /^\/memory\//)
      }
    }
    assert.deepEqual((await nodes[0]!.state.findAgents({ capability: 'translate' })).map(c => c.name).sort(), ['n1', 'n2'])
    assert.deepEqual(await nodes[0]!.state.findAgents({ capability: 'juggle' }), [])
  })

  it('says clearly when a put reaches no peer, then replicates once a peer appears', async () => {
    const lone = await createAgentNode({ transport: 'memory', name: 'lone' })
    nodes = [lone]
    await assert.rejects(lone.state.put('shared/early', 42), (err: unknown) => {
      assert.ok(err instanceof NoReplicasError, String(err))
      assert.match(err.message, /no DHT peer is reachable/)
      return true
    })
    assert.equal((await lone.state.get('shared/early', { local: true }))?.value, 42, 'kept locally')
    const late = await createAgentNode({ transport: 'memory', name: 'late', peers: lone.addresses() })
    nodes.push(late)
    await waitFor(async () => (await late.state.get('shared/early', { local: true }))?.value === 42, 'the record to be republished to the late peer', 15_000)
  })

  it('honours an AbortSignal and refuses after stop', async () => {
    nodes = await startDhtMesh(2)
    await assert.rejects(nodes[0]!.state.get('shared/x', { signal: AbortSignal.abort(new Error('user gave up')) }), AbortedError)
    await nodes[1]!.stop()
    await assert.rejects(nodes[1]!.state.get('shared/x'), /not running/)
  })

  it('a shared-key record stamped 55 s ahead with the logical counter at its maximum does not stop puts; 61 s ahead is refused', async () => {
    nodes = await startDhtMesh(4)
    const stranger = await identity()
    const nowMs = Date.now()
    const poisoned = { wallMs: nowMs + 55_000, logical: HLC_LOGICAL_MAX - 1 }
    const record = await signRecord({ key: 'shared/clock', value: encodeValue('poison'), author: stranger.id, version: 1, hlc: poisoned, expiresAtMs: nowMs + 60_000 }, stranger.key)
    assert.ok(await rawPut(nodes[3]!, 'shared/clock', encodeRecord(record)) >= 1, 'a valid record from anyone is stored')
    for (const node of nodes) assert.equal((await node.state.get('shared/clock'))?.author, stranger.id, `${node.name} sees the poisoned record`)
    for (const node of nodes) {
      const receipt = await node.state.put('shared/clock', `mine-${node.name}`)
      assert.ok(hlcCompare(receipt.hlc, poisoned) > 0, `${node.name}'s put is stamped after what it read`)
      assert.ok(receipt.hlc.wallMs - Date.now() <= HLC_DRIFT_MAX_MS)
    }
    const tooFar = await signRecord({ key: 'shared/clock-far', value: encodeValue('poison'), author: stranger.id, version: 1, hlc: { wallMs: Date.now() + HLC_DRIFT_MAX_MS + 1000, logical: 0 }, expiresAtMs: Date.now() + 60_000 }, stranger.key)
    assert.equal(await rawPut(nodes[3]!, 'shared/clock-far', encodeRecord(tooFar)), 0, 'no peer stores a record from beyond the drift bound')
  })
})
