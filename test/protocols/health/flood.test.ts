// A stranger floods the health topic with 2,000 invented identities (SPEC health H10): on
// real nodes over loopback TCP, a real newcomer must still be seen by every node, and a
// killed node must still be declared dead.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode, PeerStatus } from '../../../src/index.ts'
import { HEALTH_TOPIC, encodeHealthMessage, encodeSignedHealthFrame, healthSigningBytes } from '../../../protocols/health/messages.ts'
import { HEALTH_RELAYED_PER_PEER_MAX } from '../../../protocols/health/core.ts'
import { waitFor, stopAll } from '../../helpers.ts'
import { startStranger } from '../../stranger.ts'
import type { Stranger } from '../../stranger.ts'

const loopback = ['/ip4/127.0.0.1/tcp/0']
const FAKE_IDS = 2_000

function statusOf (node: AgentNode, peerId: string): PeerStatus | undefined {
  return node.peers().find(p => p.peerId === peerId)?.status
}

/** A health announce signed by `key`, valid in every respect: the id is real, only the node is not. */
async function signedAnnounce (key: PrivateKey, addresses: string[]): Promise<Uint8Array> {
  const body = encodeHealthMessage({ kind: 'announce', peerId: peerIdFromPrivateKey(key).toString(), intervalMs: 1000, incarnation: 1, seq: 1, name: 'fake', capabilities: [], version: '0.1.0', addresses })
  return encodeSignedHealthFrame({ body, signature: await key.sign(healthSigningBytes(body)) })
}

describe('health: a stranger announcing 2,000 invented ids', function () {
  this.timeout(180_000)
  let nodes: AgentNode[] = []
  let stranger: Stranger | undefined
  let child: ChildProcess | undefined
  after(async () => {
    child?.kill('SIGKILL')
    await stopAll(nodes)
    await stranger?.libp2p.stop()
  })

  it('stays bounded: a real newcomer is seen by every node and a killed node is declared dead', async () => {
    // Default thresholds: the bound under test is dead after 10 s of silence.
    const a = await createAgentNode({ listen: loopback, name: 'a' })
    const b = await createAgentNode({ listen: loopback, name: 'b', peers: [a.addresses()[0]!] })
    const c = await createAgentNode({ listen: loopback, name: 'c', peers: [a.addresses()[0]!] })
    nodes = [a, b, c]
    const fixture = fileURLToPath(new URL('./fixtures/node-process.ts', import.meta.url))
    child = spawn(process.execPath, [fixture, JSON.stringify({ listen: loopback, name: 'victim', peers: [a.addresses()[0]] })], { stdio: ['ignore', 'pipe', 'inherit'] })
    const victim = await new Promise<string>((resolve, reject) => {
      child!.once('exit', (code) => { reject(new Error(`victim exited early with ${String(code)}`)) })
      createInterface({ input: child!.stdout! }).once('line', (line) => { resolve((JSON.parse(line) as { peerId: string }).peerId) })
    })
    await waitFor(() => nodes.every(n => statusOf(n, victim) === 'alive'), 'every node to see the victim alive', 30_000)

    // The stranger connects to every node, announces itself (the strongest position a
    // stranger can take: a known relay) and then 2,000 ids it generated, each self-signed.
    stranger = await startStranger()
    const host = stranger.libp2p
    for (const node of nodes) await host.dial(node.libp2p.getMultiaddrs()[0]!)
    const pubsub = host.services.pubsub
    pubsub.subscribe(HEALTH_TOPIC)
    await waitFor(() => nodes.every(n => pubsub.getSubscribers(HEALTH_TOPIC).some(p => p.equals(n.libp2p.peerId))), 'the stranger to see every node subscribed')
    const ownAddresses = host.getMultiaddrs().map(m => m.decapsulateCode(421).toString())
    await pubsub.publish(HEALTH_TOPIC, await signedAnnounce(stranger.privateKey, ownAddresses))
    await waitFor(() => nodes.every(n => statusOf(n, host.peerId.toString()) === 'alive'), 'every node to list the stranger')
    const fakes = new Set<string>()
    for (let i = 0; i < FAKE_IDS; i++) {
      const key = await generateKeyPair('Ed25519')
      fakes.add(peerIdFromPrivateKey(key).toString())
      // The stranger's own address: dials to it fail the Noise handshake for the fake id.
      await pubsub.publish(HEALTH_TOPIC, await signedAnnounce(key, ownAddresses))
    }
    await waitFor(() => nodes.every(n => n.health.stats().refusedRelayFull > 0), 'every node to refuse the stranger\'s surplus', 30_000)

    // A real newcomer joins through b.
    const d = await createAgentNode({ listen: loopback, name: 'newcomer', peers: [b.addresses()[0]!] })
    nodes.push(d)
    await waitFor(() => nodes.every(n => n === d || statusOf(n, d.peerId) === 'alive'), 'every node to see the newcomer alive', 30_000)
    await waitFor(() => [a, b, c].every(n => statusOf(d, n.peerId) === 'alive'), 'the newcomer to see every node alive', 30_000)

    for (const node of nodes) {
      const invented = node.peers().filter(p => fakes.has(p.peerId)).length
      assert.equal(node.health.stats().tableFull, 0, `${node.name}'s table never filled`)
      // Each connection the stranger's ids reach a node through vouches for at most its bound.
      assert.ok(invented <= HEALTH_RELAYED_PER_PEER_MAX * nodes.length, `${node.name} holds ${invented} invented ids`)
    }

    // Kill the victim without a goodbye: dead within 3x the 10 s bound on every node.
    child.kill('SIGKILL')
    await waitFor(() => nodes.every(n => statusOf(n, victim) === 'dead'), 'every node to declare the killed victim dead', 3 * 10_000)
    for (const node of nodes) assert.equal(node.running, true)
  })
})
