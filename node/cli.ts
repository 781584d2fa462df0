#!/usr/bin/env node
// The agentmesh daemon: `npm run node -- [options]` (or the `agentmesh` bin) starts one node,
// prints how to join it, reports peers joining and leaving, and stops cleanly on SIGINT/SIGTERM.

import type { AgentNode } from '../src/index.ts'
import { describeError } from '../protocols/kit/errors.ts'
import { parseCommand, usage, UsageError, EXIT_USAGE } from './args.ts'
import type { RunCommand, McpCommand } from './args.ts'
import type { ApiServer } from './api/server.ts'
import type { ApiToken } from './api/token.ts'
import { bannerText, jsonLine, orderAddresses } from './output.ts'
import type { CliEvent } from './output.ts'
import { packageVersion } from '../src/version.ts'
import { installPeerErrorGuard } from '../src/peer-error-guard.ts'
import { accessOptions, watchAllowFile, makeSwarmKey } from './access.ts'

/** Exit status after a runtime failure (could not start, could not stop in time). */
const EXIT_FAILURE = 1
/** How long a clean stop may take before the process gives up and exits anyway. */
const STOP_TIMEOUT_MS = 10_000

/** How the user runs this CLI: from a checkout (`npm run node --`) or the installed bin. */
function invocation (): string {
  return import.meta.url.endsWith('.ts') ? 'npm run node --' : 'npx agentmesh'
}

/** Write to stdout and resolve once the bytes are handed to the OS. */
async function writeOut (text: string): Promise<void> {
  await new Promise<void>((resolve) => { process.stdout.write(text, () => { resolve() }) })
}

function logError (message: string): void {
  process.stderr.write(`agentmesh: ${message}\n`)
}

/** A peer:join / peer:leave event's peer id, with the name it announced (`node.peers()`, protocols/health). */
function peerFields (node: AgentNode, detail: { peerId: string }): { peerId: string, name?: string } {
  const name = node.peers().find(p => p.peerId === detail.peerId)?.name
  return { peerId: detail.peerId, ...(name !== undefined ? { name } : {}) }
}

/** Run a node until a signal stops it (or, for `mcp`, until stdin closes); resolves to the exit status. */
async function run (command: RunCommand | McpCommand): Promise<number> {
  // A peer's misbehaving stream must not end the daemon; any other uncaught error still does.
  installPeerErrorGuard({ log: logError })
  const mcp = command.kind === 'mcp'
  // Under `mcp`, stdout carries only MCP messages: what the CLI says goes to stderr as text.
  const emit = async (event: CliEvent, human: string): Promise<void> => {
    if (mcp) process.stderr.write(`${human}\n`)
    else await writeOut(command.kind === 'run' && command.json ? jsonLine(event) : `${human}\n`)
  }
  let node: AgentNode | undefined
  let stopRequested: (signal: NodeJS.Signals) => void = () => {}
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => { stopRequested = resolve })
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      logError(`${signal} again: forcing exit without a clean stop`)
      process.exit(EXIT_FAILURE)
    }
    logError(`${signal}: stopping (send it again to force)`)
    stopRequested(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // The reader of stdout went away (EPIPE): nobody hears us, so stop as on a signal.
    logError(`stdout closed (${err.code ?? err.message}); stopping`)
    stopRequested('SIGPIPE')
  })

  // Private mesh flags: the files are read here, so a missing or bad one is a usage error (exit 2).
  let access
  try {
    access = await accessOptions(command)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    logError(err.message)
    return EXIT_USAGE
  }
  try {
    // Loaded here, not at the top: --help, --version and usage errors answer without loading libp2p.
    const { createAgentNode } = await import('../src/index.ts')
    node = await createAgentNode({
      ...access,
      listen: command.listen,
      peers: command.peers,
      ...(command.dataDir !== undefined ? { dataDir: command.dataDir } : {}),
      ...(command.name !== undefined ? { name: command.name } : {}),
      ...(command.capabilities.length > 0 ? { capabilities: command.capabilities } : {})
    })
  } catch (err) {
    logError(`could not start the node: ${describeError(err)}${hintFor(err, command)}`)
    return EXIT_FAILURE
  }

  let api: ApiServer | undefined
  let token: ApiToken | undefined
  if (command.api !== undefined) {
    try {
      const { startApiServer } = await import('./api/server.ts')
      const { loadOrCreateToken } = await import('./api/token.ts')
      token = await loadOrCreateToken(command.dataDir)
      api = await startApiServer({ node, host: command.api.host, port: command.api.port, token: token.token })
    } catch (err) {
      const inUse = /EADDRINUSE/.test(errorChainText(err)) ? `\n  another process already listens on ${command.api.host}:${command.api.port}; pick another --api port, or 0 for a free one` : ''
      logError(`could not start the API on ${command.api.host}:${command.api.port}: ${describeError(err)}${inUse}`)
      await node.stop().catch((stopErr: unknown) => { logError(`error while stopping: ${describeError(stopErr)}`) })
      return EXIT_FAILURE
    }
  }
  if (mcp) {
    const { serveMcpStdio } = await import('./mcp/adapter.ts')
    const { LockTable } = await import('./api/locks.ts')
    await serveMcpStdio({ node, locks: new LockTable() }, {
      onClosed: (why) => {
        logError(`${why}: stopping`)
        stopRequested('SIGPIPE')
      }
    })
  }

  const agent = node
  node.addEventListener('peer:refused', (event) => {
    logError(`refused ${event.detail.direction} connection ${event.detail.direction === 'inbound' ? 'from' : 'to'} ${event.detail.peerId}: not on the allowlist`)
  })
  node.addEventListener('swarm-key:mismatch', (event) => {
    logError(`closed connection with ${event.detail.remoteAddress}: ${event.detail.reason} (check --swarm-key on both nodes)`)
  })
  const stopWatching = watchAllowFile(node, command, logError)
  node.addEventListener('peer:join', (event) => {
    const peer = peerFields(agent, event.detail)
    void emit({ event: 'peer:join', ...peer }, `peer joined: ${peer.peerId}${peer.name !== undefined ? ` "${peer.name}"` : ''}`)
  })
  node.addEventListener('peer:leave', (event) => {
    const peer = peerFields(agent, event.detail)
    void emit({ event: 'peer:leave', ...peer }, `peer left: ${peer.peerId}${peer.name !== undefined ? ` "${peer.name}"` : ''}`)
  })

  const addresses = orderAddresses(node.addresses())
  const apiFields = api !== undefined && token !== undefined
    ? { api: api.url, ...(token.file !== undefined ? { apiTokenFile: token.file } : { apiToken: token.token }) }
    : {}
  await emit(
    { event: 'ready', peerId: node.peerId, name: node.name, addresses, ...apiFields },
    bannerText({
      peerId: node.peerId,
      name: node.name,
      addresses,
      command: invocation(),
      dataDir: command.dataDir,
      ...(api !== undefined && token !== undefined ? { api: { url: api.url, tokenFile: token.file, token: token.token } } : {})
    })
  )

  await stopSignal
  stopWatching()
  const timer = setTimeout(() => {
    logError(`the node did not stop within ${STOP_TIMEOUT_MS} ms (STOP_TIMEOUT_MS); exiting anyway`)
    process.exit(EXIT_FAILURE)
  }, STOP_TIMEOUT_MS)
  timer.unref()
  try {
    await api?.close()
    await node.stop()
  } catch (err) {
    logError(`error while stopping: ${describeError(err)}`)
    return EXIT_FAILURE
  } finally {
    clearTimeout(timer)
  }
  await emit({ event: 'stopped' }, 'stopped')
  return 0
}

/** A next step for the start-up failures people actually hit. */
function hintFor (err: unknown, command: RunCommand | McpCommand): string {
  const text = errorChainText(err)
  if (/EADDRINUSE/.test(text)) return `\n  another process already listens on one of ${command.listen.join(', ')}; pick another --listen port, or port 0 for an OS-assigned one`
  if (/LEVEL_LOCKED|lock/i.test(text) && command.dataDir !== undefined) return `\n  --data-dir ${command.dataDir} is in use by another running node; each node needs its own data dir`
  if (/EACCES|EPERM/.test(text)) return '\n  permission denied: check --data-dir, or use a --listen port above 1023'
  return ''
}

function errorChainText (err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    parts.push(describeError(e), String((e as { code?: unknown }).code ?? ''))
    e = (e as { cause?: unknown }).cause
  }
  return parts.join(' ')
}

/** Parse the command line, then print help/version or run a node; resolves to the exit status. */
async function main (argv: readonly string[]): Promise<number> {
  let command
  try {
    command = parseCommand(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    logError(err.message)
    process.stderr.write(`usage: ${invocation()} [mcp] [--peer <multiaddr>]... [--listen <multiaddr>]... [--data-dir <path>] [--name <label>] [--capability <name>]... [--api <host:port> [--api-allow-remote]] [--json] [--help] [--version]\n`)
    return EXIT_USAGE
  }
  if (command.kind === 'help') {
    await writeOut(`${usage(invocation())}\n`)
    return 0
  }
  if (command.kind === 'version') {
    await writeOut(`${packageVersion()}\n`)
    return 0
  }
  if (command.kind === 'swarm-key') return makeSwarmKey(command, { out: writeOut, err: logError })
  return run(command)
}

process.exit(await main(process.argv.slice(2)))
