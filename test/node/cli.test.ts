// End-to-end tests of the CLI: real `node node/cli.ts` processes (Node 24, the test
// runner's own binary) over loopback TCP, read through their stdout/stderr and exit codes.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { tempDir } from '../helpers.ts'
import { CliProcess, REPO } from './cli-process.ts'
import type { Line } from './cli-process.ts'

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0']
/** Slack for peers to find each other through the bootstrap node. */
const MESH_MS = 45_000

/** Run the CLI to completion (for flags that exit at once). */
async function runToExit (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const cli = new CliProcess(args)
  children.push(cli)
  const { code } = await cli.exited
  return { code, stdout: cli.stdout, stderr: cli.stderr }
}

const loopbackOf = (ready: Line): string => {
  const address = ready.addresses?.find(a => a.startsWith('/ip4/127.0.0.1/'))
  assert.ok(address !== undefined, `no loopback address in ${JSON.stringify(ready)}`)
  return address
}

/** Every process a test started; the suite's afterEach kills any still running. */
let children: CliProcess[] = []

function start (args: string[]): CliProcess {
  const cli = new CliProcess(args)
  children.push(cli)
  return cli
}

describe('CLI (real processes over loopback TCP)', function () {
  this.timeout(120_000)
  afterEach(() => {
    for (const child of children) child.kill()
    children = []
  })

  it('three nodes form a mesh: B and C join through A, and each reports the other two', async () => {
    const a = start(['--json', '--name', 'a', ...LOOPBACK])
    const readyA = await a.ready()
    const joinA = loopbackOf(readyA)
    const b = start(['--json', '--name', 'b', ...LOOPBACK, '--peer', joinA])
    const c = start(['--json', '--name', 'c', ...LOOPBACK, '--peer', joinA])
    const [readyB, readyC] = await Promise.all([b.ready(), c.ready()])
    const ids = new Map([[a, readyA.peerId!], [b, readyB.peerId!], [c, readyC.peerId!]])
    assert.equal(new Set(ids.values()).size, 3, 'three distinct peer ids')
    await Promise.all([...ids].map(async ([cli, self]) => {
      for (const [, other] of ids) {
        if (other === self) continue
        await cli.until(() => cli.lines.find(l => l.event === 'peer:join' && l.peerId === other), `${self} to report peer:join of ${other}`, MESH_MS)
      }
    }))
    const names = new Map([[readyA.peerId, 'a'], [readyB.peerId, 'b'], [readyC.peerId, 'c']])
    for (const cli of ids.keys()) {
      const joins = cli.lines.filter(l => l.event === 'peer:join')
      assert.ok(!joins.some(l => l.peerId === ids.get(cli)), 'a node never reports itself')
      for (const join of joins) assert.equal(join.name, names.get(join.peerId), 'peer:join carries the name the peer announced')
    }
    // C leaves: A and B report peer:leave for it, and C itself says stopped and exits 0.
    c.child.kill('SIGTERM')
    assert.deepEqual(await c.exited, { code: 0, signal: null })
    assert.deepEqual(c.lines.at(-1), { event: 'stopped' })
    await Promise.all([a, b].map(async cli => cli.until(() => cli.lines.find(l => l.event === 'peer:leave' && l.peerId === readyC.peerId), `peer:leave of C at ${ids.get(cli)}`, MESH_MS)))
  })

  it('human mode with no flag but --peer: prints peer id, dialable addresses and a join command that works', async () => {
    const a = start([])
    const banner = await a.until(() => /Start another node on this machine:\n {2}(.+)\n/.exec(a.stdout)?.[1], 'the banner')
    assert.match(a.stdout, /peer id: +12D3KooW\w+/)
    assert.doesNotMatch(a.stdout, /0\.0\.0\.0/, 'never prints the wildcard address')
    const [command, ...args] = banner.split(' --peer ')
    assert.equal(command, 'npm run node --')
    assert.equal(args.length, 1)
    const peerAddress = args[0]!
    assert.match(peerAddress, /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\/12D3KooW\w+$/)
    // Run exactly the printed command's flags (in --json mode to read it): B reports A.
    const b = start(['--peer', peerAddress, '--json'])
    await b.ready()
    const peerIdA = peerAddress.split('/p2p/')[1]
    await b.until(() => b.lines.find(l => l.event === 'peer:join' && l.peerId === peerIdA), 'B to report A', MESH_MS)
    a.child.kill('SIGINT')
    assert.deepEqual(await a.exited, { code: 0, signal: null })
    assert.match(a.stdout, /\nstopped\n$/)
  })

  it('keeps its peer id across a restart with --data-dir, and refuses a data dir in use', async () => {
    const dir = await tempDir()
    try {
      const first = start(['--json', '--data-dir', dir.path, ...LOOPBACK])
      const { peerId } = await first.ready()
      assert.match(peerId!, /^12D3KooW/)
      const rival = await runToExit(['--json', '--data-dir', dir.path, ...LOOPBACK])
      assert.equal(rival.code, 1)
      assert.match(rival.stderr, new RegExp(`--data-dir ${dir.path} is in use by another running node`))
      assert.equal(rival.stdout, '', '--json stdout carries nothing but events')
      first.child.kill('SIGTERM')
      assert.deepEqual(await first.exited, { code: 0, signal: null })
      const second = start(['--json', '--data-dir', dir.path, ...LOOPBACK])
      assert.equal((await second.ready()).peerId, peerId)
      second.child.kill('SIGTERM')
      assert.equal((await second.exited).code, 0)
    } finally {
      await dir.remove()
    }
  })

  it('a --listen port already taken exits 1 with a hint, and prints no ready line', async () => {
    const first = start(['--json', ...LOOPBACK])
    const taken = loopbackOf(await first.ready()).split('/p2p/')[0]!
    const second = await runToExit(['--json', '--listen', taken])
    assert.equal(second.code, 1)
    assert.match(second.stderr, /could not start the node: .*EADDRINUSE/s)
    assert.match(second.stderr, /another process already listens on/)
    assert.equal(second.stdout, '')
  })

  it('SIGTERM in --json mode: ready, then stopped, exit 0, and nothing but JSON on stdout', async () => {
    const cli = start(['--json', ...LOOPBACK])
    const ready = await cli.ready()
    assert.ok(ready.addresses!.length > 0)
    assert.equal(typeof ready.name, 'string')
    cli.child.kill('SIGTERM')
    assert.deepEqual(await cli.exited, { code: 0, signal: null })
    assert.deepEqual(cli.lines.map(l => l.event), ['ready', 'stopped'])
    assert.equal(cli.stdout.split('\n').filter(l => l !== '').length, 2)
    assert.match(cli.stderr, /SIGTERM: stopping/)
  })

  const badUsage: Array<[string[], RegExp]> = [
    [['--bogus'], /^agentmesh: --bogus: unknown flag/m],
    [['--peer'], /^agentmesh: --peer: missing value/m],
    [['--peer', 'not-an-address'], /^agentmesh: --peer: "not-an-address" is not a valid multiaddr/m],
    [['--peer', '/ip4/127.0.0.1/tcp/4001'], /^agentmesh: --peer: .* lacks \/p2p\/<peer-id>/m],
    [['--listen', '/ip4/127.0.0.1/udp/1'], /^agentmesh: --listen: .* is not a TCP listen address/m],
    [['--name', 'a', '--name', 'b'], /^agentmesh: --name: given more than once/m],
    [['--json=1'], /^agentmesh: --json: takes no value/m]
  ]
  for (const [args, message] of badUsage) {
    it(`bad usage exits 2 naming the flag: ${args.join(' ')}`, async () => {
      const { code, stdout, stderr } = await runToExit(args)
      assert.equal(code, 2)
      assert.match(stderr, message)
      assert.match(stderr, /^usage: npm run node -- /m)
      assert.equal(stdout, '')
    })
  }

  it('--version prints the package version; --help lists every flag', async () => {
    const manifest = JSON.parse(await readFile(new URL('package.json', `file://${REPO}`), 'utf8')) as { version: string }
    const [version, help] = await Promise.all([runToExit(['--version']), runToExit(['--help'])])
    assert.deepEqual(version, { code: 0, stdout: `${manifest.version}\n`, stderr: '' })
    assert.equal(help.code, 0)
    for (const flag of ['--peer', '--listen', '--data-dir', '--name', '--json', '--help', '--version']) assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`)
  })
})
