// `--log-format`: the line formats (table tests), and real CLI processes: a bad value exits 2
// naming the flag; json makes every stderr line a JSON object, libp2p's debug lines included.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { formatLogLine, createLog, LOG_MESSAGE_CHARS_MAX } from '../../node/log.ts'
import { parseCommand, UsageError, EXIT_USAGE } from '../../node/args.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
/** Slack for a node to start on a busy 2-core machine. */
const START_MS = 60_000

describe('log format', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6)

  it('json: one object with time, level, component, peer, message, fields', () => {
    const line = formatLogLine({ timeMs: at, level: 'warn', component: 'api', peer: '12D3KooWpeer', message: 'slow client', fields: { stream: 3, bytes: new Uint8Array(4), big: 10n } }, 'json')
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'))
    assert.deepEqual(JSON.parse(line), { time: '2026-01-02T03:04:05.006Z', level: 'warn', component: 'api', peer: '12D3KooWpeer', message: 'slow client', fields: { stream: 3, bytes: '<4 bytes>', big: '10' } })
  })

  it('json: a newline in a message stays inside the one line', () => {
    const line = formatLogLine({ timeMs: at, level: 'error', component: 'cli', message: 'two\nlines' }, 'json')
    assert.equal(line.split('\n').length, 2)
    assert.equal(JSON.parse(line).message, 'two\nlines')
  })

  it('text: the CLI\'s "agentmesh: message" shape, other components named, fields as key=value', () => {
    assert.equal(formatLogLine({ timeMs: at, level: 'info', component: 'cli', message: 'SIGTERM: stopping' }, 'text'), 'agentmesh: SIGTERM: stopping\n')
    assert.equal(formatLogLine({ timeMs: at, level: 'info', component: 'api', message: 'listening', fields: { port: 7700, host: '127.0.0.1' } }, 'text'), 'agentmesh api: listening port=7700 host=127.0.0.1\n')
  })

  it('caps a runaway message at LOG_MESSAGE_CHARS_MAX', () => {
    const line = formatLogLine({ timeMs: at, level: 'error', component: 'cli', message: 'x'.repeat(LOG_MESSAGE_CHARS_MAX * 2) }, 'json')
    assert.ok(JSON.parse(line).message.length < LOG_MESSAGE_CHARS_MAX + 40)
  })

  it('createLog tags lines with the peer once known, and children share the sink', () => {
    const lines: string[] = []
    const log = createLog('cli', { format: 'json', write: (l) => lines.push(l), nowMs: () => at })
    log.info('starting')
    log.setPeer('12D3KooWself')
    log.child('api').error('bound', { port: 1 })
    assert.deepEqual(lines.map(l => JSON.parse(l)), [
      { time: '2026-01-02T03:04:05.006Z', level: 'info', component: 'cli', message: 'starting' },
      { time: '2026-01-02T03:04:05.006Z', level: 'error', component: 'api', peer: '12D3KooWself', message: 'bound', fields: { port: 1 } }
    ])
  })

  it('parses --log-format: text by default, json, and a usage error naming the flag otherwise', () => {
    assert.equal((parseCommand([]) as { logFormat: string }).logFormat, 'text')
    assert.equal((parseCommand(['--log-format', 'json']) as { logFormat: string }).logFormat, 'json')
    assert.throws(() => parseCommand(['--log-format', 'xml']), (err: unknown) => err instanceof UsageError && err.flag === '--log-format' && /"xml" is not a log format; expected text or json/.test(err.message))
    assert.throws(() => parseCommand(['--log-format', 'json', '--log-format', 'text']), /--log-format: given more than once/)
  })
})

describe('log format: the CLI', function () {
  this.timeout(120_000)

  /** Run the CLI with `args` until `until(stderr)` holds, then SIGTERM it; resolves with its output and exit code. */
  async function runCli (args: string[], options: { env?: Record<string, string>, until?: (stderr: string, stdout: string) => boolean }): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const child = spawn(process.execPath, ['node/cli.ts', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => { child.kill('SIGKILL') }, START_MS)
    const check = (): void => { if (options.until?.(stderr, stdout) === true && child.exitCode === null && !child.killed) child.kill('SIGTERM') }
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; check() })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; check() })
    const code = await new Promise<number | null>((resolve) => { child.once('exit', (c) => { resolve(c) }) })
    clearTimeout(timer)
    return { code, stdout, stderr }
  }

  it('a bad --log-format exits 2 and names the flag', async () => {
    const { code, stderr } = await runCli(['--log-format', 'yaml'], {})
    assert.equal(code, EXIT_USAGE)
    assert.match(stderr, /--log-format: "yaml" is not a log format; expected text or json/)
  })

  it('--log-format json: every stderr line is a JSON object, libp2p debug lines included', async () => {
    const { code, stderr, stdout } = await runCli(['--log-format', 'json', '--json', '--listen', '/ip4/127.0.0.1/tcp/0'], {
      env: { DEBUG: 'libp2p:connection-manager,agentmesh:*' },
      until: (err, out) => out.includes('"event":"ready"') && err.includes('"level":"debug"')
    })
    assert.equal(code, 0, stderr)
    const ready = JSON.parse(stdout.split('\n')[0]!) as { peerId: string }
    const lines = stderr.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>)
    for (const line of lines) {
      assert.equal(typeof line.time, 'string')
      assert.ok(['error', 'warn', 'info', 'debug', 'trace'].includes(line.level as string), JSON.stringify(line))
      assert.equal(typeof line.component, 'string')
      assert.equal(typeof line.message, 'string')
    }
    assert.ok(lines.some(l => l.component === 'libp2p:connection-manager' && l.level === 'debug'), 'a debug line of libp2p')
    const stopping = lines.find(l => l.component === 'cli' && /SIGTERM: stopping/.test(l.message as string))
    assert.ok(stopping !== undefined, 'the stop line')
    assert.equal(stopping.level, 'info')
    assert.equal(stopping.peer, ready.peerId)
  })
})
