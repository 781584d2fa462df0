// `agentmesh mcp` end to end: the MCP SDK's own client drives a real node process over stdio,
// and the process exits on its own once its stdin closes (no orphaned servers).

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { REPO } from './api/node-process.ts'

const ARGS = ['node/cli.ts', 'mcp', '--listen', '/ip4/127.0.0.1/tcp/0']
/** Generous slack for a clean stop on a loaded machine; a server that ignores EOF never exits at all. */
const EXIT_SLACK_MS = 30_000

describe('agentmesh mcp (stdio, real process, the SDK client)', function () {
  this.timeout(120_000)

  it('lists the tools, publishes an event and reads it back', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: ARGS, cwd: REPO, stderr: 'pipe' })
    const client = new Client({ name: 'mcp-test', version: '1.0.0' })
    await client.connect(transport)
    try {
      const { tools } = await client.listTools()
      const names = tools.map(t => t.name)
      for (const name of ['publish_event', 'read_events', 'state_get', 'state_put', 'find_agents', 'send_request', 'propose', 'lock', 'unlock', 'mesh_status']) {
        assert.ok(names.includes(name), `tool ${name} is listed`)
      }
      assert.equal(tools.find(t => t.name === 'read_events')?.annotations?.readOnlyHint, true)
      const published = await client.callTool({ name: 'publish_event', arguments: { topic: 'mcp-notes', type: 'note', data: { text: 'hello from MCP' } } })
      assert.notEqual(published.isError, true, JSON.stringify(published.content))
      const id = (published.structuredContent as { id: string }).id
      const read = await client.callTool({ name: 'read_events', arguments: { topic: 'mcp-notes' } })
      const events = (read.structuredContent as { events: Array<{ id: string, type: string, data: unknown }> }).events
      assert.deepEqual(events.map(e => [e.id, e.type, e.data]), [[id, 'note', { text: 'hello from MCP' }]])
      const missing = await client.callTool({ name: 'propose', arguments: { group: 'none', command: 1 } })
      assert.equal(missing.isError, true)
      assert.match(JSON.stringify(missing.content), /ERR_GROUP_NOT_JOINED/)
    } finally {
      await client.close()
    }
  })

  it('exits by itself, status 0, when its stdin closes', async () => {
    const child = spawn(process.execPath, ARGS, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => { child.once('exit', (code, signal) => { resolve({ code, signal }) }) })
    try {
      // Answered once the node is up: proof the server was running before stdin closed.
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`)
      while (!stdout.includes('"id":1')) {
        if (child.exitCode !== null) assert.fail(`exited before answering initialize; stderr:\n${stderr}`)
        await new Promise(resolve => setTimeout(resolve, 25))
      }
      assert.ok(!/^(?!\{).+$/m.test(stdout), 'stdout carries only JSON-RPC lines')
      child.stdin.end()
      let timer: ReturnType<typeof setTimeout> | undefined
      const stillRunning = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error(`still running ${EXIT_SLACK_MS} ms after its stdin closed (an orphaned MCP server); stderr:\n${stderr}`)) }, EXIT_SLACK_MS)
      })
      try {
        assert.deepEqual(await Promise.race([exited, stillRunning]), { code: 0, signal: null })
      } finally {
        clearTimeout(timer)
      }
      assert.match(stderr, /stdin (ended|closed)/)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })
})
