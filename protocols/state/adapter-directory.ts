// The agent directory: publishes this node's card under `agents/<peerId>/card` and
// announces each capability as a DHT provider record; finds agents by capability with
// findProviders, then reads and checks each provider's signed card (SPEC state, "Agent directory").

import type { Logger } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { deadlineSignal, explainAbort } from '../kit/adapter-abort.ts'
import { backoffDelayMs } from '../kit/backoff.ts'
import { describeError, NotRunningError } from '../kit/errors.ts'
import type { DhtHost, HostEvents, HostIdentity } from '../kit/components.ts'
import type { Payload } from '../kit/payload.ts'
import { capabilityCid, cardKey, checkCapability, checkCard, parseCard } from './card.ts'
import type { AgentCard } from './card.ts'
import { NoReplicasError } from './errors.ts'
import type { GetOptions, PutOptions, PutReceipt, StateEntry, FindAgentsOptions } from './options.ts'

/** Lifetime of a card (ms): a stopped agent drops out of the directory within 10 minutes. */
export const CARD_TTL_MS = 10 * 60 * 1000
/** Most agents one findAgents call returns: kad-dht stops a provider query at k (20) providers. */
export const FIND_AGENTS_MAX = 20
/** Cards fetched in parallel by findAgents. */
export const CARD_FETCH_CONCURRENCY = 8
/** Deadline of a findAgents call (ms). */
export const FIND_AGENTS_TIMEOUT_MS = 30_000
/** First delay before retrying a failed announce (ms); doubles per failure up to ANNOUNCE_BACKOFF_MAX_MS. */
const ANNOUNCE_BACKOFF_MS = 2_000
const ANNOUNCE_BACKOFF_MAX_MS = 60_000
/** Debounce before re-announcing after a new peer appears (ms): lets identify settle the routing table. */
const ANNOUNCE_RETRY_DELAY_MS = 100

/** What the directory needs: the host, who we are, and the state put/get. */
export interface DirectoryOptions {
  libp2p: HostIdentity & DhtHost & HostEvents
  peerId: string
  name: string
  capabilities: string[]
  cardTtlMs?: number
  log: Logger
  put (key: string, value: Payload, options?: PutOptions): Promise<PutReceipt>
  get (key: string, options?: GetOptions): Promise<StateEntry | undefined>
}

/** The directory half of `node.state`. */
export interface Directory {
  card (): AgentCard
  /** Replace the announced capabilities and announce the new card now (SPEC state "Agent directory"). */
  setCapabilities (capabilities: readonly string[]): Promise<AgentCard>
  findAgents (options: FindAgentsOptions): Promise<AgentCard[]>
  start (): void
  stop (): Promise<void>
}

/** Build the directory; `start()` announces the card and capabilities and keeps them fresh. */
export function createDirectory (options: DirectoryOptions): Directory {
  const { libp2p, log } = options
  const cardTtlMs = options.cardTtlMs ?? CARD_TTL_MS
  let capabilities = [...new Set(options.capabilities)]
  for (const capability of capabilities) checkCapability(capability)
  const stopController = new AbortController()
  let running = false
  let announced = false
  /** True when the last announce found no DHT peer: the next identified peer retries it at once. */
  let unreachable = false
  let failedAnnounces = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let announcing: Promise<void> | undefined

  function card (): AgentCard {
    const addresses = libp2p.getMultiaddrs().map((a: Multiaddr) => a.toString())
    return checkCard({ peerId: options.peerId, name: options.name, capabilities, addresses })
  }

  /** Provide one capability; true when at least one remote peer took the provider record. */
  async function provide (capability: string, signal: AbortSignal): Promise<boolean> {
    let acknowledged = 0
    for await (const event of libp2p.services.dht.provide(capabilityCid(capability), { signal }) as AsyncIterable<QueryEvent>) {
      if (event.name === 'PEER_RESPONSE') acknowledged++
    }
    return acknowledged > 0
  }

  async function announce (): Promise<void> {
    const signal = deadlineSignal(FIND_AGENTS_TIMEOUT_MS, stopController.signal)
    let complete = true
    unreachable = false
    try {
      await options.put(cardKey(options.peerId), card() as unknown as Payload, { ttlMs: cardTtlMs, signal })
    } catch (err) {
      complete = false
      if (!(err instanceof NoReplicasError)) throw err
      unreachable = err.peersFailed === 0
    }
    for (const capability of capabilities) {
      if (!await provide(capability, signal)) complete = false
    }
    announced = complete
  }

  function schedule (delayMs: number): void {
    if (!running) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      announcing ??= announce()
        .catch((err: unknown) => { if (running) log('announcing card failed: %s', describeError(err)) })
        .finally(() => {
          announcing = undefined
          // SPEC state "Republish": the card record republishes itself; provider records are refreshed with it.
          failedAnnounces = announced ? 0 : failedAnnounces + 1
          schedule(announced ? Math.floor(cardTtlMs / 2) : Math.min(cardTtlMs, backoffDelayMs(failedAnnounces, { initialMs: ANNOUNCE_BACKOFF_MS, maxMs: ANNOUNCE_BACKOFF_MAX_MS })))
        })
    }, delayMs)
  }

  function onPeerIdentified (): void {
    if (unreachable && announcing === undefined) { unreachable = false; schedule(ANNOUNCE_RETRY_DELAY_MS) }
  }

  async function findAgents (findOptions: FindAgentsOptions): Promise<AgentCard[]> {
    const { capability } = findOptions
    checkCapability(capability)
    const timeoutMs = findOptions.timeoutMs ?? FIND_AGENTS_TIMEOUT_MS
    const signal = deadlineSignal(timeoutMs, findOptions.signal)
    try {
      const providers = new Set<string>()
      for await (const event of libp2p.services.dht.findProviders(capabilityCid(capability), { signal }) as AsyncIterable<QueryEvent>) {
        if (event.name !== 'PROVIDER') continue
        for (const peer of event.providers) if (providers.size < FIND_AGENTS_MAX) providers.add(peer.id.toString())
      }
      const ids = [...providers]
      const cards: AgentCard[] = []
      for (let i = 0; i < ids.length; i += CARD_FETCH_CONCURRENCY) {
        const batch = await Promise.all(ids.slice(i, i + CARD_FETCH_CONCURRENCY).map(async (id) => {
          const entry = await options.get(cardKey(id), { signal })
          return entry === undefined ? undefined : parseCard(entry.value, entry.author)
        }))
        // A provider without a live card (expired, stopped agent) or whose card drops the capability is left out.
        for (const found of batch) if (found?.capabilities.includes(capability) === true) cards.push(found)
      }
      return cards.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
    } catch (err) {
      throw explainAbort(err, { what: `findAgents "${capability}"`, timeoutMs, signal: findOptions.signal })
    }
  }

  async function setCapabilities (next: readonly string[]): Promise<AgentCard> {
    const unique = [...new Set(next)]
    for (const capability of unique) checkCapability(capability)
    checkCard({ peerId: options.peerId, name: options.name, capabilities: unique, addresses: [] })
    capabilities = unique
    // A dropped capability's provider record lingers until it expires; findAgents leaves this
    // agent out as soon as its card, rewritten here, no longer lists it.
    await announcing
    if (running) {
      announcing = announce()
        .catch((err: unknown) => { if (running) log('announcing card failed: %s', describeError(err)) })
        .finally(() => { announcing = undefined; schedule(announced ? Math.floor(cardTtlMs / 2) : ANNOUNCE_BACKOFF_MS) })
      await announcing
    }
    return card()
  }

  return {
    card,
    setCapabilities,
    findAgents,
    start () {
      running = true
      libp2p.addEventListener('peer:identify', onPeerIdentified)
      schedule(0)
    },
    async stop () {
      running = false
      clearTimeout(timer)
      libp2p.removeEventListener('peer:identify', onPeerIdentified)
      stopController.abort(new NotRunningError('directory stopped'))
      await announcing
    }
  }
}
