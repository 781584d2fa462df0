// End-to-end tests of the private mesh flags: real `node node/cli.ts` processes over loopback TCP.

import assert from 'node:assert/strict'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from '../helpers.ts'
import { parseCommand, UsageError } from '../../node/args.ts'
import { CliProcess } from './cli-process.ts'
import type { Line } from './cli-process.ts'

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0']
/** Slack for nodes to start and mesh on a busy 2-core machine. */
const WAIT_MS = 60_000

/** A CLI process that also tells whether a peer joined. */
class Cli extends CliProcess {
  joined (peerId: string): boolean { return this.lines.some(l => l.event === 'peer:join' && l.peerId === peerId) }
  override async until<T> (condition: () => T | undefined, what: string, timeoutMs = WAIT_MS): Promise<T> { return super.until(condition, what, timeoutMs) }
}

let children: Cli[] = []
function start (args: string[]): Cli {
  const cli = new Cli(args)
  children.push(cli)
  return cli
}
async function runToExit (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const cli = start(args)
  const { code } = await cli.exited
  return { code, stdout: cli.stdout, stderr: cli.stderr }
}
const loopbackOf = (ready: Line): string => ready.addresses!.find(a => a.startsWith('/ip4/127.0.0.1/'))!

describe('CLI private mesh flags (real processes over loopback TCP)', function () {
  this.timeout(180_000)
  afterEach(() => {
    for (const child of children) child.kill()
    children = []
  })

  it('parses --swarm-key, --allow and --allow-file, and the swarm-key subcommand', () => {
    const id = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
    const command = parseCommand(['--swarm-key', 'k', '--allow', id, '--allow', id, '--allow-file', 'f'])
    assert.equal(command.kind, 'run')
    assert.deepEqual(command.kind === 'run' ? [command.swarmKeyFile, command.allow, command.allowFile] : [], ['k', [id], 'f'])
    assert.deepEqual(parseCommand(['swarm-key']), { kind: 'swarm-key', file: undefined })
    assert.deepEqual(parseCommand(['swarm-key', 'out.key']), { kind: 'swarm-key', file: 'out.key' })
    assert.throws(() => parseCommand(['--allow', 'nope']), (err: unknown) => err instanceof UsageError && err.flag === '--allow')
    assert.throws(() => parseCommand(['swarm-key', 'a', 'b']), UsageError)
  })

  it('swarm-key writes a 0600 key; nodes started with it mesh, a node with another key never joins', async () => {
    const dir = await tempDir()
    try {
      const key = join(dir.path, 'swarm.key')
      const made = await runToExit(['swarm-key', key])
      assert.equal(made.code, 0, made.stderr)
      assert.equal((await stat(key)).mode & 0o777, 0o600)
      const again = await runToExit(['swarm-key', key])
      assert.equal(again.code, 2)
      assert.match(again.stderr, /already exists; a swarm key is never overwritten/)
      const printed = await runToExit(['swarm-key'])
      const otherKey = join(dir.path, 'other.key')
      await writeFile(otherKey, printed.stdout)

      const a = start(['--json', '--swarm-key', key, ...LOOPBACK])
      const readyA = await a.ready()
      const b = start(['--json', '--swarm-key', key, '--peer', loopbackOf(readyA), ...LOOPBACK])
      const outsider = start(['--json', '--swarm-key', otherKey, '--peer', loopbackOf(readyA), ...LOOPBACK])
      const [readyB, readyOutsider] = [await b.ready(), await outsider.ready()]
      await a.until(() => a.joined(readyB.peerId!) || undefined, 'a to see b join')
      await b.until(() => b.joined(readyA.peerId!) || undefined, 'b to see a join')
      // The outsider keeps redialling a; both sides say why the connection closed.
      const why = /closed connection with \/ip4\/127\.0\.0\.1\/tcp\/\d+(\/p2p\/\w+)?: .*another swarm key, or none/
      await outsider.until(() => why.test(outsider.stderr) || undefined, 'the outsider to report the key mismatch')
      await a.until(() => why.test(a.stderr) || undefined, 'a to report the key mismatch')
      assert.ok(!a.joined(readyOutsider.peerId!) && !b.joined(readyOutsider.peerId!), 'the outsider joined a member')
      assert.ok(!outsider.lines.some(l => l.event === 'peer:join'), 'a member joined the outsider')
    } finally {
      await dir.remove()
    }
  })

  it('an unlisted node is refused, with a line on stderr naming it', async () => {
    const dir = await tempDir()
    try {
      const stranger = start(['--json', ...LOOPBACK])
      const readyStranger = await stranger.ready()
      const allowFile = join(dir.path, 'allowed')
      await writeFile(allowFile, '# nobody yet\n')
      const a = start(['--json', '--allow-file', allowFile, '--peer', loopbackOf(readyStranger), ...LOOPBACK])
      await a.ready()
      await a.until(() => a.stderr.includes(`refused outbound connection to ${readyStranger.peerId}: not on the allowlist`) || undefined, 'a to refuse dialling the stranger')
      assert.ok(!a.joined(readyStranger.peerId!))
      // SIGHUP rereads the file: listing the stranger lets a's redial through.
      await writeFile(allowFile, `${readyStranger.peerId}\n`)
      a.child.kill('SIGHUP')
      await a.until(() => a.stderr.includes('allowlist reloaded') || undefined, 'a to reload its allowlist')
      await a.until(() => a.joined(readyStranger.peerId!) || undefined, 'the now-listed peer to join a')
    } finally {
      await dir.remove()
    }
  })

  const badUsage: Array<[string[], RegExp]> = [
    [['--swarm-key', '/nonexistent/swarm.key'], /^agentmesh: --swarm-key: cannot read swarm key file \/nonexistent\/swarm.key: ENOENT/m],
    [['--swarm-key', 'package.json'], /^agentmesh: --swarm-key: swarm key file package.json is \d+ bytes; at most 1024/m],
    [['--swarm-key', 'tsconfig.json'], /^agentmesh: --swarm-key: swarm key file tsconfig.json (does not start with \/key\/swarm\/psk\/1.0.0\/|is \d+ bytes)/m],
    [['--allow', 'nope'], /^agentmesh: --allow: "nope" is not a peer id/m],
    [['--allow-file', 'package.json'], /^agentmesh: --allow-file: allowlist file package.json: .* is not a peer id/m],
    [['--allow-file', ''], /^agentmesh: --allow-file: the path is empty/m],
    [['swarm-key', '--force'], /^agentmesh: swarm-key: "--force" is not a file path/m]
  ]
  for (const [args, message] of badUsage) {
    it(`bad usage exits 2 naming the flag: ${args.join(' ')}`, async () => {
      const { code, stdout, stderr } = await runToExit(args)
      assert.equal(code, 2, stderr)
      assert.match(stderr, message)
      assert.equal(stdout, '')
    })
  }
})
