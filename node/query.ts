// `agentmesh status|peers|groups`: ask a running node, through its local HTTP API (`--api`),
// what it sees — as `ipfs swarm peers` or `etcdctl endpoint health` do. The node started with
// `--data-dir D --api host:port` writes its API URL to D/api-url; with the token in
// D/api-token, `--data-dir D` is all a query needs.

import { parseArgs } from 'node:util'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError, parseApiAddress } from './args.ts'

/** The subcommands that query a running node. */
export const QUERY_SUBCOMMANDS = ['status', 'peers', 'groups'] as const
export type QuerySubcommand = typeof QUERY_SUBCOMMANDS[number]

/** Where a node started with --api and --data-dir records its API's URL, for queries. */
export const API_URL_FILE = 'api-url'
/** Deadline of one query: a node on loopback answers in milliseconds; this covers a loaded machine. */
export const QUERY_TIMEOUT_MS = 10_000

/** `agentmesh status|peers|groups …`. */
export interface QueryCommand {
  readonly kind: 'query'
  readonly what: QuerySubcommand
  readonly dataDir: string | undefined
  /** The API's URL when given with --api; else read from <data-dir>/api-url. */
  readonly api: string | undefined
  readonly tokenFile: string | undefined
  readonly json: boolean
}

export function isQuerySubcommand (word: string | undefined): word is QuerySubcommand {
  return (QUERY_SUBCOMMANDS as readonly string[]).includes(word ?? '')
}

/** Parse `status|peers|groups [--data-dir D] [--api host:port] [--token-file F] [--json]`. Throws UsageError. */
export function parseQuery (what: QuerySubcommand, argv: readonly string[]): QueryCommand {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      options: { 'data-dir': { type: 'string' }, api: { type: 'string' }, 'token-file': { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    throw new UsageError(undefined, `${what}: ${err instanceof Error ? err.message : String(err)}; it takes --data-dir <path> (of the running node), or --api <host:port> with --token-file <path>, and --json`)
  }
  const dataDir = values['data-dir'] as string | undefined
  const apiText = values.api as string | undefined
  const tokenFile = values['token-file'] as string | undefined
  if (dataDir === undefined && (apiText === undefined || tokenFile === undefined)) {
    throw new UsageError('--data-dir', `${what}: give the running node's --data-dir (its API URL and token are kept there), or --api <host:port> and --token-file <path>`)
  }
  const api = apiText !== undefined ? parseApiAddress(apiText, true) : undefined
  return {
    kind: 'query',
    what,
    dataDir,
    api: api !== undefined ? `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}` : undefined,
    tokenFile,
    json: values.json === true
  }
}

/** Record the API URL in the data dir (at start), so queries find it. */
export async function writeApiUrl (dataDir: string, url: string): Promise<void> {
  await writeFile(join(dataDir, API_URL_FILE), `${url}\n`, { mode: 0o600 })
}

/** Remove the API URL at a clean stop: a query then says the node is not running rather than failing to connect. */
export async function removeApiUrl (dataDir: string): Promise<void> {
  await rm(join(dataDir, API_URL_FILE), { force: true })
}

/** A query that could not be answered; the message says why and what to check. */
export class QueryError extends Error {
  override name = 'QueryError'
}

interface NodeInfo {
  peerId: string
  name: string
  addresses: string[]
  capabilities: string[]
  peers: Array<{ peerId: string, name: string, status: string, lastSeenMs: number, connected: boolean, version: string }>
  groups: Array<{ name: string, leader: string | null, members: string[] }>
  docs: string[]
}

async function readText (path: string, what: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new QueryError(`${path} does not exist: ${what}`)
    throw new QueryError(`cannot read ${path}: ${code ?? String(err)}`)
  }
}

/** Fetch GET /v1/node from the running node. */
async function fetchNode (command: QueryCommand): Promise<NodeInfo> {
  const url = command.api ?? await readText(join(command.dataDir!, API_URL_FILE), `is a node running with --data-dir ${command.dataDir} and --api <host:port>?`)
  const token = await readText(command.tokenFile ?? join(command.dataDir!, 'api-token'), 'the node creates its API token there when started with --api')
  let response: Response
  try {
    response = await fetch(`${url}/v1/node`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) })
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.name : String(err))
    throw new QueryError(`no answer from the node's API at ${url} (${cause}): is the node still running? (a node killed with kill -9 leaves ${API_URL_FILE} behind)`)
  }
  if (response.status === 401) throw new QueryError(`the API at ${url} refused the token: is it this node's api-token?`)
  if (!response.ok) throw new QueryError(`the API at ${url} answered ${response.status}: ${await response.text()}`)
  return await response.json() as NodeInfo
}

/** Run the query; resolves to the text to print on stdout. Throws QueryError. */
export async function runQuery (command: QueryCommand): Promise<string> {
  const info = await fetchNode(command)
  if (command.what === 'status') {
    if (command.json) return JSON.stringify(info)
    const count = (status: string): number => info.peers.filter(p => p.status === status).length
    return [
      `node "${info.name}" ${info.peerId}`,
      ...info.addresses.map((a, i) => `  ${i === 0 ? 'addresses:' : '          '} ${a}`),
      `  peers:     ${count('alive')} alive, ${count('suspect')} suspect, ${count('dead')} dead (${info.peers.filter(p => p.connected).length} connected)`,
      `  groups:    ${info.groups.length === 0 ? 'none' : info.groups.map(g => g.name).join(', ')}`,
      `  docs:      ${info.docs.length === 0 ? 'none' : info.docs.join(', ')}`,
      `  capabilities: ${info.capabilities.length === 0 ? 'none' : info.capabilities.join(', ')}`
    ].join('\n')
  }
  if (command.what === 'peers') {
    if (command.json) return info.peers.map(p => JSON.stringify(p)).join('\n')
    if (info.peers.length === 0) return 'no peers'
    return info.peers.map(p => `${p.peerId}  ${p.status.padEnd(7)}  ${p.connected ? 'connected' : '-'.padEnd(9)}  "${p.name}"`).join('\n')
  }
  if (command.json) return info.groups.map(g => JSON.stringify(g)).join('\n')
  if (info.groups.length === 0) return 'no groups'
  return info.groups.map(g => `${g.name}  leader ${g.leader ?? 'none'}  ${g.members.length} members`).join('\n')
}
