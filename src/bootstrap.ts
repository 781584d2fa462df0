// Joins the mesh through its bootstrap peers: dials each one, and redials with exponential
// backoff until connected. After a disconnect it redials only while the node is poorly connected
// (fewer than BOOTSTRAP_RECONNECT_BELOW connections): a node with peers of its own does not need
// the bootstrap peer, and in a large mesh every node hanging on to the same few bootstrap peers
// would fill their connection caps, after which they refuse newcomers.

import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { describeError } from '../protocols/kit/errors.ts'
import { Backoff } from '../protocols/kit/backoff.ts'

/** First retry delay after a failed dial. */
export const BOOTSTRAP_BACKOFF_MIN_MS = 250
/** Retry delay ceiling: a restarted bootstrap peer is found again within this. */
export const BOOTSTRAP_BACKOFF_MAX_MS = 10_000
/** After a disconnect, bootstrap peers are redialled only while the node has fewer connections than this. */
export const BOOTSTRAP_RECONNECT_BELOW = 8
/** Deadline of one dial attempt. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 5_000
/**
 * How long after start, with no bootstrap peer reached, the node reports them unreachable: past
 * one full dial deadline, so every address has had at least one attempt answered or timed out.
 */
export const BOOTSTRAP_UNREACHABLE_WARN_MS = BOOTSTRAP_DIAL_TIMEOUT_MS + 1_000

/** Why a bootstrap address could not be reached, in words a user can act on. */
export type UnreachableReason = 'refused' | 'timed out' | 'peer id mismatch' | 'no route' | 'failed'

/** A bootstrap address that has not been reached, and why its last dial failed. */
export interface UnreachablePeer {
  readonly address: string
  readonly reason: UnreachableReason
  /** The last dial error, as libp2p or the OS said it. */
  readonly detail: string
}

/** Map a dial error to the reason a user can act on (wrong port, wrong id, firewall, no route). */
export function classifyDialError (err: unknown): { reason: UnreachableReason, detail: string } {
  const detail = describeError(err)
  const code = String((err as { code?: unknown })?.code ?? '')
  const name = String((err as { name?: unknown })?.name ?? '')
  const mismatch = /identity key (\S+) does not match expected remote identity key/.exec(detail)
  if (mismatch !== null) return { reason: 'peer id mismatch', detail: `the node at that address is ${mismatch[1]}` }
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(detail)) return { reason: 'refused', detail }
  if (name === 'AbortError' || name === 'TimeoutError' || code === 'ETIMEDOUT' || /timed? ?out|aborted/i.test(detail)) return { reason: 'timed out', detail }
  if (/EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN/.test(`${code} ${detail}`)) return { reason: 'no route', detail }
  return { reason: 'failed', detail }
}

/** Dials bootstrap addresses until connected, and again after a disconnect while poorly connected. */
export class Bootstrapper {
  readonly #libp2p: Libp2p
  readonly #targets: Multiaddr[]
  readonly #log: Logger
  readonly #timers = new Map<string, NodeJS.Timeout>()
  /** Failed dials per target since it was last reached. */
  readonly #backoffs = new Map<string, Backoff>()
  /** Targets reached at least once: past the join, they are retried only while poorly connected. */
  readonly #reached = new Set<string>()
  /** The last failure of each target not reached yet. */
  readonly #failures = new Map<string, { reason: UnreachableReason, detail: string }>()
  #warnTimer: NodeJS.Timeout | undefined
  #running = false
  /** Called once when no bootstrap peer was reached within BOOTSTRAP_UNREACHABLE_WARN_MS; dials go on. */
  onUnreachable: ((peers: UnreachablePeer[]) => void) | undefined

  constructor (libp2p: Libp2p, addresses: Multiaddr[], log: Logger) {
    this.#libp2p = libp2p
    this.#targets = addresses
    this.#log = log
  }

  /**
   * Dial every target now. The dials enter libp2p's dial queue before this returns, so a
   * `dialProtocol(peerId)` made right after joins them instead of failing for want of an
   * address; the addresses also go into the peer store for later dials by peer id.
   */
  start (): void {
    this.#running = true
    for (const target of this.#targets) {
      const peerId = target.getComponents().find(c => c.name === 'p2p')?.value
      if (peerId !== undefined) {
        this.#libp2p.peerStore.merge(peerIdFromString(peerId), { multiaddrs: [target] }).catch((err: unknown) => {
          this.#log('could not record bootstrap address %s: %s', target.toString(), describeError(err))
        })
      }
      void this.#dial(target)
    }
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    if (this.#targets.length > 0) {
      this.#warnTimer = setTimeout(() => { this.#warnIfUnreached() }, BOOTSTRAP_UNREACHABLE_WARN_MS)
      this.#warnTimer.unref()
    }
  }

  /** Bootstrap addresses not reached so far, with the reason of each one's last failed dial. */
  unreachable (): UnreachablePeer[] {
    return this.#targets.filter(t => !this.#reached.has(t.toString())).map((target) => {
      const address = target.toString()
      const failure = this.#failures.get(address) ?? { reason: 'timed out' as const, detail: `no answer yet (dial deadline ${BOOTSTRAP_DIAL_TIMEOUT_MS} ms)` }
      return { address, ...failure }
    })
  }

  #warnIfUnreached (): void {
    this.#warnTimer = undefined
    if (!this.#running || this.#reached.size > 0) return
    const peers = this.unreachable()
    this.#log('no bootstrap peer reached after %d ms: %s', BOOTSTRAP_UNREACHABLE_WARN_MS, peers.map(p => `${p.address} (${p.reason}: ${p.detail})`).join(', '))
    this.onUnreachable?.(peers)
  }

  stop (): void {
    this.#running = false
    if (this.#warnTimer !== undefined) clearTimeout(this.#warnTimer)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }

  readonly #onDisconnect = (): void => {
    if (this.#libp2p.getConnections().length >= BOOTSTRAP_RECONNECT_BELOW) return
    for (const target of this.#targets) {
      if (!this.#timers.has(target.toString()) && !this.#isConnected(target)) this.#schedule(target, BOOTSTRAP_BACKOFF_MIN_MS)
    }
  }

  #isConnected (target: Multiaddr): boolean {
    const peerId = target.getComponents().find(c => c.name === 'p2p')?.value
    if (peerId === undefined) return false
    return this.#libp2p.getConnections().some(c => c.remotePeer.toString() === peerId)
  }

  #schedule (target: Multiaddr, delayMs: number): void {
    if (!this.#running) return
    const key = target.toString()
    const timer = setTimeout(() => {
      this.#timers.delete(key)
      void this.#dial(target)
    }, delayMs)
    timer.unref()
    this.#timers.set(key, timer)
  }

  async #dial (target: Multiaddr): Promise<void> {
    if (!this.#running || this.#isConnected(target)) return
    const key = target.toString()
    if (this.#reached.has(key) && this.#libp2p.getConnections().length >= BOOTSTRAP_RECONNECT_BELOW) return
    try {
      await this.#libp2p.dial(target, { signal: AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS) })
      this.#backoffs.delete(key)
      this.#failures.delete(key)
      this.#reached.add(key)
      this.#log('connected to bootstrap peer %s', key)
    } catch (err) {
      let backoff = this.#backoffs.get(key)
      if (backoff === undefined) this.#backoffs.set(key, backoff = new Backoff({ initialMs: BOOTSTRAP_BACKOFF_MIN_MS, maxMs: BOOTSTRAP_BACKOFF_MAX_MS }))
      const next = backoff.next()
      this.#failures.set(key, classifyDialError(err))
      this.#log('dial to bootstrap peer %s failed (%s); retrying in %d ms', key, describeError(err), next)
      this.#schedule(target, next)
    }
  }
}

/** Parse bootstrap addresses, with an error naming the bad one. */
export function parseAddresses (addresses: string[]): Multiaddr[] {
  return addresses.map((text) => {
    let address: Multiaddr
    try {
      address = multiaddr(text)
    } catch (err) {
      throw new TypeError(`Invalid multiaddr "${text}": ${describeError(err)}`)
    }
    const peerId = address.getComponents().find(c => c.name === 'p2p')?.value
    try {
      if (peerId !== undefined) peerIdFromString(peerId)
    } catch (err) {
      throw new TypeError(`Invalid peer id "${peerId}" in multiaddr "${text}": ${describeError(err)}`)
    }
    return address
  })
}
