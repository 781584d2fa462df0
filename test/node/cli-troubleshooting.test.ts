// What a user sees when something goes wrong: real CLI processes over loopback TCP, given a
// `--peer` nobody answers at, a `--peer` with the wrong peer id, and similar first-run mistakes.

import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { CliProcess } from './cli-process.ts'
import type { Line } from './cli-process.ts'
import { tempDir } from '../helpers.ts'

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0']
/** The node warns after BOOTSTRAP_UNREACHABLE_WARN_MS (6 s); slack for a loaded machine. */
const WARN_MS = 45_000
/** A peer id no running node has (a valid Ed25519 one). */
const STRANGER_ID = '12D3KooWJqJSvTXScXywQa8aTzeuzwS3EJus1erFjwUCZvDkPMDQ'

/** A loopback TCP port nothing listens on: bound by the OS, then released. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve, reject) => { server.close((err) => { if (err !== undefined) reject(err); else resolve() }) })
  return port
}

let children: CliProcess[] = []
function start (args: string[]): CliProcess {
  const cli = new CliProcess(args)
  children.push(cli)
  return cli
}

describe('CLI troubleshooting (real processes over loopback TCP)', function () {
  this.timeout(120_000)
  afterEach(() => {
    for (const child of children) child.kill()
    children = []
  })

  it('a --peer where nothing listens: a peer:unreachable line saying "refused", and the node keeps running', async () => {
    const address = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${STRANGER_ID}`
    const cli = start(['--json', ...LOOPBACK, '--peer', address])
    await cli.ready()
    const line = await cli.until(() => cli.lines.find(l => l.event === 'peer:unreachable'), 'a peer:unreachable line', WARN_MS)
    assert.equal(line.address, address)
    assert.equal(line.reason, 'refused')
    assert.match(String(line.detail), /ECONNREFUSED/)
    // A warning, not a failure: the node still runs and stops cleanly.
    assert.equal(cli.child.exitCode, null)
    cli.child.kill('SIGTERM')
    assert.deepEqual(await cli.exited, { code: 0, signal: null })
    assert.deepEqual(cli.lines.at(-1), { event: 'stopped' })
  })

  it('a --peer with the wrong peer id: the human warning names the address, "peer id mismatch" and the id found there', async () => {
    const a = start(['--json', ...LOOPBACK])
    const readyA: Line = await a.ready()
    const realAddress = readyA.addresses!.find(x => x.startsWith('/ip4/127.0.0.1/'))!
    const wrong = realAddress.replace(readyA.peerId!, STRANGER_ID)
    const b = start([...LOOPBACK, '--peer', wrong])
    await b.until(() => /peer id mismatch/.test(b.stderr) ? true : undefined, 'the unreachable warning', WARN_MS)
    assert.match(b.stderr, /warning: could not reach any --peer after \d+ s; still retrying/)
    assert.ok(b.stderr.includes(wrong), `the warning names the address; stderr:\n${b.stderr}`)
    assert.ok(b.stderr.includes(`the node at that address is ${readyA.peerId!}`), `the warning says who answered; stderr:\n${b.stderr}`)
    assert.match(b.stderr, /copy the \/p2p\/<peer-id> that node printed/)
  })
})

describe('CLI start-up failures (real processes)', function () {
  this.timeout(120_000)
  afterEach(() => {
    for (const child of children) child.kill()
    children = []
  })

  it('SIGINT during start-up stops it cleanly: exit 0, and a ready line is always followed by stopped', async () => {
    const cli = start(['--json', ...LOOPBACK])
    // The line comes once the signal handlers are installed, before libp2p is even loaded.
    await cli.until(() => cli.stderr.includes('starting the node') ? true : undefined, 'the starting line')
    cli.child.kill('SIGINT')
    assert.deepEqual(await cli.exited, { code: 0, signal: null })
    // Start-up that waits on I/O is cut short; one that finishes first is stopped right after.
    if (!/stopped during start-up/.test(cli.stderr)) assert.deepEqual(cli.lines.map(l => l.event), ['ready', 'stopped'])
  })

  it('a --listen address no interface has: exit 1, the address and reason, no stack trace or libp2p advice', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a real interface.
    const cli = start(['--json', '--listen', '/ip4/192.0.2.1/tcp/4001'])
    assert.equal((await cli.exited).code, 1)
    assert.match(cli.stderr, /cannot listen on every --listen address:\n {2}\/ip4\/192\.0\.2\.1\/tcp\/4001: listen EADDRNOTAVAIL/)
    assert.match(cli.stderr, /no network interface of this machine has that address/)
    assert.doesNotMatch(cli.stderr, /\n\s+at |faultTolerance/)
  })

  for (const [dir, reason] of [
    ['/proc/agentmesh-test/data', /\/proc\/agentmesh-test: this file system does not allow creating it .*\(ENOENT\)/],
    ['/etc/hostname/data', /a part of the path is a file, not a directory \(ENOTDIR\)/]
  ] as const) {
    it(`--data-dir ${dir}: exit 1 at once, naming the path and the reason`, async () => {
      const cli = start(['--json', ...LOOPBACK, '--data-dir', dir])
      const { code } = await cli.exited
      assert.equal(code, 1)
      assert.match(cli.stderr, new RegExp(`could not start the node: DataDirError: cannot use data dir ${dir}: `))
      assert.match(cli.stderr, reason)
      assert.equal(cli.stdout, '')
    })
  }
})

describe('agentmesh status|peers|groups against a running node (real processes)', function () {
  this.timeout(120_000)
  afterEach(() => {
    for (const child of children) child.kill()
    children = []
  })

  async function runToExit (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const cli = start(args)
    const { code } = await cli.exited
    return { code, stdout: cli.stdout, stderr: cli.stderr }
  }

  it('answers from the node the --data-dir belongs to, and says so when that node is not running', async () => {
    const dir = await tempDir()
    try {
      const a = start(['--json', '--name', 'a', ...LOOPBACK, '--data-dir', dir.path, '--api', '127.0.0.1:0'])
      const readyA = await a.ready()
      const b = start(['--json', '--name', 'b', ...LOOPBACK, '--peer', readyA.addresses!.find(x => x.startsWith('/ip4/127.0.0.1/'))!])
      const readyB = await b.ready()
      await a.until(() => a.lines.find(l => l.event === 'peer:join' && l.peerId === readyB.peerId), 'A to see B', WARN_MS)

      const status = await runToExit(['status', '--data-dir', dir.path])
      assert.equal(status.code, 0, status.stderr)
      assert.match(status.stdout, new RegExp(`^node "a" ${readyA.peerId!}\\n`))
      assert.match(status.stdout, /peers: +1 alive, 0 suspect, 0 dead/)
      const peers = await runToExit(['peers', '--data-dir', dir.path, '--json'])
      assert.equal(peers.code, 0, peers.stderr)
      const listed = peers.stdout.trim().split('\n').map(line => JSON.parse(line) as { peerId: string, name: string, status: string })
      assert.deepEqual(listed.map(p => [p.peerId, p.name, p.status]), [[readyB.peerId, 'b', 'alive']])
      const groups = await runToExit(['groups', '--data-dir', dir.path])
      assert.deepEqual([groups.code, groups.stdout], [0, 'no groups\n'])

      a.child.kill('SIGTERM')
      assert.equal((await a.exited).code, 0)
      const after = await runToExit(['status', '--data-dir', dir.path])
      assert.equal(after.code, 1)
      assert.match(after.stderr, /api-url does not exist: is a node running with --data-dir .* and --api <host:port>\?/)
    } finally {
      await dir.remove()
    }
  })

  it('without --data-dir or --api: exit 2 saying what it needs', async () => {
    const result = await runToExit(['peers'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /peers: give the running node's --data-dir/)
  })
})

describe('CLI human output (real processes)', function () {
  this.timeout(120_000)
  afterEach(() => {
    for (const child of children) child.kill()
    children = []
  })

  it('peer joined lines carry a UTC timestamp', async () => {
    const a = start(['--json', ...LOOPBACK])
    const readyA = await a.ready()
    const b = start([...LOOPBACK, '--peer', readyA.addresses!.find(x => x.startsWith('/ip4/127.0.0.1/'))!])
    const line = await b.until(() => /^(.*peer joined: .*)$/m.exec(b.stdout)?.[1], 'the peer joined line', WARN_MS)
    assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z peer joined: ${readyA.peerId!}`))
  })
})
