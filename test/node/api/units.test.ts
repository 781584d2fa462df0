// Table tests of the API's pure parts: --api parsing, the Host/Origin guard, the bearer check,
// and the JSON form of bytes.

import assert from 'node:assert/strict'
import { parseApiAddress, parseCommand, UsageError } from '../../../node/args.ts'
import { hostAllowed, originAllowed } from '../../../node/api/guard.ts'
import { bearerMatches, loadOrCreateToken } from '../../../node/api/token.ts'
import { readFile, stat, writeFile, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from '../../helpers.ts'
import { fromJson, toJson, JSON_DEPTH_MAX } from '../../../node/api/json.ts'
import { LimitExceededError, TimeoutError } from '../../../protocols/kit/errors.ts'
import { RateLimitedError } from '../../../protocols/direct/errors.ts'
import { errorResponse } from '../../../node/api/errors.ts'

describe('API pure parts', () => {
  it('maps node errors to the status a client acts on: a peer\'s rate limit is 429, a timeout 504, the unforeseen 500', () => {
    assert.equal(errorResponse(new RateLimitedError({ method: 'echo', peerId: 'p', limit: 'DIRECT_REQUESTS_PER_PEER_PER_S', message: 'over it' })).status, 429)
    assert.equal(errorResponse(new TimeoutError('slow')).status, 504)
    assert.equal(errorResponse(new LimitExceededError('big')).status, 413)
    assert.deepEqual(errorResponse(new Error('boom')), { status: 500, body: { error: { code: 'ERR_INTERNAL', message: 'Error: boom' } } })
  })

  it('--api takes host:port, [v6]:port or a port; non-loopback hosts only with --api-allow-remote', () => {
    assert.deepEqual(parseApiAddress('127.0.0.1:0', false), { host: '127.0.0.1', port: 0 })
    assert.deepEqual(parseApiAddress('localhost:7700', false), { host: 'localhost', port: 7700 })
    assert.deepEqual(parseApiAddress('[::1]:7700', false), { host: '::1', port: 7700 })
    assert.deepEqual(parseApiAddress('7700', false), { host: '127.0.0.1', port: 7700 })
    assert.deepEqual(parseApiAddress('0.0.0.0:7700', true), { host: '0.0.0.0', port: 7700 })
    for (const bad of ['0.0.0.0:7700', '192.168.1.5:80', 'example.com:80']) {
      assert.throws(() => parseApiAddress(bad, false), (err: unknown) => err instanceof UsageError && err.flag === '--api' && /--api-allow-remote/.test(err.message))
    }
    for (const bad of ['', 'host', '127.0.0.1:', '127.0.0.1:99999', ':80']) {
      assert.throws(() => parseApiAddress(bad, false), UsageError, bad)
    }
  })

  it('parses mcp as a subcommand with the node flags, and --capability as a repeatable flag', () => {
    const mcp = parseCommand(['mcp', '--peer', '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWAvLxXZXe6PxvYVz3abAVxs5f4vGCPF45zbVDsbbvW635', '--data-dir', '/tmp/x'])
    assert.equal(mcp.kind, 'mcp')
    assert.equal(mcp.kind === 'mcp' && mcp.dataDir, '/tmp/x')
    const run = parseCommand(['--capability', 'a', '--capability', 'b', '--api', '127.0.0.1:0'])
    assert.ok(run.kind === 'run')
    assert.deepEqual(run.capabilities, ['a', 'b'])
    assert.deepEqual(run.api, { host: '127.0.0.1', port: 0 })
    assert.throws(() => parseCommand(['--api-allow-remote']), /only with --api/)
  })

  it('accepts loopback Hosts and the bound address; refuses other names (DNS rebinding)', () => {
    const loopback = { boundHost: '127.0.0.1' }
    for (const host of ['127.0.0.1:7700', 'localhost:7700', 'LOCALHOST', '[::1]:7700', '127.0.0.2']) assert.ok(hostAllowed(host, loopback), host)
    for (const host of [undefined, '', 'attacker.example', 'attacker.example:7700', '192.168.1.5:7700', 'localhost.attacker.example']) assert.ok(!hostAllowed(host, loopback), String(host))
    assert.ok(hostAllowed('192.168.1.5:7700', { boundHost: '192.168.1.5' }))
    assert.ok(!hostAllowed('10.0.0.1:7700', { boundHost: '192.168.1.5' }))
    assert.ok(hostAllowed('anything:7700', { boundHost: '0.0.0.0' }), 'a wildcard bind (--api-allow-remote) accepts every name')
    assert.ok(originAllowed(undefined, loopback), 'no Origin: not a browser')
    for (const origin of ['http://localhost:3000', 'http://127.0.0.1:7700', 'https://[::1]']) assert.ok(originAllowed(origin, loopback), origin)
    for (const origin of ['null', 'http://attacker.example', 'file:///x', 'garbage']) assert.ok(!originAllowed(origin, loopback), origin)
  })

  it('checks the bearer token exactly', () => {
    assert.ok(bearerMatches('Bearer abc', 'abc'))
    assert.ok(bearerMatches('bearer abc', 'abc'))
    for (const header of [undefined, '', 'abc', 'Bearer ab', 'Bearer abcd', 'Basic abc', 'Bearer abc def']) assert.ok(!bearerMatches(header, 'abc'), String(header))
  })

  it('creates <data-dir>/api-token once with mode 0600, keeps it, and replaces an empty one', async () => {
    const dir = await tempDir('agentmesh-token-')
    try {
      const first = await loadOrCreateToken(dir.path)
      const file = join(dir.path, 'api-token')
      assert.equal(first.file, file)
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      assert.equal((await readFile(file, 'utf8')).trim(), first.token)
      await chmod(file, 0o644)
      const again = await loadOrCreateToken(dir.path)
      assert.equal(again.token, first.token, 'the same token after a restart')
      assert.equal((await stat(file)).mode & 0o777, 0o600, 'a loosened mode is repaired')
      await writeFile(file, '')
      const replaced = await loadOrCreateToken(dir.path)
      assert.ok(replaced.token.length > 0 && replaced.token !== first.token)
      const memory = await loadOrCreateToken(undefined)
      assert.equal(memory.file, undefined)
      assert.notEqual(memory.token, (await loadOrCreateToken(undefined)).token, 'a fresh token per run without a data dir')
    } finally {
      await dir.remove()
    }
  })

  it('carries bytes as {"$bytes": base64} both ways, and bounds nesting', () => {
    const value = { a: new Uint8Array([0, 1, 2]), b: [1, 'x', null, { c: new Uint8Array([255]) }] }
    const json = toJson(value)
    assert.deepEqual(json, { a: { $bytes: 'AAEC' }, b: [1, 'x', null, { c: { $bytes: '/w==' } }] })
    assert.deepEqual(fromJson(JSON.parse(JSON.stringify(json))), value)
    assert.deepEqual(fromJson({ $bytes: 'AAEC', other: 1 }), { $bytes: 'AAEC', other: 1 }, 'only the key alone marks bytes')
    let deep: unknown = 1
    for (let i = 0; i <= JSON_DEPTH_MAX + 1; i++) deep = [deep]
    assert.throws(() => fromJson(deep), LimitExceededError)
    assert.throws(() => toJson(deep), LimitExceededError)
  })
})
