// Who may connect at all: the pre-shared swarm key of a private mesh (libp2p pnet, the go-ipfs
// swarm.key format) and the peer allowlist enforced by a connection gater.

import { readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ConnectionGater, ConnectionProtector, Logger, MessageStream, PeerId } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { assert } from '../protocols/kit/assert.ts'
import type { Uint8ArrayList } from 'uint8arraylist'
import { AgentMeshError } from '../protocols/kit/errors.ts'

/** The first line of a go-ipfs swarm key: the only key format pnet reads. */
export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'
/** The encoding line; go-ipfs also knows /base64/ and /bin/, which @libp2p/pnet does not read. */
export const SWARM_KEY_ENCODING = '/base16/'
/** Key bytes: XSalsa20 takes a 256-bit key. */
export const SWARM_KEY_BYTES = 32
/** Largest swarm key file read: a valid one is 95 bytes; anything near this is not a key. */
export const SWARM_KEY_FILE_BYTES_MAX = 1024
/** Most peers on an allowlist: a closed mesh of agents is tens to thousands of nodes; each entry is a set member checked per connection. */
export const ALLOW_PEERS_MAX = 10_000
/** Largest allowlist file read: ALLOW_PEERS_MAX peer ids of ~53 characters, with room for comments. */
export const ALLOW_FILE_BYTES_MAX = 2 * 1024 * 1024

/** A swarm key or allowlist that cannot be used; the message says which and why. */
export class AccessConfigError extends AgentMeshError {
  override name = 'AccessConfigError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_ACCESS_CONFIG', message, options) }
}

/** A new random swarm key, as the text of a swarm.key file. */
export function generateSwarmKey (): string {
  return `${SWARM_KEY_HEADER}\n${SWARM_KEY_ENCODING}\n${randomBytes(SWARM_KEY_BYTES).toString('hex')}\n`
}

/**
 * Check a swarm key's text and return it in the canonical form @libp2p/pnet decodes (pnet itself
 * only says "invalid psk"). `source` names where it came from, for the error message.
 */
export function parseSwarmKey (text: string, source = 'the swarm key'): Uint8Array {
  const lines = text.split(/\r?\n/).map(line => line.trim()).filter(line => line !== '')
  if (lines[0] !== SWARM_KEY_HEADER) throw new AccessConfigError(`${source} does not start with ${SWARM_KEY_HEADER}; make one with \`agentmesh swarm-key <file>\``)
  if (lines[1] !== SWARM_KEY_ENCODING) throw new AccessConfigError(`${source}: encoding "${lines[1] ?? ''}" is not supported; only ${SWARM_KEY_ENCODING} (64 hex digits) is`)
  const hex = lines[2] ?? ''
  if (!new RegExp(`^[0-9a-fA-F]{${2 * SWARM_KEY_BYTES}}$`).test(hex)) throw new AccessConfigError(`${source}: the key line must be ${2 * SWARM_KEY_BYTES} hex digits (${SWARM_KEY_BYTES} bytes), got ${hex.length} characters`)
  if (lines.length > 3) throw new AccessConfigError(`${source}: ${lines.length} lines; a swarm key has 3`)
  return new TextEncoder().encode(`${SWARM_KEY_HEADER}\n${SWARM_KEY_ENCODING}\n${hex.toLowerCase()}`)
}

/** Read and check a swarm key file. */
export async function readSwarmKeyFile (path: string): Promise<Uint8Array> {
  return parseSwarmKey(await readBounded(path, SWARM_KEY_FILE_BYTES_MAX, 'swarm key'), `swarm key file ${path}`)
}

/** Write a new swarm key to `path`, readable by its owner only (0600); never overwrites a file. */
export async function writeSwarmKeyFile (path: string): Promise<void> {
  try {
    await writeFile(path, generateSwarmKey(), { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AccessConfigError(`${path} already exists; a swarm key is never overwritten (remove it first, and give every node the new one)`, { cause: err })
    throw err
  }
}

/** Check peer ids for an allowlist; `source` names where they came from. */
export function parseAllowList (peerIds: readonly string[], source = 'allowlist'): Set<string> {
  const allowed = new Set<string>()
  for (const text of peerIds) {
    try {
      allowed.add(peerIdFromString(text).toString())
    } catch (err) {
      throw new AccessConfigError(`${source}: "${text}" is not a peer id`, { cause: err })
    }
  }
  if (allowed.size > ALLOW_PEERS_MAX) throw new AccessConfigError(`${source}: ${allowed.size} peers; at most ${ALLOW_PEERS_MAX} (ALLOW_PEERS_MAX)`)
  return allowed
}

/** Peer ids of an allowlist file: one per line; blank lines and text after `#` are ignored. */
export async function readAllowFile (path: string): Promise<Set<string>> {
  const text = await readBounded(path, ALLOW_FILE_BYTES_MAX, 'allowlist')
  const ids = text.split(/\r?\n/).map(line => line.replace(/#.*$/, '').trim()).filter(line => line !== '')
  return parseAllowList(ids, `allowlist file ${path}`)
}

async function readBounded (path: string, bytesMax: number, what: string): Promise<string> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new AccessConfigError(`cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  if (bytes.byteLength > bytesMax) throw new AccessConfigError(`${what} file ${path} is ${bytes.byteLength} bytes; at most ${bytesMax}`)
  return bytes.toString('utf8')
}

/** Counters of the allowlist gater. */
export interface AllowListStats { refusedInbound: number, refusedOutbound: number }

/**
 * The peers allowed to connect, enforced in both directions by a libp2p connection gater: a dial
 * to an unlisted peer is not made, and a connection from one is closed once its encryption
 * handshake proves who it is (before any protocol runs on it). The node's own id is always allowed.
 */
export class AllowList {
  #allowed: Set<string>
  readonly #self: string
  readonly #log: Logger
  readonly stats: AllowListStats = { refusedInbound: 0, refusedOutbound: 0 }

  readonly #onRefused: ((refusal: { direction: 'inbound' | 'outbound', peerId: string }) => void) | undefined

  constructor (init: { self: string, allowed: Set<string>, log: Logger, onRefused?: (refusal: { direction: 'inbound' | 'outbound', peerId: string }) => void }) {
    this.#self = init.self
    this.#allowed = init.allowed
    this.#log = init.log
    this.#onRefused = init.onRefused
  }

  /** True when `peerId` may connect. */
  has (peerId: string): boolean { return peerId === this.#self || this.#allowed.has(peerId) }

  /** The listed peers (without this node). */
  peers (): string[] { return [...this.#allowed].sort() }

  /** Replace the list (e.g. after the file changed); returns the peers no longer allowed. */
  replace (allowed: Set<string>): string[] {
    const removed = [...this.#allowed].filter(id => !allowed.has(id))
    this.#allowed = allowed
    return removed
  }

  /** The connection gater that enforces the list. */
  gater (): ConnectionGater {
    const refuse = (direction: 'inbound' | 'outbound', peerId: PeerId): boolean => {
      const id = peerId.toString()
      if (this.has(id)) return false
      if (direction === 'inbound') this.stats.refusedInbound++
      else this.stats.refusedOutbound++
      this.#log('refused %s connection %s peer %s: not on the allowlist', direction, direction === 'inbound' ? 'from' : 'to', id)
      this.#onRefused?.({ direction, peerId: id })
      return true
    }
    return {
      denyDialPeer: (peerId) => refuse('outbound', peerId),
      denyOutboundEncryptedConnection: (peerId) => refuse('outbound', peerId),
      denyInboundEncryptedConnection: (peerId) => refuse('inbound', peerId)
    }
  }
}

/** One gater that denies what any of `gaters` denies. */
export function combineGaters (gaters: ReadonlyArray<ConnectionGater | undefined>): ConnectionGater {
  const present = gaters.filter((g): g is ConnectionGater => g !== undefined)
  const combined: Record<string, (...args: unknown[]) => Promise<boolean>> = {}
  const keys = new Set(present.flatMap(g => Object.keys(g)))
  for (const key of keys) {
    combined[key] = async (...args: unknown[]) => {
      for (const gater of present) {
        const deny = (gater as Record<string, ((...a: unknown[]) => boolean | Promise<boolean>) | undefined>)[key]
        if (deny !== undefined && await deny.apply(gater, args)) return true
      }
      return false
    }
  }
  return combined as ConnectionGater
}

/** A connection closed because of the swarm key, and why. */
export interface SwarmKeyMismatch { remoteAddress: string, reason: string }

/**
 * What every libp2p connection says first, once pnet has decrypted it: multistream-select's
 * header (a length byte, then "/multistream/1.0.0\n"). Both sides send it first, so a peer
 * that holds another key, or none, shows up as anything else.
 */
const MULTISTREAM_HEADER = new Uint8Array([19, ...new TextEncoder().encode('/multistream/1.0.0\n')])

/**
 * pnet (libp2p's private network protector) with a check that names a peer holding another key:
 * pnet's XSalsa20 stream has no authentication, so on its own a wrong key only surfaces later as
 * a garbled handshake in libp2p's debug log. This closes such a connection at its first bytes
 * and reports its address through `onMismatch`.
 */
export function checkedPreSharedKey (init: { psk: Uint8Array, timeoutMs: number, onMismatch: (mismatch: SwarmKeyMismatch) => void }): () => ConnectionProtector {
  const create = preSharedKey({ psk: init.psk, timeout: init.timeoutMs })
  return () => {
    const inner = create()
    return {
      async protect (connection, options) {
        const protectedConnection = await inner.protect(connection, options)
        watchFirstBytes(protectedConnection, connection, init.onMismatch)
        return protectedConnection
      }
    }
  }
}

function watchFirstBytes (stream: MessageStream, raw: MessageStream, onMismatch: (mismatch: SwarmKeyMismatch) => void): void {
  // A 'message' listener would take the bytes (a message stream hands each chunk to its listeners,
  // and buffers only while there are none), so the check sits in front of the stream's onData,
  // which every decrypted chunk goes through, and passes each chunk on untouched. Bytes that
  // arrived with the nonce are already in its read buffer: they are checked first.
  const target = stream as MessageStream & { onData?: (data: Uint8Array | Uint8ArrayList) => void, readBuffer?: Uint8ArrayList }
  const onData = target.onData
  assert(typeof onData === 'function', 'the pnet stream is an AbstractMessageStream')
  let seen = 0
  /** False once the bytes so far differ from the header (the connection is then aborted). */
  const check = (bytes: Uint8Array): boolean => {
    const count = Math.min(bytes.byteLength, MULTISTREAM_HEADER.byteLength - seen)
    for (let i = 0; i < count; i++) {
      if (bytes[i] !== MULTISTREAM_HEADER[seen + i]) {
        seen = MULTISTREAM_HEADER.byteLength
        onMismatch({ remoteAddress: remoteAddressOf(raw), reason: 'it holds another swarm key, or none' })
        stream.abort(new AccessConfigError('the remote peer does not hold this mesh\'s swarm key'))
        return false
      }
    }
    seen += count
    return true
  }
  // The side that sent first learns nothing from the bytes: the other side closes on it.
  stream.addEventListener('close', () => {
    if (seen === 0) onMismatch({ remoteAddress: remoteAddressOf(raw), reason: 'it closed the connection before answering; it may hold another swarm key, or none' })
  })
  const buffered = target.readBuffer
  if (buffered !== undefined && buffered.byteLength > 0 && !check(buffered.subarray())) return
  target.onData = (data) => {
    if (seen < MULTISTREAM_HEADER.byteLength && !check(data.subarray())) return
    onData.call(stream, data)
  }
}

function remoteAddressOf (stream: MessageStream): string {
  const address = (stream as MessageStream & { remoteAddr?: { toString(): string } }).remoteAddr
  return address?.toString() ?? 'an unknown address'
}
