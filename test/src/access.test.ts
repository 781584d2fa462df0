import assert from 'node:assert/strict'
import { stat, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'
import { generateSwarmKey, parseSwarmKey, writeSwarmKeyFile, readSwarmKeyFile, readAllowFile, AccessConfigError } from '../../src/access.ts'
import { waitFor, tempDir, stopAll } from '../helpers.ts'

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

/** Record every peer:join a node reports. */
function joins (node: AgentNode): Set<string> {
  const seen = new Set<string>()
  node.addEventListener('peer:join', (e) => { seen.add(e.detail.peerId) })
  return seen
}

/** Dial `to` from `from` directly; resolves to the error, or undefined when the dial succeeded. */
async function dialError (from: AgentNode, to: AgentNode): Promise<Error | undefined> {
  try {
    await from.libp2p.dial(multiaddr(to.addresses()[0]!), { signal: AbortSignal.timeout(20_000) })
    return undefined
  } catch (err) {
    return err as Error
  }
}

describe('swarm keys', () => {
  it('generates keys in the go-ipfs format that parse back', () => {
    const text = generateSwarmKey()
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    assert.notEqual(generateSwarmKey(), text)
    assert.equal(new TextDecoder().decode(parseSwarmKey(text)), text.trimEnd())
  })

  it('rejects malformed keys with a message saying why', () => {
    assert.throws(() => parseSwarmKey('hello'), /does not start with \/key\/swarm\/psk\/1\.0\.0\//)
    assert.throws(() => parseSwarmKey('/key/swarm/psk/1.0.0/\n/base64/\nAAAA'), /encoding "\/base64\/" is not supported/)
    assert.throws(() => parseSwarmKey('/key/swarm/psk/1.0.0/\n/base16/\nabcd'), /64 hex digits/)
  })

  it('writes a key file readable by its owner only, and never overwrites one', async () => {
    const dir = await tempDir()
    try {
      const path = join(dir.path, 'swarm.key')
      await writeSwarmKeyFile(path)
      assert.equal((await stat(path)).mode & 0o777, 0o600)
      const before = await readFile(path, 'utf8')
      await assert.rejects(writeSwarmKeyFile(path), AccessConfigError)
      assert.equal(await readFile(path, 'utf8'), before)
      assert.ok((await readSwarmKeyFile(path)).byteLength > 0)
    } finally {
      await dir.remove()
    }
  })

  it('meshes nodes with the same key; a node with another key or none never joins', async () => {
    const key = generateSwarmKey()
    const a = await createAgentNode({ listen: LOOPBACK, swarmKey: key, name: 'a' })
    const seenByA = joins(a)
    const b = await createAgentNode({ listen: LOOPBACK, swarmKey: key, name: 'b', peers: [a.addresses()[0]!] })
    const seenByB = joins(b)
    const otherKey = await createAgentNode({ listen: LOOPBACK, swarmKey: generateSwarmKey(), name: 'other-key' })
    const noKey = await createAgentNode({ listen: LOOPBACK, name: 'no-key' })
    const seenByOutsiders = [joins(otherKey), joins(noKey)]
    const mismatchesOfA: string[] = []
    a.addEventListener('swarm-key:mismatch', (e) => { mismatchesOfA.push(e.detail.remoteAddress) })
    const mismatchesOfOther: string[] = []
    otherKey.addEventListener('swarm-key:mismatch', (e) => { mismatchesOfOther.push(e.detail.remoteAddress) })
    try {
      await waitFor(() => seenByA.has(b.peerId) && seenByB.has(a.peerId), 'a and b to join each other')
      for (const outsider of [otherKey, noKey]) {
        assert.ok(await dialError(outsider, a) !== undefined, `${outsider.name} must fail to dial a`)
        assert.ok(await dialError(a, outsider) !== undefined, `a must fail to dial ${outsider.name}`)
      }
      // Both sides that hold a key say why: a about both outsiders, the other-key node about a.
      await waitFor(() => mismatchesOfA.length >= 2, 'a to report two connections with another key or none')
      await waitFor(() => mismatchesOfOther.length >= 1, 'the other-key node to report its connections with a')
      // Members keep talking after the refused dials: b hears a's direct reply.
      a.direct.handle('ping', () => 'pong')
      assert.equal(await b.direct.request(a.peerId, 'ping', null), 'pong')
      for (const outsider of [otherKey, noKey]) {
        assert.ok(!seenByA.has(outsider.peerId) && !seenByB.has(outsider.peerId), `${outsider.name} joined a member`)
        assert.equal(a.libp2p.getConnections(outsider.libp2p.peerId).length, 0)
      }
      for (const seen of seenByOutsiders) assert.ok(!seen.has(a.peerId) && !seen.has(b.peerId), 'an outsider saw a member join')
    } finally {
      await stopAll([a, b, otherKey, noKey])
    }
  })
})

describe('allowlists', () => {
  it('reads allowlist files with comments and rejects a bad peer id', async () => {
    const dir = await tempDir()
    try {
      const node = await createAgentNode({ transport: 'memory' })
      await node.stop()
      const good = join(dir.path, 'allow')
      const { writeFile } = await import('node:fs/promises')
      await writeFile(good, `# agents of the team\n${node.peerId}  # a\n\n`)
      assert.deepEqual([...await readAllowFile(good)], [node.peerId])
      const bad = join(dir.path, 'bad')
      await writeFile(bad, 'not-a-peer-id\n')
      await assert.rejects(readAllowFile(bad), /"not-a-peer-id" is not a peer id/)
    } finally {
      await dir.remove()
    }
  })

  it('lets listed peers connect and refuses an unlisted one with the swarm key, both ways', async () => {
    const key = generateSwarmKey()
    const [a, b, stranger] = await Promise.all(['a', 'b', 'stranger'].map(async name => createAgentNode({ listen: LOOPBACK, swarmKey: key, name, allow: [] }))) as [AgentNode, AgentNode, AgentNode]
    const seenByA = joins(a)
    const seenByB = joins(b)
    const refusedByA: Array<{ peerId: string, direction: string }> = []
    a.addEventListener('peer:refused', (e) => { refusedByA.push(e.detail) })
    try {
      await a.setAllowList([b.peerId])
      await b.setAllowList([a.peerId])
      await stranger.setAllowList([a.peerId, b.peerId])
      assert.equal(await dialError(b, a), undefined)
      await waitFor(() => seenByA.has(b.peerId) && seenByB.has(a.peerId), 'a and b to join each other')
      // Inbound: the stranger holds the key and lists a, but a does not list it.
      // The dialer may finish its side of the handshake before a closes the connection, so the
      // dial itself can succeed; what counts is that a refuses it and no connection stays.
      await dialError(stranger, a)
      await waitFor(() => refusedByA.some(r => r.peerId === stranger.peerId && r.direction === 'inbound'), 'a to refuse the stranger')
      await waitFor(() => stranger.libp2p.getConnections(a.libp2p.peerId).length === 0, 'the stranger to lose its connection to a')
      // Outbound: a does not dial it either.
      assert.ok(await dialError(a, stranger) !== undefined, 'a must not dial the stranger')
      assert.ok(refusedByA.some(r => r.peerId === stranger.peerId && r.direction === 'outbound'))
      assert.ok(!seenByA.has(stranger.peerId))
      assert.equal(a.libp2p.getConnections(stranger.libp2p.peerId).length, 0)
      assert.ok(a.allowList!.stats.refusedInbound >= 1)
      // Taking b off a's list hangs up on it.
      await a.setAllowList([])
      assert.equal(a.libp2p.getConnections(b.libp2p.peerId).length, 0)
      await dialError(b, a)
      await waitFor(() => b.libp2p.getConnections(a.libp2p.peerId).length === 0, 'b to be refused once removed')
    } finally {
      await stopAll([a, b, stranger])
    }
  })

  it('refuses bad options before the node starts', async () => {
    await assert.rejects(createAgentNode({ transport: 'memory', allow: ['nope'] }), /"nope" is not a peer id/)
    await assert.rejects(createAgentNode({ transport: 'memory', swarmKey: 'nope' }), AccessConfigError)
  })
})
