// Wire messages of the bft protocol (Tendermint-style), their named limits and bounded codec
// (SPEC bft "Messages" and "Limits"). Every decode checks every bound and throws DecodeError.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { ED25519_SIGNATURE_BYTES, PEER_ID_CHARS_MAX } from '../kit/limits.ts'
import { toHex } from '../kit/bytes.ts'

export const BFT_PROTOCOL = '/agentmesh/bft/1.0.0'
/** One batch (block) carries at most this many items: keeps a proposal's verify cost bounded. */
export const BATCH_ITEMS_MAX = 256
/** Total item bytes in one batch: 256 KiB keeps a proposal well under the frame limit. */
export const BATCH_BYTES_MAX = 256 * 1024
/** One item (an encoded command): commands are small; bulk data belongs in docs. */
export const ITEM_BYTES_MAX = 64 * 1024
/** Items in one `submit` gossip message. */
export const SUBMIT_ITEMS_MAX = 64
/** Decisions in one catch-up `decision` message: 4 × a full batch still fits a frame. */
export const CATCHUP_DECISIONS_MAX = 4
/** Members of one BFT group (and signers in one certificate): all-to-all voting is O(n²). */
export const MEMBERS_MAX = 64
/** Group ids are names, not data. */
export const GROUP_ID_CHARS_MAX = 256
/** A libp2p peer id string (protocols/kit/limits.ts). */
export { PEER_ID_CHARS_MAX }
/** Ed25519 signatures are exactly 64 bytes. */
export const SIGNATURE_BYTES = ED25519_SIGNATURE_BYTES
/** SHA-256 hashes are exactly 32 bytes. */
export const HASH_BYTES = 32
/** Rounds beyond this are refused: with growing timeouts no honest member ever gets near it. */
export const ROUND_MAX = 1_000_000
/** A whole frame: two full batches plus certificates, with headroom. */
export const BFT_FRAME_BYTES_MAX = 2 * 1024 * 1024

/** A proposed batch of items at one height, chained to the previous decision by `prevHash`. */
export interface Block { height: number, prevHash: Uint8Array, items: Uint8Array[] }

/** A signed proposal for (height, round); `polRound` is the round of the polka that justifies re-proposing, or -1. */
export interface Proposal {
  type: 'proposal'
  groupId: string
  height: number
  round: number
  polRound: number
  block: Block
  proposer: string
  signature: Uint8Array
  /** The 2f+1 prevotes of round `polRound` for this block (empty when polRound is -1): the proof that justifies re-proposing, so receivers need not have seen that round (SPEC bft T3). Not covered by the proposal signature: each vote carries its own. */
  polPrevotes: Vote[]
}

/** The two vote steps of a round. */
export type VoteType = 'prevote' | 'precommit'

/** A signed vote for a block hash, or for nothing (`blockHash: null`, "nil"). */
export interface Vote {
  type: VoteType
  groupId: string
  height: number
  round: number
  blockHash: Uint8Array | null
  voter: string
  signature: Uint8Array
}

/** A message carrying a member's signature. */
export type SignedMessage = Proposal | Vote

/** Quorum certificate: precommit signatures of distinct members over one (height, round, block hash). */
export interface Certificate { round: number, signers: string[], signatures: Uint8Array[] }

/** A committed block with the certificate proving it; also one entry of the hash-chained log. */
export interface Decision { groupId: string, block: Block, certificate: Certificate }

/** Two validly signed, conflicting messages from one member at one (height, round, type). */
export interface Evidence { type: 'evidence', first: SignedMessage, second: SignedMessage }

/** Gossip of pending items to every member's pending pool (the "mempool"). */
export interface SubmitMessage { type: 'submit', groupId: string, items: Uint8Array[] }

/** Catch-up: consecutive decisions sent to a member that is behind. */
export interface DecisionMessage { type: 'decision', groupId: string, decisions: Decision[] }

/** "I am at this height": lets members that are ahead send catch-up decisions. */
export interface StatusMessage { type: 'status', groupId: string, height: number }

/** Every bft wire message. */
export type BftMessage = Proposal | Vote | Evidence | SubmitMessage | DecisionMessage | StatusMessage

/** Encode any bft message for the wire (deterministic CBOR). */
export function encodeMessage (message: BftMessage): Uint8Array {
  const bytes = encodeCbor(message)
  if (bytes.byteLength > BFT_FRAME_BYTES_MAX) throw new LimitExceededError(`Cannot encode bft ${message.type}: ${bytes.byteLength} bytes exceeds BFT_FRAME_BYTES_MAX (${BFT_FRAME_BYTES_MAX})`)
  return bytes
}

/** Decode and check one bft message; throws DecodeError/LimitExceededError naming the broken bound. */
export function decodeMessage (bytes: Uint8Array, bytesMax: number = BFT_FRAME_BYTES_MAX): BftMessage {
  const value = decodeCbor(bytes, { bytesMax, what: 'bft message' })
  return checkMessage(value)
}

/** Check an already-decoded value is a well-formed bft message. */
export function checkMessage (value: unknown): BftMessage {
  const m = map(value, 'message')
  switch (m.type) {
    case 'proposal': return checkProposal(m)
    case 'prevote': case 'precommit': return checkVote(m)
    case 'evidence': {
      exactKeys(m, ['type', 'first', 'second'], 'evidence')
      return { type: 'evidence', first: checkSigned(m.first), second: checkSigned(m.second) }
    }
    case 'submit': {
      exactKeys(m, ['type', 'groupId', 'items'], 'submit')
      return { type: 'submit', groupId: groupId(m.groupId), items: items(m.items, SUBMIT_ITEMS_MAX, 'submit') }
    }
    case 'decision': {
      exactKeys(m, ['type', 'groupId', 'decisions'], 'decision')
      const list = array(m.decisions, CATCHUP_DECISIONS_MAX, 'decision.decisions')
      return { type: 'decision', groupId: groupId(m.groupId), decisions: list.map(checkDecision) }
    }
    case 'status': {
      exactKeys(m, ['type', 'groupId', 'height'], 'status')
      return { type: 'status', groupId: groupId(m.groupId), height: height(m.height, 'status.height') }
    }
    default: throw new DecodeError(`Cannot decode bft message: unknown type ${JSON.stringify(String(m.type)).slice(0, 40)}`)
  }
}

/** Check a decoded value is a well-formed decision (log entry); does not verify signatures. */
export function checkDecision (value: unknown): Decision {
  const m = map(value, 'decision')
  exactKeys(m, ['groupId', 'block', 'certificate'], 'decision')
  const c = map(m.certificate, 'certificate')
  exactKeys(c, ['round', 'signers', 'signatures'], 'certificate')
  const signers = array(c.signers, MEMBERS_MAX, 'certificate.signers').map(s => peerId(s, 'certificate.signers'))
  const signatures = array(c.signatures, MEMBERS_MAX, 'certificate.signatures').map(s => fixedBytes(s, SIGNATURE_BYTES, 'certificate.signatures'))
  if (signers.length !== signatures.length) throw new DecodeError(`Cannot decode certificate: ${signers.length} signers but ${signatures.length} signatures`)
  return { groupId: groupId(m.groupId), block: checkBlock(m.block), certificate: { round: round(c.round, 'certificate.round'), signers, signatures } }
}

function checkSigned (value: unknown): SignedMessage {
  const m = map(value, 'signed message')
  if (m.type === 'proposal') return checkProposal(m)
  if (m.type === 'prevote' || m.type === 'precommit') return checkVote(m)
  throw new DecodeError(`Cannot decode evidence: ${String(m.type).slice(0, 20)} is not a signed message type`)
}

function checkProposal (m: Record<string, unknown>): Proposal {
  exactKeys(m, ['type', 'groupId', 'height', 'round', 'polRound', 'block', 'proposer', 'signature', 'polPrevotes'], 'proposal')
  const r = round(m.round, 'proposal.round')
  if (!Number.isSafeInteger(m.polRound) || (m.polRound as number) < -1 || (m.polRound as number) >= r) {
    throw new DecodeError(`Cannot decode proposal: polRound ${String(m.polRound)} must be -1 or in [0, round ${r})`)
  }
  const block = checkBlock(m.block)
  const h = height(m.height, 'proposal.height')
  if (block.height !== h) throw new DecodeError(`Cannot decode proposal: block height ${block.height} differs from proposal height ${h}`)
  const polPrevotes = array(m.polPrevotes, MEMBERS_MAX, 'proposal.polPrevotes').map(v => {
    const vote = checkVote(map(v, 'proposal.polPrevotes'))
    if (vote.type !== 'prevote') throw new DecodeError('Cannot decode proposal: polPrevotes holds a precommit')
    return vote
  })
  return { type: 'proposal', groupId: groupId(m.groupId), height: h, round: r, polRound: m.polRound as number, block, proposer: peerId(m.proposer, 'proposal.proposer'), signature: fixedBytes(m.signature, SIGNATURE_BYTES, 'proposal.signature'), polPrevotes }
}

function checkVote (m: Record<string, unknown>): Vote {
  if (m.type !== 'prevote' && m.type !== 'precommit') throw new DecodeError(`Cannot decode bft vote: type ${String(m.type).slice(0, 20)}`)
  exactKeys(m, ['type', 'groupId', 'height', 'round', 'blockHash', 'voter', 'signature'], m.type as string)
  const blockHash = m.blockHash === null ? null : fixedBytes(m.blockHash, HASH_BYTES, 'vote.blockHash')
  return { type: m.type as VoteType, groupId: groupId(m.groupId), height: height(m.height, 'vote.height'), round: round(m.round, 'vote.round'), blockHash, voter: peerId(m.voter, 'vote.voter'), signature: fixedBytes(m.signature, SIGNATURE_BYTES, 'vote.signature') }
}

function checkBlock (value: unknown): Block {
  const m = map(value, 'block')
  exactKeys(m, ['height', 'prevHash', 'items'], 'block')
  return { height: height(m.height, 'block.height'), prevHash: fixedBytes(m.prevHash, HASH_BYTES, 'block.prevHash'), items: items(m.items, BATCH_ITEMS_MAX, 'block') }
}

function items (value: unknown, countMax: number, what: string): Uint8Array[] {
  const list = array(value, countMax, `${what}.items`)
  let total = 0
  for (const item of list) {
    if (!(item instanceof Uint8Array)) throw new DecodeError(`Cannot decode ${what}: item is not bytes`)
    if (item.byteLength > ITEM_BYTES_MAX) throw new LimitExceededError(`Cannot decode ${what}: item of ${item.byteLength} bytes exceeds ITEM_BYTES_MAX (${ITEM_BYTES_MAX})`)
    total += item.byteLength
  }
  if (total > BATCH_BYTES_MAX) throw new LimitExceededError(`Cannot decode ${what}: ${total} item bytes exceeds BATCH_BYTES_MAX (${BATCH_BYTES_MAX})`)
  return list as Uint8Array[]
}

function map (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new DecodeError(`Cannot decode bft ${what}: not a map`)
  return value as Record<string, unknown>
}

function exactKeys (m: Record<string, unknown>, keys: string[], what: string): void {
  const present = Object.keys(m)
  for (const key of keys) if (!(key in m)) throw new DecodeError(`Cannot decode bft ${what}: missing field ${key}`)
  if (present.length !== keys.length) throw new DecodeError(`Cannot decode bft ${what}: unexpected fields (${present.filter(k => !keys.includes(k)).join(', ').slice(0, 80)})`)
}

function array (value: unknown, countMax: number, what: string): unknown[] {
  if (!Array.isArray(value)) throw new DecodeError(`Cannot decode ${what}: not an array`)
  if (value.length > countMax) throw new LimitExceededError(`Cannot decode ${what}: ${value.length} entries exceeds limit of ${countMax}`)
  return value
}

function groupId (value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new DecodeError('Cannot decode bft groupId: must be a non-empty string')
  if (value.length > GROUP_ID_CHARS_MAX) throw new LimitExceededError(`Cannot decode bft groupId: ${value.length} characters exceeds GROUP_ID_CHARS_MAX (${GROUP_ID_CHARS_MAX})`)
  return value
}

function peerId (value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new DecodeError(`Cannot decode ${what}: peer id must be a non-empty string`)
  if (value.length > PEER_ID_CHARS_MAX) throw new LimitExceededError(`Cannot decode ${what}: ${value.length} characters exceeds PEER_ID_CHARS_MAX (${PEER_ID_CHARS_MAX})`)
  return value
}

function fixedBytes (value: unknown, length: number, what: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength !== length) throw new DecodeError(`Cannot decode ${what}: must be ${length} bytes`)
  return value
}

function height (value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw new DecodeError(`Cannot decode ${what}: must be an integer ≥ 1, got ${String(value).slice(0, 20)}`)
  return value as number
}

function round (value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new DecodeError(`Cannot decode ${what}: must be an integer ≥ 0, got ${String(value).slice(0, 20)}`)
  if ((value as number) > ROUND_MAX) throw new LimitExceededError(`Cannot decode ${what}: ${String(value)} exceeds ROUND_MAX (${ROUND_MAX})`)
  return value as number
}

/** Short printable form of a hash (first 8 hex digits), or "nil". */
export function shortHash (hash: Uint8Array | null): string {
  return hash === null ? 'nil' : toHex(hash.subarray(0, 4))
}

/** Short printable form of a peer id (its last 6 characters). */
export function shortId (id: string): string {
  return id.length <= 8 ? id : `…${id.slice(-6)}`
}

/** One stable line describing a message, for logs and simulator traces. */
export function describeMessage (message: BftMessage): string {
  switch (message.type) {
    case 'proposal': return `proposal h=${message.height} r=${message.round} pol=${message.polRound} items=${message.block.items.length} from=${shortId(message.proposer)}`
    case 'prevote': case 'precommit': return `${message.type} h=${message.height} r=${message.round} block=${shortHash(message.blockHash)} from=${shortId(message.voter)}`
    case 'evidence': return `evidence ${message.first.type} h=${message.first.height} r=${message.first.round} by=${shortId(signerOf(message.first))}`
    case 'submit': return `submit items=${message.items.length}`
    case 'decision': return `decision heights=${message.decisions.map(d => d.block.height).join(',')}`
    case 'status': return `status h=${message.height}`
  }
}

/** The member whose key signed a message. */
export function signerOf (message: SignedMessage): string {
  return message.type === 'proposal' ? message.proposer : message.voter
}
