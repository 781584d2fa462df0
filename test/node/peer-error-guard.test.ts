// The node boundary for uncaught errors (src/peer-error-guard.ts), in a real CLI process:
// libp2p stream errors a peer causes are logged, counted and survived; anything else still
// ends the process with a non-zero status and its message.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { streamPair } from '@libp2p/utils'
import { isPeerError } from '../../src/index.ts'
import { waitFor } from '../helpers.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const PRELOAD = fileURLToPath(new URL('./fixtures/throw-on-signal.ts', import.meta.url))

/** A CLI node process with the test-only preload; collects stdout and stderr. */
function startCli (): { child: ChildProcess, out: { stdout: string, stderr: string }, exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', PRELOAD, 'node/cli.ts', '--json', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out.stdout += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { out.stderr += chunk })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  return { child, out, exited }
}

describe('peer error guard', function () {
  this.timeout(90_000)
  const children: ChildProcess[] = []
  after(() => { for (const child of children) child.kill('SIGKILL') })

  it('recognises libp2p stream errors by name and origin, and nothing else', async () => {
    const [stream] = await streamPair()
    await stream.close()
    const thrown = (() => { try { stream.send(new Uint8Array([1])) } catch (err) { return err } })()
    assert.equal((thrown as Error).name, 'StreamStateError')
    assert.equal(isPeerError(thrown), true, 'thrown by libp2p\'s own stream code')
    const impostor = new Error('same name, application code')
    impostor.name = 'StreamStateError'
    assert.equal(isPeerError(impostor), false, 'the name alone does not make a peer error')
    assert.equal(isPeerError(new TypeError('x is undefined')), false)
    assert.equal(isPeerError('StreamStateError'), false)
  })

  it('the CLI survives stream errors thrown where no caller can catch them, counts them, and still stops cleanly', async () => {
    const cli = startCli()
    children.push(cli.child)
    await waitFor(() => cli.out.stdout.includes('"event":"ready"'), 'the node to be ready', 30_000)
    cli.child.kill('SIGUSR2')
    await waitFor(() => (cli.out.stderr.match(/survived a peer's stream error/g) ?? []).length >= 2, 'both errors to be logged', 10_000)
    cli.child.kill('SIGUSR2')
    await waitFor(() => cli.out.stderr.includes('4 so far'), 'the second pair to be counted', 10_000)
    assert.match(cli.out.stderr, /survived a peer's stream error \(uncaughtException, \d so far\): StreamStateError: Cannot write to a stream that is closed/)
    assert.match(cli.out.stderr, /survived a peer's stream error \(unhandledRejection, \d so far\): StreamStateError: Cannot write to a stream that is closed/)
    assert.equal(cli.child.exitCode, null, 'still running')
    cli.child.kill('SIGTERM')
    assert.equal(await cli.exited, 0)
    assert.match(cli.out.stdout, /"event":"stopped"/)
  })

  it('any other uncaught error still exits non-zero with its message', async () => {
    const cli = startCli()
    children.push(cli.child)
    await waitFor(() => cli.out.stdout.includes('"event":"ready"'), 'the node to be ready', 30_000)
    cli.child.kill('SIGHUP')
    assert.equal(await cli.exited, 1)
    assert.match(cli.out.stderr, /agentmesh: fatal uncaughtException: Error: a real bug: undefined is not a function/)
  })
})
