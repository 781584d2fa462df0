// Agent cards and capability keys for the agent directory (SPEC state, "Agent directory").
// Pure: shape checks and the content id each capability is provided under.

import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from '../kit/bytes.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { AGENTS_PREFIX } from './validate.ts'
import type { Payload } from '../kit/payload.ts'

/** Most capabilities one agent announces (each costs one provider record per republish). */
export const CAPABILITIES_MAX = 64
/** Longest capability name, in characters. */
export const CAPABILITY_CHARS_MAX = 128
/** Longest agent name, in characters. */
export const AGENT_NAME_CHARS_MAX = 256
/** Most addresses listed on a card. */
export const CARD_ADDRESSES_MAX = 32

/** Multicodec `raw` and multihash `sha2-256` codes for the capability content id. */
const RAW_CODEC = 0x55
const SHA2_256_CODE = 0x12
const CAPABILITY_DOMAIN = 'agentmesh/capability/v1/'

/** What an agent publishes about itself under `agents/<peerId>/card`. */
export interface AgentCard {
  peerId: string
  name: string
  capabilities: string[]
  addresses: string[]
}

/** The record key of an agent's card. */
export function cardKey (peerId: string): string {
  return `${AGENTS_PREFIX}/${peerId}/card`
}

/** Throw unless `capability` is a non-empty name within CAPABILITY_CHARS_MAX. */
export function checkCapability (capability: unknown): asserts capability is string {
  if (typeof capability !== 'string' || capability.length === 0) throw new DecodeError('Invalid capability: must be a non-empty string')
  if (capability.length > CAPABILITY_CHARS_MAX) throw new LimitExceededError(`Invalid capability: ${capability.length} characters exceeds CAPABILITY_CHARS_MAX (${CAPABILITY_CHARS_MAX})`)
}

/** The content id under which every agent with `capability` is a DHT provider. */
export function capabilityCid (capability: string): CID {
  checkCapability(capability)
  const digest = sha256(new TextEncoder().encode(CAPABILITY_DOMAIN + capability))
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256_CODE, digest))
}

/** Check a card before publishing it; returns a plain copy. */
export function checkCard (card: AgentCard): AgentCard {
  if (card.name.length > AGENT_NAME_CHARS_MAX) throw new LimitExceededError(`Invalid agent card: name of ${card.name.length} characters exceeds AGENT_NAME_CHARS_MAX (${AGENT_NAME_CHARS_MAX})`)
  if (card.capabilities.length > CAPABILITIES_MAX) throw new LimitExceededError(`Invalid agent card: ${card.capabilities.length} capabilities exceeds CAPABILITIES_MAX (${CAPABILITIES_MAX})`)
  for (const capability of card.capabilities) checkCapability(capability)
  return { peerId: card.peerId, name: card.name, capabilities: [...new Set(card.capabilities)], addresses: card.addresses.slice(0, CARD_ADDRESSES_MAX) }
}

/** Read a card from a record value written by `author`, or undefined if it is not a card of that author. */
export function parseCard (value: Payload, author: string): AgentCard | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return undefined
  const { peerId, name, capabilities, addresses } = value as Record<string, Payload>
  if (peerId !== author || typeof name !== 'string' || name.length > AGENT_NAME_CHARS_MAX) return undefined
  if (!Array.isArray(capabilities) || capabilities.length > CAPABILITIES_MAX || !capabilities.every(c => typeof c === 'string' && c.length > 0 && c.length <= CAPABILITY_CHARS_MAX)) return undefined
  if (!Array.isArray(addresses) || addresses.length > CARD_ADDRESSES_MAX || !addresses.every(a => typeof a === 'string')) return undefined
  return { peerId, name, capabilities: capabilities as string[], addresses: addresses as string[] }
}
