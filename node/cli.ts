#!/usr/bin/env node
// The agentmesh daemon: `npm run node -- [options]` (or the `agentmesh` bin) starts one node,
// prints how to join it, reports peers joining and leaving, and stops cleanly on SIGINT/SIGTERM.

// First, before any other module runs: a clear message and exit 1 on a too-old Node.js.
import './node-version.ts'
import type { AgentNode } from '../src/index.ts'
import { describeError } from '../protocols/kit/errors.ts'
import { parseCommand, usage, UsageError, EXIT_USAGE } from './args.ts'
import type { RunCommand, McpCommand } from './args.ts'
import type { ApiServer } from './api/server.ts'
import type { ApiToken } from './api/token.ts'
import type { ExecWorker, ExecEvent } from '../src/exec/supervisor.ts'
import { bannerText, jsonLine, orderAddresses, unreachableText } from './output.ts'
import { BOOTSTRAP_UNREACHABLE_WARN_MS } from '../src/bootstrap.ts'
import { QueryError, isQuerySubcommand, parseQuery, removeApiUrl, runQuery, writeApiUrl } from './query.ts'
import type { QuerySubcommand } from './query.ts'
import type { CliEvent } from './output.ts'
import { packageVersion } from '../src/version.ts'
import { installPeerErrorGuard } from '../src/peer-error-guard.ts'
import type { Registry } from 'prom-client'
import { createLog, formatLogLine, routeDebugLogs } from './log.ts'
import type { Log } from './log.ts'
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

/** Log lines before the command line is parsed (usage errors): always text. */
function logError (message: string): void {
  process.stderr.write(formatLogLine({ timeMs: Date.now(), level: 'error', component: 'cli', message }, 'text'))
}

/** A peer:join / peer:leave event's peer id, with the name it announced (`node.peers()`, protocols/health). */
function peerFields (node: AgentNode, detail: { peerId: string }): { peerId: string, name?: string } {
  const name = node.peers().find(p => p.peerId === detail.peerId)?.name
  return { peerId: detail.peerId, ...(name !== undefined ? { name } : {}) }
}

/** Run a node until a signal stops it (or, for `mcp`, until stdin closes); resolves to the exit status. */
async function run (command: RunCommand | McpCommand): Promise<number> {
  const log: Log = createLog('cli', { format: command.logFormat })
  let selfPeerId: string | undefined
  routeDebugLogs({ format: command.logFormat, peer: () => selfPeerId })
  // A peer's misbehaving stream must not end the daemon; any other uncaught error still does.
  installPeerErrorGuard({ log: (line) => { log.child('peer-error-guard').warn(line) } })
  const mcp = command.kind === 'mcp'
  // Under `mcp`, stdout carries only MCP messages: what the CLI says goes to stderr as text.
  const emit = async (event: CliEvent, human: string): Promise<void> => {
    if (mcp) process.stderr.write(`${human}\n`)
    else await writeOut(command.kind === 'run' && command.json ? jsonLine(event) : `${human}\n`)
  }
  let node: AgentNode | undefined
  let prometheusRegistry: Registry | undefined
  let stopRequested: (signal: NodeJS.Signals) => void = () => {}
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => { stopRequested = resolve })
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      log.warn(`${signal} again: forcing exit without a clean stop`)
      process.exit(EXIT_FAILURE)
    }
    log.info(`${signal}: stopping (send it again to force)`)
    stopRequested(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // Start-up can take seconds on a busy machine; say that it began and that a signal cancels it.
  log.info('starting the node (Ctrl-C cancels)')
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // The reader of stdout went away (EPIPE): nobody hears us, so stop as on a signal.
    log.info(`stdout closed (${err.code ?? err.message}); stopping`)
    stopRequested('SIGPIPE')
  })

  // Private mesh flags: the files are read here, so a missing or bad one is a usage error (exit 2).
  let access
  try {
    access = await accessOptions(command)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    log.error(err.message)
    return EXIT_USAGE
  }
  try {
    // Loaded here, not at the top: --help, --version and usage errors answer without loading libp2p.
    const loaded = await Promise.race([import('../src/index.ts').then(module => ({ module })), stopSignal.then(signal => ({ signal }))])
    if ('signal' in loaded) {
      log.info('stopped during start-up')
      return 0
    }
    const { createAgentNode } = loaded.module
    // With the API, /metrics serves libp2p's own metrics too: they register on this registry as libp2p starts.
    if (command.api !== undefined) prometheusRegistry = new (await import('prom-client')).Registry()
    const starting = createAgentNode({
      ...(prometheusRegistry !== undefined ? { prometheusRegistry } : {}),
      ...access,
      listen: command.listen,
      peers: command.peers,
      ...(command.dataDir !== undefined ? { dataDir: command.dataDir } : {}),
      ...(command.name !== undefined ? { name: command.name } : {}),
      ...(command.capabilities.length > 0 ? { capabilities: command.capabilities } : {})
    })
    // A signal during start-up stops the start-up too: the user must not wait for it to finish.
    const first = await Promise.race([starting.then(started => ({ started })), stopSignal.then(signal => ({ signal }))])
    if ('signal' in first) return await abandonStart(starting, log)
    node = first.started
  } catch (err) {
    log.error(`could not start the node: ${startErrorText(err)}${hintFor(err, command)}`)
    return EXIT_FAILURE
  }

  let api: ApiServer | undefined
  let token: ApiToken | undefined
  if (command.api !== undefined) {
    try {
      const { startApiServer } = await import('./api/server.ts')
      const { loadOrCreateToken } = await import('./api/token.ts')
      token = await loadOrCreateToken(command.dataDir)
      api = await startApiServer({ node, host: command.api.host, port: command.api.port, token: token.token, ops: { ...(prometheusRegistry !== undefined ? { registry: prometheusRegistry } : {}) } })
      // Lets `agentmesh status|peers|groups --data-dir …` find this node's API.
      if (command.dataDir !== undefined) await writeApiUrl(command.dataDir, api.url)
    } catch (err) {
      const inUse = /EADDRINUSE/.test(errorChainText(err)) ? `\n  another process already listens on ${command.api.host}:${command.api.port}; pick another --api port, or 0 for a free one` : ''
      log.error(`could not start the API on ${command.api.host}:${command.api.port}: ${describeError(err)}${inUse}`)
      await node.stop().catch((stopErr: unknown) => { log.error(`error while stopping: ${describeError(stopErr)}`) })
      return EXIT_FAILURE
    }
  }
  if (mcp) {
    const { serveMcpStdio } = await import('./mcp/adapter.ts')
    const { LockTable } = await import('./api/locks.ts')
    await serveMcpStdio({ node, locks: new LockTable() }, {
      onClosed: (why) => {
        log.info(`${why}: stopping`)
        stopRequested('SIGPIPE')
      }
    })
  }

  // --exec: spawn the worker before `ready`, so a program that cannot start is a usage error (exit 2).
  let exec: ExecWorker | undefined
  if (command.exec !== undefined) {
    const { ExecWorker } = await import('../src/exec/supervisor.ts')
    const { SpawnError } = await import('../src/exec/child.ts')
    const { execHostOf } = await import('../src/exec/host.ts')
    exec = new ExecWorker({ command: command.exec.command, host: execHostOf(node), log: (line) => { log.info(line) }, onEvent: (event) => { if (command.kind === 'run' && command.json) void writeOut(jsonLine(execCliEvent(event))) } })
    try {
      await exec.start()
    } catch (err) {
      log.error(describeExecStartError(err, SpawnError))
      await api?.close()
      await node.stop().catch((stopErr: unknown) => { log.error(`error while stopping: ${describeError(stopErr)}`) })
      return err instanceof SpawnError ? EXIT_USAGE : EXIT_FAILURE
    }
  }

  const agent = node
  selfPeerId = node.peerId
  log.setPeer(node.peerId)
  node.addEventListener('peer:refused', (event) => {
    log.warn(`refused ${event.detail.direction} connection ${event.detail.direction === 'inbound' ? 'from' : 'to'} ${event.detail.peerId}: not on the allowlist`)
  })
  node.addEventListener('swarm-key:mismatch', (event) => {
    log.warn(`closed connection with ${event.detail.remoteAddress}: ${event.detail.reason} (check --swarm-key on both nodes)`)
  })
  const stopWatching = watchAllowFile(node, command, (line) => { log.info(line) })
  node.addEventListener('peer:join', (event) => {
    const peer = peerFields(agent, event.detail)
    void emit({ event: 'peer:join', ...peer }, `${new Date().toISOString()} peer joined: ${peer.peerId}${peer.name !== undefined ? ` "${peer.name}"` : ''}`)
  })
  node.addEventListener('peer:leave', (event) => {
    const peer = peerFields(agent, event.detail)
    void emit({ event: 'peer:leave', ...peer }, `${new Date().toISOString()} peer left: ${peer.peerId}${peer.name !== undefined ? ` "${peer.name}"` : ''}`)
  })

  node.addEventListener('peer:unreachable', (event) => {
    // A warning, not an exit: the peer may come up later, and the node keeps dialling it.
    if (command.kind === 'run' && command.json) {
      for (const peer of event.detail.peers) void writeOut(jsonLine({ event: 'peer:unreachable', ...peer }))
    } else {
      process.stderr.write(`${unreachableText(event.detail.peers, BOOTSTRAP_UNREACHABLE_WARN_MS)}\n`)
    }
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
    log.error(`the node did not stop within ${STOP_TIMEOUT_MS} ms (STOP_TIMEOUT_MS); exiting anyway`)
    process.exit(EXIT_FAILURE)
  }, STOP_TIMEOUT_MS)
  timer.unref()
  try {
    // The worker first: its last results still reach the queue while the node runs.
    await exec?.stop()
    await api?.close()
    if (api !== undefined && command.dataDir !== undefined) await removeApiUrl(command.dataDir)
    await node.stop()
  } catch (err) {
    log.error(`error while stopping: ${describeError(err)}`)
    return EXIT_FAILURE
  } finally {
    clearTimeout(timer)
  }
  await emit({ event: 'stopped' }, 'stopped')
  return 0
}

/**
 * Stopped by a signal while the node was still starting: stop it once it has started (a
 * half-opened LevelDB or listener must be closed cleanly), or exit when start-up fails, all
 * within STOP_TIMEOUT_MS; a second signal forces the exit as usual.
 */
async function abandonStart (starting: Promise<AgentNode>, log: Log): Promise<number> {
  const timer = setTimeout(() => {
    log.error(`start-up did not end within ${STOP_TIMEOUT_MS} ms (STOP_TIMEOUT_MS) after the signal; exiting anyway`)
    process.exit(EXIT_FAILURE)
  }, STOP_TIMEOUT_MS)
  timer.unref()
  try {
    const node = await starting
    await node.stop()
  } catch (err) {
    // Start-up failed on its own after the signal: nothing is running, which is what was asked.
    log.error(`start-up ended with: ${describeError(err)}`)
  } finally {
    clearTimeout(timer)
  }
  log.info('stopped during start-up')
  return 0
}

/**
 * The start-up error in one or a few lines. libp2p's listen failure carries each address's error
 * with its stack and advice about libp2p options a CLI user cannot set: keep address and reason.
 */
function startErrorText (err: unknown): string {
  const message = err instanceof Error ? err.message : ''
  if ((err as { name?: unknown }).name === 'UnsupportedListenAddressesError') {
    const failures = [...message.matchAll(/^\s*(\/\S+): (?:\w*Error: )?(.+)$/gm)].map(m => `\n  ${m[1]}: ${m[2]}`)
    if (failures.length > 0) return `cannot listen on every --listen address:${failures.join('')}`
  }
  return describeError(err)
}

/** An `--exec` event as a `--json` line (in human mode the supervisor's log lines say the same on stderr). */
function execCliEvent (event: ExecEvent): CliEvent {
  switch (event.kind) {
    case 'spawned': return { event: 'exec:spawned', pid: event.pid }
    case 'ready': return { event: 'exec:ready', pid: event.pid, queues: event.queues, concurrency: event.concurrency }
    case 'exited': return { event: 'exec:exited', pid: event.pid, code: event.code, signal: event.signal, ...(event.restartInMs !== undefined ? { restartInMs: event.restartInMs } : {}) }
    case 'gave-up': return { event: 'exec:gave-up', reason: event.reason }
  }
}

function describeExecStartError (err: unknown, spawnError: new (...args: never[]) => Error): string {
  return err instanceof spawnError ? err.message : `could not start the --exec worker: ${describeError(err)}`
}

/** A next step for the start-up failures people actually hit. */
function hintFor (err: unknown, command: RunCommand | McpCommand): string {
  // A data-dir error already says which path and why.
  if ((err as { code?: unknown }).code === 'ERR_DATA_DIR') return ''
  const text = errorChainText(err)
  if (/EADDRINUSE/.test(text)) return `\n  another process already listens on one of ${command.listen.join(', ')}; pick another --listen port, or port 0 for an OS-assigned one`
  if (/LEVEL_LOCKED|lock/i.test(text) && command.dataDir !== undefined) return `\n  --data-dir ${command.dataDir} is in use by another running node; each node needs its own data dir`
  if (/EADDRNOTAVAIL/.test(text)) return '\n  no network interface of this machine has that address: listen on 0.0.0.0 (all interfaces) or one of its own addresses (ip addr)'
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

/** `status|peers|groups`: ask a running node through its API and print the answer. */
async function query (what: QuerySubcommand, argv: readonly string[]): Promise<number> {
  let command
  try {
    command = parseQuery(what, argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    logError(err.message)
    return EXIT_USAGE
  }
  try {
    const text = await runQuery(command)
    if (text !== '') await writeOut(`${text}\n`)
    return 0
  } catch (err) {
    if (!(err instanceof QueryError)) throw err
    logError(err.message)
    return EXIT_FAILURE
  }
}

/** Parse the command line, then print help/version or run a node; resolves to the exit status. */
async function main (argv: readonly string[]): Promise<number> {
  if (isQuerySubcommand(argv[0])) return query(argv[0], argv.slice(1))
  let command
  try {
    command = parseCommand(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    logError(err.message)
    process.stderr.write(`usage: ${invocation()} [mcp] [--peer <multiaddr>]... [--listen <multiaddr>]... [--data-dir <path>] [--name <label>] [--capability <name>]... [--api <host:port> [--api-allow-remote]] [--exec "<command>"] [--json] [--log-format text|json] [--help] [--version]\n`)
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
