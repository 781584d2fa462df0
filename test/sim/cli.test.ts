import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../../sim/cli.ts', import.meta.url))

describe('npm run sim (CLI)', () => {
  it('prints the DESIGN summary line last with --json', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'mesh', '--nodes', '3', '--seed', '8', '--messages', '3', '--settle-ms', '500', '--json'])
    const lines = stdout.trim().split('\n')
    const summary = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>
    assert.deepEqual(Object.keys(summary), ['scenario', 'nodes', 'seed', 'ok', 'metrics'])
    assert.equal(summary.scenario, 'mesh')
    assert.equal(summary.nodes, 3)
    assert.equal(summary.seed, 8)
    assert.equal(summary.ok, true)
    assert.equal(typeof (summary.metrics as Record<string, unknown>).p50_ms, 'number')
    // every figure carries where it was measured: cores and the load average around the run
    const m = summary.metrics as Record<string, unknown>
    assert.ok(typeof m.machine_cores === 'number' && m.machine_cores >= 1)
    assert.equal(typeof m.load_1m_start, 'number')
    assert.equal(typeof m.load_1m_end, 'number')
    assert.equal(m.node_version, process.versions.node)
  })
})

describe('npm run sim (CLI): bad usage', () => {
  const run = async (args: string[]): Promise<{ code: number | null, stderr: string }> => await new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], (err, _stdout, stderr) => { resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stderr }) })
  })

  for (const [args, pattern] of [
    [['no-such-scenario'], /unknown scenario "no-such-scenario"/],
    [['mesh', '--nodes', 'many'], /--nodes must be a positive integer, got "many"/],
    [['crdt', '--batch', 'abc', '--synthetic'], /--batch must be a positive integer, got "abc"/],
    [['mesh', '--latency-ms', '-3'], /--latency-ms must be a non-negative number, got "-3"/]
  ] as const) {
    it(`exits 2 naming the flag: ${args.join(' ')}`, async () => {
      const { code, stderr } = await run([...args])
      assert.equal(code, 2)
      assert.match(stderr, pattern)
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace for bad usage')
    })
  }
})
