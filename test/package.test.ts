// The package as users get it: `npm pack`, install the tarball into an empty ESM app, run
// the README's embedding example against it, type-check it, and run the `agentmesh` bin.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from './helpers.ts'

const REPO = fileURLToPath(new URL('../', import.meta.url))
/** npm, tsc and bin shebangs (`#!/usr/bin/env node`) must find Node 24 — the test runner's own. */
const PATH = [dirname(process.execPath), join(REPO, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter)
/** Packing builds dist/, and installing fetches the dependency tree (cached or from the registry). */
const INSTALL_MS = 240_000

interface Run { code: number | null, stdout: string, stderr: string }

/** Run a command to completion (or kill it after `timeoutMs`), collecting its output. */
async function run (command: string, args: string[], options: { cwd: string, timeoutMs: number }): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH }
  // When mocha runs under `npm test`, npm's per-run settings (the repo as prefix, etc.) must not leak in.
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]
  // The README's commands run as written; these only keep npm quiet and off the network when it can.
  Object.assign(env, { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_prefer_offline: 'true', npm_config_loglevel: 'error' })
  const child = spawn(command, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, options.timeoutMs)
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (exitCode) => { resolve(exitCode) })
    })
    return { code, stdout, stderr }
  } finally {
    clearTimeout(timer)
  }
}

function assertOk (result: Run, what: string): void {
  assert.equal(result.code, 0, `${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`)
}

/** The README's steps that make an app: the first ```sh block under "## Embed it in an agent", split where the example is saved. */
async function readmeSetup (): Promise<{ before: string[], after: string[] }> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8')
  const section = readme.split(/^## /m).find(s => s.startsWith('Embed it in an agent'))
  const block = section !== undefined ? /```sh\n([\s\S]*?)```/.exec(section)?.[1] : undefined
  assert.ok(block !== undefined, 'README.md has a ```sh block under "## Embed it in an agent"')
  const lines = block.split('\n').filter(l => l.trim() !== '')
  const save = lines.findIndex(l => l.startsWith('# save the example'))
  assert.ok(save > 0, 'the block says where to save the example')
  return { before: lines.slice(0, save), after: lines.slice(save + 1) }
}

/** The README's embedding example: the first ```ts block under "## Embed it in an agent". */
async function readmeExample (): Promise<string> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8')
  const section = readme.split(/^## /m).find(s => s.startsWith('Embed it in an agent'))
  const code = section !== undefined ? /```ts\n([\s\S]*?)```/.exec(section)?.[1] : undefined
  assert.ok(code !== undefined, 'README.md has a ```ts block under "## Embed it in an agent"')
  return code
}

describe('the packed tarball, installed into an empty app', function () {
  this.timeout(INSTALL_MS + 60_000)
  let work: Awaited<ReturnType<typeof tempDir>>
  let app: string

  before(async function () {
    this.timeout(INSTALL_MS + 30_000)
    work = await tempDir('agentmesh-package-')
    const packed = await run('npm', ['pack', '--pack-destination', work.path, '--silent'], { cwd: REPO, timeoutMs: INSTALL_MS })
    assertOk(packed, 'npm pack')
    const tarballs = (await readdir(work.path)).filter(f => f.endsWith('.tgz'))
    assert.equal(tarballs.length, 1, `one tarball in ${work.path}: ${tarballs.join(', ')}`)
    // The README's own steps, as written: the tarball path is the one placeholder, and this test packed it already.
    const { before } = await readmeSetup()
    assert.match(before[0]!, /^npm pack\b/)
    const script = before.slice(1).join('\n').replaceAll('/path/to/agentmesh-0.1.0.tgz', join(work.path, tarballs[0]!))
    assertOk(await run('sh', ['-ec', script], { cwd: work.path, timeoutMs: INSTALL_MS }), `the README's setup steps:\n${script}\n`)
    app = join(work.path, 'my-agent')
  })

  after(async () => {
    await work?.remove()
  })

  it('ships built JS, .d.ts and the bin — not the TypeScript sources or tests', async () => {
    const root = join(app, 'node_modules', 'agentmesh')
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }
    assert.equal(manifest.bin.agentmesh, './dist/node/cli.js')
    assert.match(await readFile(join(root, 'dist', 'node', 'cli.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/)
    for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/protocols/direct/adapter.d.ts', 'README.md']) {
      await readFile(join(root, file))
    }
    const top = await readdir(root)
    assert.ok(!top.includes('test') && !top.includes('src') && !top.includes('node'), `unexpected sources in the package: ${top.join(', ')}`)
  })

  it("runs the README's embedding example as the README says: two nodes, a direct request, a clean stop", async () => {
    await writeFile(join(app, 'app.ts'), await readmeExample())
    const { after } = await readmeSetup()
    assert.deepEqual(after.map(l => l.replace(/\s+#.*$/, '')), ['node app.ts'])
    const result = await run('sh', ['-ec', after.join('\n')], { cwd: app, timeoutMs: 60_000 })
    assertOk(result, 'node app.ts')
    assert.match(result.stdout, /summary: 'Mesh up\.'/)
    assert.match(result.stdout, /for: '12D3KooW\w+'/)
  })

  it('its types resolve: tsc accepts the example and rejects a misuse', async () => {
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2024', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
        allowImportingTsExtensions: true, skipLibCheck: true, types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')]
      },
      files: ['app.ts']
    }))
    await writeFile(join(app, 'app.ts'), await readmeExample())
    const tsc = join(REPO, 'node_modules', '.bin', 'tsc')
    assertOk(await run(tsc, ['-p', 'tsconfig.json'], { cwd: app, timeoutMs: 60_000 }), 'tsc on the example')
    // If the types did not resolve, everything would be `any` and this would pass: it must not.
    await writeFile(join(app, 'misuse.ts'), "import { createAgentNode } from 'agentmesh'\nconst node = await createAgentNode({ name: 42 })\nconst id: number = node.peerId\n")
    await writeFile(join(app, 'tsconfig.misuse.json'), JSON.stringify({ extends: './tsconfig.json', files: ['misuse.ts'] }))
    const misuse = await run(tsc, ['-p', 'tsconfig.misuse.json'], { cwd: app, timeoutMs: 60_000 })
    assert.notEqual(misuse.code, 0)
    assert.match(misuse.stdout, /misuse\.ts\(2,.*Type 'number' is not assignable to type 'string'/)
    assert.match(misuse.stdout, /misuse\.ts\(3,.*Type 'string' is not assignable to type 'number'/)
  })

  it('on a Node.js older than it needs, the bin says which Node.js it needs (when this machine has one)', async function () {
    const old = ['/usr/bin/node', '/bin/node'].find((path) => {
      try {
        return Number(execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]) < 22
      } catch {
        return false // not installed there
      }
    })
    if (old === undefined) this.skip()
    const result = await run(old!, [join(app, 'node_modules', 'agentmesh', 'dist', 'node', 'cli.js'), '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: app, timeoutMs: 30_000 })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /agentmesh needs Node\.js 22 or newer; this is Node\.js \d+\./)
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'a message, not a stack trace')
  })

  it('the agentmesh bin prints its version and runs a node until SIGTERM', async () => {
    const bin = join(app, 'node_modules', '.bin', 'agentmesh')
    const { version: expected } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }
    const version = await run(bin, ['--version'], { cwd: app, timeoutMs: 30_000 })
    assert.deepEqual(version, { code: 0, stdout: `${expected}\n`, stderr: '' })
    const env = { ...process.env, PATH }
    const child = spawn(bin, ['--json', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      let stdout = ''
      child.stdout.setEncoding('utf8')
      const exited = new Promise<number | null>((resolve) => { child.once('exit', resolve) })
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          stdout += chunk
          if (stdout.includes('"event":"ready"')) resolve()
        })
        void exited.then(() => { reject(new Error(`the bin exited before ready: ${stdout}`)) })
      })
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
      const events = stdout.trim().split('\n').map(line => (JSON.parse(line) as { event: string }).event)
      assert.deepEqual(events, ['ready', 'stopped'])
      assert.match(stdout, /"addresses":\["\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
