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
  })
})
