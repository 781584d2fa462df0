// The pure Tendermint-style BFT core (SPEC bft): rounds of propose → prevote → precommit with
// locking, growing timeouts counted in ticks, signed messages, certificates and equivocation
// evidence. No I/O, no clock, no randomness: step()/tick()/submit() in, drain() effects out.

import { assert } from '../kit/assert.ts'
import { bytesEqual, toHex } from '../kit/bytes.ts'
import { LimitExceededError } from '../kit/errors.ts'
import { verifyDecision } from './certificate.ts'
import { isAfterSigned, type BftEffect, type ChainHead, type PersistedState, type SignStep } from './effects.ts'
import { DoubleSignError } from './errors.ts'
import { ITEM_BYTES_MAX, MEMBERS_MAX, SUBMIT_ITEMS_MAX, signerOf } from './messages.ts'
import { sha256 } from '../kit/bytes.ts'
import type { BftMessage, Block, Decision, Evidence, Proposal, SignedMessage, Vote, VoteType } from './messages.ts'
import { CatchUp, RECENT_DECISIONS_MAX } from './catch-up.ts'
import { PENDING_ITEMS_MAX, PendingPool } from './pending-pool.ts'
import { checkPolPrevotes } from './polka.ts'
import { faultsTolerated, quorumSize } from './quorum.ts'
import { RoundState, hashKey, isConflicting } from './round-state.ts'
import { blockHash, genesisHash, proposalSignBytes, verifySigned, voteSignBytes } from './signing.ts'
import type { Signer, Verifier } from './signing.ts'

/** Equivocation evidence kept in memory (the driver persists/gossips each as it is emitted). */
export const EVIDENCE_MAX = 64
/** Messages buffered for the next height (a member one commit ahead of us). */
export const FUTURE_MESSAGES_MAX = 8 * MEMBERS_MAX
/** Rounds ahead of ours we keep votes for: bounds what a Byzantine member can make us store. */
export const ROUNDS_AHEAD_MAX = 8
/** Rounds of our own votes we keep re-sending: a member a few rounds behind needs them to catch up (T11). */
export const ROUNDS_RETRANSMITTED = 4

/**
 * Heights whose committed items the core remembers, to refuse a block that repeats one (SPEC bft
 * B3). Enough when the application's `validate` bounds an item's life to this many heights (the
 * driver's items carry their last valid height): an item committed at h is valid at most until
 * h + COMMITTED_HEIGHTS_REMEMBERED, and until then we remember it. 64 = the decisions a restarted
 * core gets back (RECENT_DECISIONS_MAX), so the memory survives restarts; at most 64 × 256 ids.
 */
export const COMMITTED_HEIGHTS_REMEMBERED = RECENT_DECISIONS_MAX

/** Timeouts in ticks; each grows by `incrementTicks` per round up to `maxTicks` (SPEC bft T10). */
export interface BftTimeouts { proposeTicks: number, prevoteTicks: number, precommitTicks: number, incrementTicks: number, maxTicks: number, retransmitTicks: number, idleStatusTicks: number }

/** Defaults for a tick of ~10 ms: a silent proposer costs 60 ms in round 0. */
export const DEFAULT_TIMEOUTS: BftTimeouts = { proposeTicks: 6, prevoteTicks: 3, precommitTicks: 3, incrementTicks: 2, maxTicks: 200, retransmitTicks: 8, idleStatusTicks: 50 }

/** What a core needs: identity, keys, members, the application's validity hook. */
export interface BftCoreOptions {
  groupId: string
  signer: Signer
  verifier: Verifier
  members: readonly string[]
  /** Application validity of one item in a block at `height`; a block is valid only if every item is (SPEC bft B3). */
  validate?: (item: Uint8Array, height: number) => boolean
  timeouts?: Partial<BftTimeouts>
  /** State from a previous run: the last persisted state and the log head (SPEC bft E4). */
  restore?: { state: PersistedState, head: ChainHead, recentDecisions?: Decision[] }
  /** UNSAFE, for simulator tests that prove the checkers work: override the quorum size. */
  unsafeQuorum?: number
}

type Step = 'propose' | 'prevote' | 'precommit'
interface Timer { kind: Step, height: number, round: number, at: number }

/** One member's consensus state machine for one group. */
export class BftCore {
  readonly groupId: string
  readonly self: string
  readonly members: readonly string[]
  readonly quorum: number
  readonly f: number
  #signer: Signer
  #verifier: Verifier
  #validate: (item: Uint8Array, height: number) => boolean
  #timeouts: BftTimeouts
  #memberSet: Set<string>
  #effects: BftEffect[] = []
  #now = 0
  #head: ChainHead
  #height: number
  #round = 0
  #step: Step = 'propose'
  #active = false
  #rounds = new Map<number, RoundState>()
  #timers: Timer[] = []
  #lastRetransmit = 0
  #lockedRound = -1
  #lockedBlock: Block | null = null
  #validRound = -1
  #validBlock: Block | null = null
  #signed: PersistedState['signed'] = null
  #signedMessages: SignedMessage[] = []
  #validity = new Map<string, boolean>()
  #future: Array<{ from: string, message: BftMessage }> = []
  #pending = new PendingPool()
  #catchUp: CatchUp
  #evidence: Evidence[] = []
  #evidenceKeys = new Set<string>()
  #highestRound = new Map<string, number>()
  /** SPEC bft B3: ids (sha256 hex) of items committed in the last COMMITTED_HEIGHTS_REMEMBERED heights, by height. */
  #committedItems = new Map<string, number>()

  constructor (options: BftCoreOptions) {
    assert(options.members.length >= 1 && options.members.length <= MEMBERS_MAX, `1..${MEMBERS_MAX} members`)
    this.groupId = options.groupId
    this.#signer = options.signer
    this.self = options.signer.id
    this.members = [...options.members].sort()
    this.#memberSet = new Set(this.members)
    assert(this.#memberSet.size === this.members.length, 'members are distinct')
    this.f = faultsTolerated(this.members.length)
    this.quorum = options.unsafeQuorum ?? quorumSize(this.members.length)
    this.#verifier = options.verifier
    this.#validate = options.validate ?? (() => true)
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts }
    this.#head = options.restore?.head ?? { height: 0, hash: genesisHash(this.groupId, this.members) }
    this.#height = this.#head.height + 1
    this.#catchUp = new CatchUp({ periodTicks: this.#timeouts.retransmitTicks, recent: options.restore?.recentDecisions ?? [] })
    for (const decision of options.restore?.recentDecisions ?? []) this.#rememberCommitted(decision)
    const state = options.restore?.state
    if (state !== undefined) this.#restore(state)
  }

  /** Height being decided now (last committed + 1). */
  get height (): number { return this.#height }
  /** Current round at this height. */
  get round (): number { return this.#round }
  /** Current step within the round. */
  get currentStep (): Step { return this.#step }
  /** The log head: last committed height and its hash. */
  get head (): ChainHead { return this.#head }
  /** Number of items waiting to be batched. */
  get pendingCount (): number { return this.#pending.size }
  /** Equivocation evidence seen so far (bounded by EVIDENCE_MAX). */
  get evidence (): readonly Evidence[] { return this.#evidence }
  /** The state the driver last had to persist (SPEC bft E1). */
  get persistedState (): PersistedState { return this.#persisted() }

  /** The proposer of (height, round): round-robin over the sorted members (SPEC bft T1). */
  proposerOf (height: number, round: number): string {
    return this.members[(height + round) % this.members.length]!
  }

  /** Queue items for agreement; they are gossiped to every member's pending pool (SPEC bft B8). */
  submit (items: Uint8Array[]): void {
    if (items.length > SUBMIT_ITEMS_MAX) throw new LimitExceededError(`Cannot submit ${items.length} items: exceeds SUBMIT_ITEMS_MAX (${SUBMIT_ITEMS_MAX})`)
    for (const item of items) {
      if (item.byteLength > ITEM_BYTES_MAX) throw new LimitExceededError(`Cannot submit item of ${item.byteLength} bytes: exceeds ITEM_BYTES_MAX (${ITEM_BYTES_MAX})`)
    }
    if (!this.#pending.hasRoom(items.length)) throw new LimitExceededError(`Cannot submit: ${this.#pending.size} pending items, PENDING_ITEMS_MAX is ${PENDING_ITEMS_MAX}`)
    for (const item of items) this.#pending.add(item)
    this.#effects.push({ type: 'broadcast', message: { type: 'submit', groupId: this.groupId, items } })
    this.#activate()
    this.#evaluate()
  }

  /** Advance the clock by one tick: fire due timeouts, retransmit while stuck (SPEC bft T10, T11). */
  tick (): void {
    this.#now++
    const due = this.#timers.filter(t => t.at <= this.#now)
    if (due.length > 0) this.#timers = this.#timers.filter(t => t.at > this.#now)
    for (const timer of due) this.#onTimeout(timer)
    if (this.#active && this.#now - this.#lastRetransmit >= this.#timeouts.retransmitTicks) this.#retransmit()
    else if (!this.#active && this.#now - this.#lastRetransmit >= this.#timeouts.idleStatusTicks) this.#sendStatus() // T11: idle heartbeat
    this.#evaluate()
  }

  /** Handle one message from `from` (the transport-authenticated sender). */
  step (from: string, message: BftMessage): void {
    if (!this.#memberSet.has(from)) { this.#reject(from, 'sender is not a member'); return }
    if (this.#groupOf(message) !== this.groupId) { this.#reject(from, `message for group ${this.#groupOf(message)}`); return }
    switch (message.type) {
      case 'status': this.#serveCatchUp(from, message.height); return
      case 'decision': this.#onDecisions(from, message.decisions); return
      case 'submit': this.#onSubmit(from, message.items); return
      case 'evidence': this.#onEvidence(from, message); return
      case 'proposal': case 'prevote': case 'precommit': this.#onSigned(from, message); return
    }
  }

  /** Take the effects produced so far, in the order the driver must apply them. */
  drain (): BftEffect[] {
    const out = this.#effects
    this.#effects = []
    return out
  }

  #groupOf (message: BftMessage): string {
    return message.type === 'evidence' ? message.first.groupId : message.groupId
  }

  #restore (state: PersistedState): void {
    this.#signed = state.signed
    if (state.signed === null || state.signed.height !== this.#height) return
    // SPEC bft E4: resume at the round we last signed in, with our locks, and never re-sign it.
    this.#round = state.signed.round
    this.#step = state.signed.step === 'proposal' ? 'propose' : state.signed.step
    this.#signedMessages = state.signedMessages.filter(m => m.height === this.#height)
    this.#lockedRound = state.lockedRound
    this.#lockedBlock = state.lockedBlock
    this.#validRound = state.validRound
    this.#validBlock = state.validBlock
    for (const message of this.#signedMessages) this.#record(message)
    this.#activate()
  }

  #persisted (): PersistedState {
    return { signed: this.#signed, signedMessages: this.#signedMessages, lockedRound: this.#lockedRound, lockedBlock: this.#lockedBlock, validRound: this.#validRound, validBlock: this.#validBlock }
  }

  // --- signing (SPEC bft B5, E1) ---

  #canSign (height: number, round: number, step: SignStep): boolean {
    return isAfterSigned(this.#signed, { height, round, step })
  }

  #markSigned (message: SignedMessage, step: SignStep): void {
    if (!this.#canSign(message.height, message.round, step)) {
      throw new DoubleSignError(`refusing to sign ${step} at height ${message.height} round ${message.round}: already signed ${JSON.stringify(this.#signed)}`)
    }
    this.#signed = { height: message.height, round: message.round, step }
    // Keep the latest proposal and our votes of the last ROUNDS_RETRANSMITTED rounds (SPEC bft T11).
    this.#signedMessages = [...this.#signedMessages.filter(m => m.height === message.height &&
      (message.type === 'proposal' ? m.type !== 'proposal' : !(m.type === message.type && m.round === message.round)) &&
      m.round > message.round - ROUNDS_RETRANSMITTED), message]
    this.#effects.push({ type: 'persist', state: this.#persisted() })
    this.#effects.push({ type: 'broadcast', message })
  }

  #propose (block: Block, polRound: number): void {
    if (!this.#canSign(this.#height, this.#round, 'proposal')) return
    const unsigned = { groupId: this.groupId, height: this.#height, round: this.#round, polRound, block, proposer: this.self }
    const key = hashKey(blockHash(this.groupId, block))
    const polPrevotes = polRound < 0 ? [] : [...(this.#rounds.get(polRound)?.prevotes.values() ?? [])].filter(v => hashKey(v.blockHash) === key)
    const proposal: Proposal = { type: 'proposal', ...unsigned, signature: this.#signer.sign(proposalSignBytes(unsigned)), polPrevotes }
    this.#markSigned(proposal, 'proposal')
    this.#record(proposal)
  }

  #vote (type: VoteType, hash: Uint8Array | null): void {
    this.#step = type
    if (!this.#canSign(this.#height, this.#round, type)) return
    const unsigned = { groupId: this.groupId, height: this.#height, round: this.#round, type, blockHash: hash }
    const vote: Vote = { ...unsigned, voter: this.self, signature: this.#signer.sign(voteSignBytes(unsigned)) }
    this.#markSigned(vote, type)
    this.#record(vote)
  }

  // --- inputs ---

  #onSigned (from: string, message: SignedMessage): void {
    if (message.height < this.#height) return // late vote of a decided height; laggards ask with `status` (T11)
    if (message.height > this.#height) {
      if (message.height === this.#height + 1 && this.#future.length < FUTURE_MESSAGES_MAX) this.#future.push({ from, message })
      this.#askForCatchUp(from)
      return
    }
    const signer = signerOf(message)
    if (!this.#memberSet.has(signer)) { this.#reject(from, `signer ${signer} is not a member`); return }
    if (message.type === 'proposal') {
      if (signer !== this.proposerOf(message.height, message.round)) { this.#reject(from, `proposal for round ${message.round} from ${signer}, not the proposer`); return }
      // T3 needs vr < round (the codec checks it too; the core does not rely on its driver decoding).
      if (message.polRound < -1 || message.polRound >= message.round) { this.#reject(from, `proposal polRound ${message.polRound} is not in [-1, round ${message.round})`); return }
      if (message.block.height !== message.height) { this.#reject(from, `proposal for height ${message.height} carries a block of height ${message.block.height}`); return }
    }
    if (!verifySigned(message, this.#verifier)) { this.#reject(from, `bad signature on ${message.type} by ${signer}`); return }
    // SPEC bft T9: remember each member's highest round (n numbers); store votes only near ours.
    if (message.round > (this.#highestRound.get(signer) ?? -1)) this.#highestRound.set(signer, message.round)
    if (message.round <= this.#round + ROUNDS_AHEAD_MAX) this.#record(message)
    if (message.type === 'proposal') this.#recordPolPrevotes(from, message)
    else this.#relayOnConflict(message)
    this.#activate()
    this.#evaluate()
  }

  /** SPEC bft T3: the carried polka is proof on its own, even where our tally kept a Byzantine member's other vote. */
  #recordPolPrevotes (from: string, proposal: Proposal): void {
    if (proposal.polRound < 0) return
    const check = checkPolPrevotes(proposal, { groupId: this.groupId, members: this.#memberSet, verifier: this.#verifier })
    if ('error' in check) { this.#reject(from, check.error); return }
    for (const vote of check.votes) if (vote.round <= this.#round + ROUNDS_AHEAD_MAX) this.#record(vote)
    const recorded = this.#rounds.get(proposal.round)?.proposal
    const key = hashKey(blockHash(this.groupId, proposal.block))
    if (check.votes.length >= this.quorum && recorded != null && recorded.hashKey === key && recorded.message.polRound === proposal.polRound) recorded.polProven = true
  }

  /**
   * SPEC bft B4: a vote for a block other than the proposal we hold means the proposer may have
   * equivocated. Send that voter our copy (once per voter and round) so whoever holds both
   * signed proposals can produce evidence. Costs nothing when nobody lies.
   */
  #relayOnConflict (vote: Vote): void {
    const rs = this.#rounds.get(vote.round)
    if (rs === undefined || rs.proposal === null || vote.blockHash === null || vote.voter === this.self) return
    if (hashKey(vote.blockHash) === rs.proposal.hashKey || rs.relayedTo.has(vote.voter)) return
    rs.relayedTo.add(vote.voter)
    this.#effects.push({ type: 'send', to: vote.voter, message: rs.proposal.message })
  }

  #record (message: SignedMessage): void {
    const rs = this.#roundState(message.round)
    const result = message.type === 'proposal'
      ? rs.recordProposal(message, toHex(blockHash(this.groupId, message.block)))
      : rs.recordVote(message)
    if (typeof result === 'object') this.#keepEvidence(result.evidence, true)
  }

  #onEvidence (from: string, evidence: Evidence): void {
    if (!isConflicting(evidence)) { this.#reject(from, 'evidence messages do not conflict'); return }
    if (!this.#memberSet.has(signerOf(evidence.first))) { this.#reject(from, 'evidence against a non-member'); return }
    if (!verifySigned(evidence.first, this.#verifier) || !verifySigned(evidence.second, this.#verifier)) {
      this.#reject(from, 'evidence with a bad signature')
      return
    }
    this.#keepEvidence(evidence, false)
  }

  #keepEvidence (evidence: Evidence, gossip: boolean): void {
    const { first } = evidence
    const key = `${signerOf(first)}|${first.height}|${first.round}|${first.type}`
    if (this.#evidenceKeys.has(key)) return
    if (this.#evidence.length >= EVIDENCE_MAX) { // keep the newest; the driver stored each as emitted (E3)
      const oldest = this.#evidence.shift()!.first
      this.#evidenceKeys.delete(`${signerOf(oldest)}|${oldest.height}|${oldest.round}|${oldest.type}`)
    }
    this.#evidenceKeys.add(key)
    this.#evidence.push(evidence)
    this.#effects.push({ type: 'evidence', evidence })
    if (gossip) this.#effects.push({ type: 'broadcast', message: evidence })
  }

  #onSubmit (from: string, items: Uint8Array[]): void {
    let added = 0
    for (const item of items) {
      if (!this.#pending.hasRoom(1)) { this.#reject(from, 'pending pool full'); break }
      if (this.#pending.add(item)) added++
    }
    if (added > 0) { this.#activate(); this.#evaluate() }
  }

  #onDecisions (from: string, decisions: Decision[]): void {
    for (const decision of decisions) {
      if (decision.block.height !== this.#height) continue
      if (!bytesEqual(decision.block.prevHash, this.#head.hash)) { this.#reject(from, `decision at height ${this.#height} does not extend our log`); return }
      const result = verifyDecision(decision, { members: this.members, verifier: this.#verifier, groupId: this.groupId })
      if (!result.ok) { this.#reject(from, `bad decision: ${result.reason}`); return }
      // B3 on the catch-up path too: a certificate alone is not enough, exactly as T8 re-checks validity.
      if (!this.#isValid(decision.block, toHex(blockHash(this.groupId, decision.block)))) { this.#reject(from, `decision at height ${this.#height} is not a valid block`); return }
      this.#commit(decision)
    }
    this.#evaluate()
  }

  #serveCatchUp (to: string, theirHeight: number): void {
    if (theirHeight >= this.#height || to === this.self) return
    const decisions = this.#catchUp.serve(to, theirHeight, this.#now)
    if (decisions !== null) this.#effects.push({ type: 'send', to, message: { type: 'decision', groupId: this.groupId, decisions } })
  }

  /** A member is ahead of us: tell it our height (once per retransmit period per member, T11). */
  #askForCatchUp (to: string): void {
    if (this.#catchUp.shouldAsk(to, this.#height, this.#now)) this.#effects.push({ type: 'send', to, message: { type: 'status', groupId: this.groupId, height: this.#height } })
  }

  #onTimeout (timer: Timer): void {
    if (timer.height !== this.#height || timer.round !== this.#round) return
    if (timer.kind === 'propose' && this.#step === 'propose') this.#vote('prevote', null) // SPEC bft T11
    else if (timer.kind === 'prevote' && this.#step === 'prevote') this.#vote('precommit', null)
    else if (timer.kind === 'precommit') this.#startRound(this.#round + 1)
  }

  #retransmit (): void {
    this.#lastRetransmit = this.#now
    for (const message of this.#signedMessages) if (message.height === this.#height) this.#effects.push({ type: 'broadcast', message })
    this.#sendStatus()
  }

  #sendStatus (): void {
    this.#lastRetransmit = this.#now
    this.#effects.push({ type: 'broadcast', message: { type: 'status', groupId: this.groupId, height: this.#height } })
  }

  // --- the round rules (SPEC bft T2–T9) ---

  #activate (): void {
    if (this.#active) return
    this.#active = true
    this.#lastRetransmit = this.#now
    this.#startRound(this.#round, true)
  }

  #startRound (round: number, resume = false): void {
    if (!resume) { this.#round = round; this.#step = 'propose' }
    this.#timers = this.#timers.filter(t => t.height === this.#height && t.round >= round)
    for (const r of this.#rounds.keys()) if (r > round + ROUNDS_AHEAD_MAX) this.#rounds.delete(r)
    if (this.#step === 'propose') {
      this.#schedule('propose', this.#timeouts.proposeTicks)
      if (this.proposerOf(this.#height, round) === this.self) this.#proposeOwn()
    } else if (this.#step === 'prevote') this.#schedule('prevote', this.#timeouts.prevoteTicks)
    else this.#schedule('precommit', this.#timeouts.precommitTicks)
  }

  #proposeOwn (): void {
    if (this.#validBlock !== null) { this.#propose(this.#validBlock, this.#validRound); return }
    const items = this.#pending.takeBatch(item => !this.#committedItems.has(itemId(item)) && this.#validate(item, this.#height))
    if (items.length === 0) return // nothing to agree on; others time out if they expected us
    this.#propose({ height: this.#height, prevHash: this.#head.hash, items }, -1)
  }

  #schedule (kind: Step, baseTicks: number): void {
    const ticks = Math.min(this.#timeouts.maxTicks, baseTicks + this.#round * this.#timeouts.incrementTicks)
    this.#timers.push({ kind, height: this.#height, round: this.#round, at: this.#now + ticks })
  }

  #roundState (round: number): RoundState {
    let rs = this.#rounds.get(round)
    if (rs === undefined) { rs = new RoundState(round); this.#rounds.set(round, rs) }
    return rs
  }

  #isValid (block: Block, key: string): boolean {
    let valid = this.#validity.get(key)
    if (valid === undefined) {
      valid = block.height === this.#height && bytesEqual(block.prevHash, this.#head.hash) &&
        block.items.length > 0 && this.#itemsAreNew(block.items) && block.items.every(item => this.#validate(item, block.height))
      this.#validity.set(key, valid)
    }
    return valid
  }

  /** SPEC bft B3: no item twice in one block, and none committed in the remembered heights. */
  #itemsAreNew (items: readonly Uint8Array[]): boolean {
    const ids = new Set<string>()
    for (const item of items) {
      const id = itemId(item)
      if (ids.has(id) || this.#committedItems.has(id)) return false
      ids.add(id)
    }
    return true
  }

  #rememberCommitted (decision: Decision): void {
    const height = decision.block.height
    for (const item of decision.block.items) {
      const id = itemId(item)
      this.#committedItems.delete(id) // keep insertion order = height order
      this.#committedItems.set(id, height)
    }
    // Map order is insertion order, which is height order: drop from the front.
    for (const [id, committedAt] of this.#committedItems) {
      if (committedAt > height - COMMITTED_HEIGHTS_REMEMBERED) break
      this.#committedItems.delete(id)
    }
  }

  #evaluate (): void {
    for (let guard = 0; guard < 64; guard++) if (!this.#applyRules()) return
    assert(false, 'round rules settle within 64 passes')
  }

  /** Apply the first rule that fires; true if something changed. */
  #applyRules (): boolean {
    if (!this.#active) return false
    if (this.#tryCommit()) return true
    const rs = this.#roundState(this.#round)
    const proposal = rs.proposal
    if (this.#step === 'propose' && proposal !== null) { // T2, T3
      const { message: p, hashKey: key } = proposal
      const lockOk = (lockedRound: number): boolean => this.#lockedRound <= lockedRound || (this.#lockedBlock !== null && hashKey(blockHash(this.groupId, this.#lockedBlock)) === key)
      if (p.polRound === -1) {
        this.#vote('prevote', this.#isValid(p.block, key) && lockOk(-1) ? blockHash(this.groupId, p.block) : null)
        return true
      }
      if (proposal.polProven || (this.#rounds.get(p.polRound)?.prevoteTally.get(key) ?? 0) >= this.quorum) {
        this.#vote('prevote', this.#isValid(p.block, key) && lockOk(p.polRound) ? blockHash(this.groupId, p.block) : null)
        return true
      }
    }
    if (this.#step === 'prevote' && !rs.prevoteTimerStarted && rs.prevotes.size >= this.quorum) { // T4
      rs.prevoteTimerStarted = true
      this.#schedule('prevote', this.#timeouts.prevoteTicks)
    }
    if (this.#step !== 'propose' && proposal !== null && !rs.polkaHandled && // T5
      (rs.prevoteTally.get(proposal.hashKey) ?? 0) >= this.quorum && this.#isValid(proposal.message.block, proposal.hashKey)) {
      rs.polkaHandled = true
      const block = proposal.message.block
      if (this.#step === 'prevote') {
        this.#lockedRound = this.#round
        this.#lockedBlock = block
        this.#vote('precommit', blockHash(this.groupId, block))
      }
      this.#validRound = this.#round
      this.#validBlock = block
      return true
    }
    if (this.#step === 'prevote' && (rs.prevoteTally.get('nil') ?? 0) >= this.quorum) { // T6
      this.#vote('precommit', null)
      return true
    }
    if (!rs.precommitTimerStarted && rs.precommits.size >= this.quorum) { // T7
      rs.precommitTimerStarted = true
      this.#schedule('precommit', this.#timeouts.precommitTicks)
    }
    const skipTo = this.#skipRound() // T9: f+1 members are in a later round, so an honest one is
    if (skipTo > this.#round) { this.#startRound(skipTo); return true }
    return false
  }

  /** The highest round that at least f+1 distinct members have signed messages in at this height. */
  #skipRound (): number {
    if (this.#highestRound.size < this.f + 1) return -1
    const rounds = [...this.#highestRound.values()].sort((a, b) => b - a)
    return rounds[this.f]!
  }

  /** T8: a proposal and a quorum of precommits for it in any round decide the height. */
  #tryCommit (): boolean {
    for (const rs of this.#rounds.values()) {
      if (rs.proposal === null) continue
      const key = rs.proposal.hashKey
      if ((rs.precommitTally.get(key) ?? 0) < this.quorum || !this.#isValid(rs.proposal.message.block, key)) continue
      const votes = [...rs.precommits.values()].filter(v => v.blockHash !== null && hashKey(v.blockHash) === key)
      this.#commit({
        groupId: this.groupId,
        block: rs.proposal.message.block,
        certificate: { round: rs.round, signers: votes.map(v => v.voter), signatures: votes.map(v => v.signature) }
      })
      return true
    }
    return false
  }

  #commit (decision: Decision): void {
    const hash = blockHash(this.groupId, decision.block)
    this.#effects.push({ type: 'commit', decision })
    this.#catchUp.remember(decision)
    this.#rememberCommitted(decision)
    this.#pending.markCommitted(decision.block.items)
    this.#head = { height: decision.block.height, hash }
    this.#enterHeight(decision.block.height + 1)
  }

  #enterHeight (height: number): void {
    this.#height = height
    this.#round = 0
    this.#step = 'propose'
    this.#rounds.clear()
    this.#highestRound.clear()
    this.#timers = []
    this.#validity.clear()
    this.#lockedRound = -1
    this.#lockedBlock = null
    this.#validRound = -1
    this.#validBlock = null
    this.#signedMessages = []
    this.#active = false
    this.#effects.push({ type: 'persist', state: this.#persisted() })
    const future = this.#future
    this.#future = []
    if (this.#pending.size > 0) this.#activate()
    for (const { from, message } of future) this.step(from, message)
  }

  #reject (from: string, reason: string): void {
    this.#effects.push({ type: 'reject', from, reason })
  }
}

/** An item's id: the hex of its sha256 (items are up to ITEM_BYTES_MAX; ids stay 64 characters). */
export function itemId (item: Uint8Array): string { return toHex(sha256(item)) }
