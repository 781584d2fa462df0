// Command-line parsing for `npm run node -- [options]` (DESIGN "CLI"): strict flags,
// checked values, and usage errors that name the flag and say why. Pure: no I/O.

import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { NAME_CHARS_MAX } from '../protocols/health/messages.ts'
import { closestName } from './closest-name.ts'
import { LOG_FORMATS } from './log.ts'
import type { LogFormat } from './log.ts'
import { splitCommand, ExecCommandError } from '../src/exec/command.ts'

/** Exit status for bad usage (the shell convention, as in BSD sysexits' EX_USAGE family). */
export const EXIT_USAGE = 2

/** Longest `--name` accepted: the longest name health announces (UTF-16 code units, as it counts). */
export { NAME_CHARS_MAX }
/** Most `--peer` flags accepted: bootstrap needs a few; the rest of the mesh is discovered. */
export const PEERS_MAX = 32
/** Most `--listen` flags accepted. */
export const LISTEN_MAX = 16

/** Where a node listens when no `--listen` is given: every interface, an OS-assigned port. */
export const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/0'

/** A valid command line that starts a node. */
export interface RunCommand {
  readonly kind: 'run'
  /** Bootstrap addresses, each with /p2p/<peer-id>, without duplicates. */
  readonly peers: string[]
  /** Listen addresses (TCP), `[DEFAULT_LISTEN]` when none were given. */
  readonly listen: string[]
  readonly dataDir: string | undefined
  readonly name: string | undefined
  /** NDJSON on stdout instead of human text. */
  readonly json: boolean
  /** Serve the local HTTP API here (node/api); undefined: no API. */
  readonly api: ApiAddress | undefined
  /** What this agent can do, announced to others (`--capability`, repeatable). */
  readonly capabilities: string[]
  /** Log lines on stderr: human text, or one JSON object per line (`--log-format`). */
  readonly logFormat: LogFormat
  /** `--exec`: a worker program the node runs and feeds tasks over NDJSON (node/exec); its argv, split without a shell. */
  readonly exec: { readonly command: string, readonly argv: string[] } | undefined
  /** Private mesh: the swarm key file (`--swarm-key`), read and checked by the CLI. */
  readonly swarmKeyFile?: string
  /** Peers allowed to connect (`--allow`, repeatable), checked peer ids. */
  readonly allow?: string[]
  /** A file of allowed peer ids (`--allow-file`), reread on SIGHUP. */
  readonly allowFile?: string
}

/** `agentmesh mcp …`: a node serving MCP over stdio (stdout carries only MCP messages). */
export interface McpCommand extends Omit<RunCommand, 'kind' | 'json'> {
  readonly kind: 'mcp'
}

/** Where `--api` binds. */
export interface ApiAddress { readonly host: string, readonly port: number }

/** What a command line asks for. */
export type Command = RunCommand | McpCommand | SwarmKeyCommand | { readonly kind: 'help' } | { readonly kind: 'version' }

/** `agentmesh swarm-key [<file>]`: make a new swarm key (to the file, mode 0600; or to stdout). */
export interface SwarmKeyCommand { readonly kind: 'swarm-key', readonly file: string | undefined }

/** The subcommand that makes a swarm key. */
export const SWARM_KEY_SUBCOMMAND = 'swarm-key'

/** The subcommand that serves MCP over stdio. */
export const MCP_SUBCOMMAND = 'mcp'
/** Most `--capability` flags: the agent card's own bound (CAPABILITIES_MAX in protocols/state/card.ts). */
export const CAPABILITIES_MAX = 64
/** Longest capability name (CAPABILITY_CHARS_MAX in protocols/state/card.ts). */
export const CAPABILITY_CHARS_MAX = 128

/** Bad usage: the message names the flag and says why; the CLI exits with EXIT_USAGE. */
export class UsageError extends Error {
  override name = 'UsageError'
  /** The flag at fault (e.g. `--peer`), or undefined for a stray positional argument. */
  readonly flag: string | undefined

  constructor (flag: string | undefined, message: string) {
    super(message)
    this.flag = flag
  }
}

/** One flag: its parseArgs type, whether it may repeat, and the one-line help. */
interface FlagSpec {
  readonly type: 'string' | 'boolean'
  readonly multiple: boolean
  readonly value?: string
  readonly help: string
  readonly short?: string
}

/** Every flag the CLI knows, in the order `--help` lists them. */
export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  peer: { type: 'string', multiple: true, value: '<multiaddr>', help: 'join the mesh through this node (repeatable); copy an address another node printed, ending in /p2p/<peer-id>' },
  listen: { type: 'string', multiple: true, value: '<multiaddr>', help: `listen on this TCP address (repeatable); default ${DEFAULT_LISTEN} (all interfaces, OS-assigned port)` },
  'data-dir': { type: 'string', multiple: false, value: '<path>', help: 'keep identity and state here, so the peer id survives a restart; default: in memory' },
  name: { type: 'string', multiple: false, value: '<label>', help: `a label other agents see (at most ${NAME_CHARS_MAX} characters); default agent-<end of peer id>` },
  json: { type: 'boolean', multiple: false, help: 'print one JSON object per line on stdout (ready, peer:join, peer:leave, stopped); logs go to stderr' },
  capability: { type: 'string', multiple: true, value: '<name>', help: `announce a capability other agents find with findAgents (repeatable, at most ${CAPABILITIES_MAX})` },
  api: { type: 'string', multiple: false, value: '<host:port>', help: 'serve the local HTTP API (JSON, SSE, OpenAPI at /openapi.json, MCP at /mcp) for agents in any language; port 0 picks one, e.g. 127.0.0.1:7700. Needs the bearer token in <data-dir>/api-token (printed without --data-dir)' },
  'swarm-key': { type: 'string', multiple: false, value: '<file>', help: 'private mesh: connect only to nodes holding this swarm key (libp2p pnet, go-ipfs swarm.key format); make one with the swarm-key subcommand' },
  allow: { type: 'string', multiple: true, value: '<peer-id>', help: 'let only this peer connect, inbound and outbound (repeatable; with --allow-file, either list admits)' },
  'allow-file': { type: 'string', multiple: false, value: '<file>', help: 'let only the peer ids in this file connect (one per line, # comments); reread on SIGHUP' },
  'api-allow-remote': { type: 'boolean', multiple: false, help: 'let --api bind a non-loopback address. Off by default: the API can act as this agent (send, publish, lock), and on a network interface only the token would stand between it and anyone who can reach the port' },
  'log-format': { type: 'string', multiple: false, value: '<text|json>', help: 'log lines on stderr: text (default, for people) or json (one object per line: time, level, component, peer, message, fields)' },
  exec: { type: 'string', multiple: false, value: '"<command>"', help: 'run this worker program (no shell; quote it as one argument) and feed it tasks from the queues its first line names, as NDJSON on its stdin/stdout; it is restarted with backoff if it crashes and must exit when stdin closes (README "--exec")' },
  help: { type: 'boolean', multiple: false, short: 'h', help: 'print this help and exit' },
  version: { type: 'boolean', multiple: false, help: 'print the agentmesh version and exit' }
}

const EXAMPLE_PEER = '/ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…'

/** The `--help` text. `command` is how the user runs the CLI (e.g. `npm run node --`). */
export function usage (command: string): string {
  const lines = [
    `Usage: ${command} [options]`,
    `       ${command} ${MCP_SUBCOMMAND} [options]`,
    `       ${command} ${SWARM_KEY_SUBCOMMAND} [<file>]`,
    '',
    'Start an agentmesh node: an equal peer of a libp2p mesh of AI agents (no broker).',
    `With "${MCP_SUBCOMMAND}", the node serves its tools over MCP on stdin/stdout for an LLM host (logs on stderr),`,
    'and exits when stdin closes.',
    `With "${SWARM_KEY_SUBCOMMAND}", it writes a new swarm key for --swarm-key to <file> (mode 0600, never overwritten) or to stdout.`,
    '',
    'Ask a running node (started with --api and --data-dir) what it sees:',
    `       ${command} status|peers|groups --data-dir <path> [--json]`,
    `       ${command} status|peers|groups --api <host:port> --token-file <path> [--json]`,
    '',
    'Options:'
  ]
  for (const [name, spec] of Object.entries(FLAGS)) {
    const left = `${spec.short !== undefined ? `-${spec.short}, ` : '    '}--${name}${spec.value !== undefined ? ` ${spec.value}` : ''}`
    lines.push(`  ${left.padEnd(28)} ${spec.help}`)
  }
  lines.push(
    '',
    'Examples:',
    '  # start the first node; it prints the command that joins it',
    `  ${command}`,
    '  # join an existing mesh through any of its nodes',
    `  ${command} --peer ${EXAMPLE_PEER}`,
    '  # a fixed port for other machines, and the same peer id after restarts',
    `  ${command} --listen /ip4/0.0.0.0/tcp/4001 --data-dir ./.data/a`,
    '  # a local HTTP API for agents in other languages (token in ./.data/a/api-token)',
    `  ${command} --data-dir ./.data/a --api 127.0.0.1:7700`,
    '  # a worker in any language: the node feeds it tasks as NDJSON on stdin/stdout',
    `  ${command} --peer ${EXAMPLE_PEER} --exec "python3 node/examples/python/exec_worker.py upper"`,
    '  # a private mesh: make a key once, copy it to every node, pass it to each',
    `  ${command} ${SWARM_KEY_SUBCOMMAND} ./swarm.key`,
    `  ${command} --swarm-key ./swarm.key --allow-file ./allowed-peers`,
    '  # MCP tools over stdio for an LLM host (npm run -s: no npm banner on stdout)',
    `  ${command.replace('npm run ', 'npm run -s ')} ${MCP_SUBCOMMAND} --peer ${EXAMPLE_PEER}`,
    '',
    'Exit status: 0 after a clean stop (SIGINT/SIGTERM), 1 on a runtime failure, 2 on bad usage.',
    "Logs: DEBUG='agentmesh*' prints every agentmesh component's log on stderr."
  )
  return lines.join('\n')
}

/** Parse and check a command line (without the `node cli.ts` part). Throws UsageError. */
export function parseCommand (argv: readonly string[]): Command {
  if (argv[0] === SWARM_KEY_SUBCOMMAND) return parseSwarmKeyCommand(argv.slice(1))
  if (argv[0] === MCP_SUBCOMMAND) {
    const command = parseCommand(argv.slice(1))
    if (command.kind !== 'run') return command
    if (command.json) throw new UsageError('--json', `--json: not with ${MCP_SUBCOMMAND}; stdout carries only MCP messages there`)
    const { kind: _kind, json: _json, ...rest } = command
    return { ...rest, kind: 'mcp' }
  }
  const options = Object.fromEntries(Object.entries(FLAGS).map(([name, spec]) => [name, {
    type: spec.type,
    multiple: spec.multiple,
    ...(spec.short !== undefined ? { short: spec.short } : {})
  }]))
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, tokens: true })
  } catch (err) {
    throw translateParseError(err)
  }
  rejectRepeats(parsed.tokens ?? [])
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }

  const peers = [...new Set(strings(values.peer))]
  if (peers.length > PEERS_MAX) throw new UsageError('--peer', `--peer: ${peers.length} given; at most ${PEERS_MAX} (PEERS_MAX) — a few are enough, the rest of the mesh is discovered`)
  for (const peer of peers) checkPeer(peer)
  const listen = [...new Set(strings(values.listen))]
  if (listen.length > LISTEN_MAX) throw new UsageError('--listen', `--listen: ${listen.length} given; at most ${LISTEN_MAX} (LISTEN_MAX)`)
  for (const address of listen) checkListen(address)
  const dataDir = values['data-dir'] as string | undefined
  if (dataDir !== undefined && dataDir.trim() === '') throw new UsageError('--data-dir', '--data-dir: the path is empty')
  const name = values.name as string | undefined
  if (name !== undefined) checkName(name)
  const capabilities = [...new Set(strings(values.capability))]
  if (capabilities.length > CAPABILITIES_MAX) throw new UsageError('--capability', `--capability: ${capabilities.length} given; at most ${CAPABILITIES_MAX} (CAPABILITIES_MAX, the agent card's bound)`)
  for (const capability of capabilities) checkCapability(capability)
  const apiText = values.api as string | undefined
  const api = apiText !== undefined ? parseApiAddress(apiText, values['api-allow-remote'] === true) : undefined
  if (api === undefined && values['api-allow-remote'] === true) throw new UsageError('--api-allow-remote', '--api-allow-remote: only with --api <host:port>')
  const exec = parseExec(values.exec as string | undefined)
  const logFormat = parseLogFormat(values['log-format'] as string | undefined)
  return { kind: 'run', peers, listen: listen.length > 0 ? listen : [DEFAULT_LISTEN], dataDir, name, json: values.json === true, api, capabilities, logFormat, exec, ...accessFlags(values) }
}

/** `--log-format`: one of LOG_FORMATS, text when absent. */
export function parseLogFormat (text: string | undefined): LogFormat {
  if (text === undefined) return 'text'
  const format = LOG_FORMATS.find(f => f === text)
  if (format === undefined) throw new UsageError('--log-format', `--log-format: "${text}" is not a log format; expected ${LOG_FORMATS.join(' or ')}`)
  return format
}

/** `--exec "<command>"`: split like a shell splits words, but run without one (node/exec/command.ts). */
function parseExec (text: string | undefined): RunCommand['exec'] {
  if (text === undefined) return undefined
  try {
    return { command: text, argv: splitCommand(text) }
  } catch (err) {
    if (!(err instanceof ExecCommandError)) throw err
    throw new UsageError('--exec', `--exec: ${err.message}`)
  }
}

// --- private meshes (src/access.ts) ---

/** Most `--allow` flags: more peers belong in --allow-file. */
export const ALLOW_FLAGS_MAX = 256

/** `--swarm-key`, `--allow`, `--allow-file`: paths non-empty, peer ids valid. */
function accessFlags (values: Record<string, string | string[] | boolean | undefined>): { swarmKeyFile?: string, allow?: string[], allowFile?: string } {
  const swarmKeyFile = values['swarm-key'] as string | undefined
  if (swarmKeyFile !== undefined && swarmKeyFile.trim() === '') throw new UsageError('--swarm-key', '--swarm-key: the path is empty')
  const allowFile = values['allow-file'] as string | undefined
  if (allowFile !== undefined && allowFile.trim() === '') throw new UsageError('--allow-file', '--allow-file: the path is empty')
  const allow = [...new Set(strings(values.allow))]
  if (allow.length > ALLOW_FLAGS_MAX) throw new UsageError('--allow', `--allow: ${allow.length} given; at most ${ALLOW_FLAGS_MAX} (ALLOW_FLAGS_MAX); list more in --allow-file`)
  for (const id of allow) {
    try {
      peerIdFromString(id)
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err)
      throw new UsageError('--allow', `--allow: "${id}" is not a peer id (${why}); use the id a node prints at start, e.g. 12D3KooW…`)
    }
  }
  return {
    ...(swarmKeyFile !== undefined ? { swarmKeyFile } : {}),
    ...(allow.length > 0 ? { allow } : {}),
    ...(allowFile !== undefined ? { allowFile } : {})
  }
}

/** `swarm-key [<file>]`: one optional path, no flags. */
function parseSwarmKeyCommand (argv: readonly string[]): SwarmKeyCommand {
  if (argv.length > 1) throw new UsageError(undefined, `${SWARM_KEY_SUBCOMMAND}: takes one <file> at most, got ${argv.length} arguments`)
  const file = argv[0]
  if (file !== undefined && (file.startsWith('-') || file.trim() === '')) throw new UsageError(undefined, `${SWARM_KEY_SUBCOMMAND}: "${file}" is not a file path; usage: ${SWARM_KEY_SUBCOMMAND} [<file>]`)
  return { kind: 'swarm-key', file }
}

function checkCapability (capability: string): void {
  if (capability.trim() === '' || capability.length > CAPABILITY_CHARS_MAX || /\p{Cc}/u.test(capability)) {
    throw new UsageError('--capability', `--capability: "${capability}" must be 1 to ${CAPABILITY_CHARS_MAX} characters (CAPABILITY_CHARS_MAX) without control characters`)
  }
}

/** Hosts that are this machine only. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1'])

/** `host:port`, `[v6]:port` or a bare port (loopback); a non-loopback host only with --api-allow-remote. */
export function parseApiAddress (text: string, allowRemote: boolean): ApiAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text)
  if (match === null) throw new UsageError('--api', `--api: "${text}" is not host:port; expected e.g. 127.0.0.1:7700 (port 0 picks a free one)`)
  // A bare port matches with empty host groups: it means loopback.
  const host = [match[1], match[2]].find(h => h !== undefined && h !== '') ?? '127.0.0.1'
  const port = Number(match[3])
  if (port > 65535) throw new UsageError('--api', `--api: port ${port} is above 65535`)
  const loopback = LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host)
  if (!loopback && !allowRemote) {
    throw new UsageError('--api', `--api: "${host}" is not a loopback address; the API acts as this agent, so it binds 127.0.0.1 unless you also pass --api-allow-remote (and keep the token secret)`)
  }
  return { host, port }
}

function strings (value: string | string[] | boolean | undefined): string[] {
  if (value === undefined || typeof value === 'boolean') return []
  return typeof value === 'string' ? [value] : value
}

/** A single-valued flag given twice is an error: silently keeping one would surprise. */
function rejectRepeats (tokens: ReadonlyArray<{ kind: string, name?: string, rawName?: string }>): void {
  const seen = new Set<string>()
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined) continue
    const spec = FLAGS[token.name]
    if (spec === undefined || spec.multiple) continue
    if (seen.has(token.name)) {
      throw new UsageError(`--${token.name}`, `--${token.name}: given more than once; it takes one ${spec.value ?? 'switch'} (only --peer and --listen repeat)`)
    }
    seen.add(token.name)
  }
}

function parseMultiaddr (flag: string, text: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new UsageError(flag, `${flag}: "${text}" is not a valid multiaddr (${why}); expected e.g. ${flag === '--peer' ? EXAMPLE_PEER : '/ip4/0.0.0.0/tcp/4001'}`)
  }
}

const IP_OR_DNS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

function checkPeer (text: string): void {
  const components = parseMultiaddr('--peer', text).getComponents()
  if (!IP_OR_DNS.has(components[0]?.name ?? '') || components[1]?.name !== 'tcp') {
    throw new UsageError('--peer', `--peer: "${text}" is not a TCP address; expected /ip4/<host>/tcp/<port>/p2p/<peer-id> as another node printed it`)
  }
  const p2p = components.find(c => c.name === 'p2p')
  if (p2p?.value === undefined) {
    throw new UsageError('--peer', `--peer: "${text}" lacks /p2p/<peer-id>; copy the whole address the other node printed`)
  }
  try {
    peerIdFromString(p2p.value)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new UsageError('--peer', `--peer: "${p2p.value}" in "${text}" is not a valid peer id (${why})`)
  }
}

function checkListen (text: string): void {
  const components = parseMultiaddr('--listen', text).getComponents()
  const [host, tcp] = components
  if (host === undefined || (host.name !== 'ip4' && host.name !== 'ip6') || tcp?.name !== 'tcp' || components.length !== 2) {
    throw new UsageError('--listen', `--listen: "${text}" is not a TCP listen address; expected /ip4/<interface>/tcp/<port> (port 0 = OS-assigned), e.g. /ip4/0.0.0.0/tcp/4001`)
  }
}

function checkName (name: string): void {
  if (name.trim() === '') throw new UsageError('--name', '--name: the label is empty')
  if (name.length > NAME_CHARS_MAX) throw new UsageError('--name', `--name: ${name.length} characters; at most ${NAME_CHARS_MAX} (NAME_CHARS_MAX)`)
  if (/\p{Cc}/u.test(name)) throw new UsageError('--name', '--name: the label contains control characters')
}

/** Turn a node:util parseArgs error into a UsageError that names the flag. */
function translateParseError (err: unknown): UsageError {
  if (!(err instanceof Error)) return new UsageError(undefined, String(err))
  const code = (err as { code?: string }).code
  const flag = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1]
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined) {
    const suggestion = closestFlag(flag)
    return new UsageError(flag, `${flag}: unknown flag${suggestion !== undefined ? ` (did you mean --${suggestion}?)` : ''}; run with --help for the list`)
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag !== undefined) {
    const entry = Object.entries(FLAGS).find(([name, spec]) => flag === `--${name}` || flag === `-${spec.short}`)
    const long = entry !== undefined ? `--${entry[0]}` : flag
    if (entry?.[1].type === 'boolean') return new UsageError(long, `${long}: takes no value`)
    return new UsageError(long, `${long}: missing value; expected ${entry?.[1].value ?? 'a value'} after it`)
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const argument = /'([^']*)'/.exec(err.message)?.[1] ?? ''
    const hint = argument.startsWith('/') ? ` (did you mean --peer ${argument}?)` : ''
    return new UsageError(undefined, `unexpected argument "${argument}": every option is a --flag${hint}; run with --help for the list`)
  }
  return new UsageError(flag, err.message)
}

/** The known flag nearest to a mistyped one, if it is plausibly a typo. */
function closestFlag (flag: string): string | undefined {
  return closestName(flag.replace(/^-+/, ''), Object.keys(FLAGS))
}
