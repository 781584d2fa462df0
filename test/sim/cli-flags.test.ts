// `npm run sim` parses strictly: every flag a scenario or check reads is in its table
// (sim/cli-flags.ts), and anything else is a usage error (exit 2, no stack) naming the flag.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { flagsOf } from '../../sim/cli-flags.ts'
import { humanSummary, parseSimArgs } from '../../sim/cli.ts'

const SIM = fileURLToPath(new URL('../../sim/', import.meta.url))
const cli = join(SIM, 'cli.ts')

/** The --flags a module reads: options.extra.x / extra['x'] / xFlag(options, 'x'), the SimOptions fields, and the fault flags. */
function flagsRead (source: string): string[] {
  const read = new Set<string>()
  for (const m of source.matchAll(/extra(?:\.([a-zA-Z]+)|\['([a-z-]+)'\])/g)) read.add(m[1] ?? m[2]!)
  for (const m of source.matchAll(/Flag\(options, '([a-z-]+)'/g)) read.add(m[1]!)
  const fields: Record<string, string> = { rounds: 'rounds', messages: 'messages', rate: 'rate', size: 'size', heartbeatMs: 'heartbeat-ms', electionMs: 'election-ms', transport: 'transport', seeds: 'seeds', nodes: 'nodes' }
  for (const m of source.matchAll(/options\.([a-zA-Z]+)/g)) if (fields[m[1]!] !== undefined) read.add(fields[m[1]!]!)
  if (/faultOptions\(/.test(source)) for (const f of ['latency-ms', 'flap-period-ms', 'flap-down-ms']) read.add(f)
  return [...read]
}

async function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout, stderr }) })
  })
}

describe('npm run sim: strict flags', function () {
  this.timeout(60_000)

  for (const [folder, kind] of [['scenarios', 'scenario'], ['check', 'check']] as const) {
    it(`every flag a ${kind} reads is in its table`, async () => {
      for (const file of (await readdir(join(SIM, folder))).filter(f => f.endsWith('.ts'))) {
        const name = file.slice(0, -3)
        const table = flagsOf(kind, name)
        assert.ok(table !== undefined, `sim/cli-flags.ts has no entry for ${kind} ${name}`)
        for (const flag of flagsRead(await readFile(join(SIM, folder, file), 'utf8'))) {
          assert.ok(flag in table, `${kind} ${name} reads --${flag}, which its table in sim/cli-flags.ts lacks`)
        }
      }
    })
  }

  for (const [args, pattern] of [
    [['mesh', '--node', '4'], /--node: not a flag of mesh \(did you mean --nodes\?\)/],
    [['fanout', '--roundz', '3'], /--roundz: not a flag of fanout/],
    [['fanout', '--rounds', '0'], /--rounds must be a positive integer, got "0"/],
    [['mesh', '--nodes', '0'], /--nodes must be a positive integer, got "0"/],
    [['mesh', '--nodes', '2.5'], /--nodes must be a positive integer, got "2.5"/],
    [['mesh', '--nodes', '3', '--nodes', '4'], /--nodes: given more than once/],
    [['mesh', 'extra'], /unexpected argument "extra"/],
    [['mesh', '--transport', 'udp'], /--transport must be "memory" or "tcp", got "udp"/],
    [['bft', '--faulty', 'evil'], /--faulty must be "silent" or "byzantine", got "evil"/],
    [['check', 'raft', '--seedz', '3'], /--seedz: not a flag of check raft \(did you mean --seeds\?\)/],
    [['check', 'nope'], /unknown check "nope"; checks: .*raft/],
    [['--nodes', '3', 'mesh'], /the scenario name comes first/]
  ] as const) {
    it(`exits 2 naming the problem: ${args.join(' ')}`, async () => {
      const { code, stderr, stdout } = await run([...args])
      assert.equal(code, 2, stderr)
      assert.match(stderr, pattern)
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace for bad usage')
      assert.equal(stdout, '')
    })
  }

  it('--help lists every scenario and check with its own flags; <scenario> --help lists that one', async () => {
    const all = await run(['--help'])
    assert.equal(all.code, 0)
    for (const file of await readdir(join(SIM, 'scenarios'))) assert.match(all.stdout, new RegExp(`^  ${file.slice(0, -3)}$`, 'm'))
    for (const file of await readdir(join(SIM, 'check'))) assert.match(all.stdout, new RegExp(`^  check ${file.slice(0, -3)}$`, 'm'))
    assert.match(all.stdout, /--faulty <silent\|byzantine> +make f members faulty/)
    const mesh = await run(['mesh', '--help'])
    assert.equal(mesh.code, 0)
    assert.match(mesh.stdout, /--settle-ms N/)
    assert.match(mesh.stdout, /--nodes N/)
    assert.doesNotMatch(mesh.stdout, /--faulty/)
  })

  it('a human-mode summary is one metric per line, then OK or FAILED (not a JSON blob)', () => {
    const text = humanSummary({ scenario: 'mesh', nodes: 3, seed: 8, ok: true, metrics: { p50_ms: 1.234567, delivery: 1, transport: 'memory' } })
    assert.equal(text, 'mesh: 3 node(s), seed 8\n  p50_ms     1.235\n  delivery   1\n  transport  memory\nOK')
  })

  it('a flag every scenario shares (DESIGN) is accepted where unused, with a warning that it is ignored', () => {
    const parsed = parseSimArgs(['fanout', '--rounds', '3', '--transport', 'tcp'])
    assert.deepEqual(parsed.warnings, [
      '--rounds is not used by fanout; ignored (its flags: npm run sim -- fanout --help)',
      '--transport is not used by fanout; ignored (its flags: npm run sim -- fanout --help)'
    ])
    assert.deepEqual(parseSimArgs(['mesh', '--transport', 'tcp', '--rounds', '2']).warnings, ['--rounds is not used by mesh; ignored (its flags: npm run sim -- mesh --help)'])
    assert.throws(() => parseSimArgs(['check', 'raft', '--rounds', '3']), /--rounds: not a flag of check raft/)
  })
})
