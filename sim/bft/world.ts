// One seeded BFT simulation: n members (n = 4 or 7) with exactly f faulty, a seeded network with
// drops, delays and partitions until GST, client submissions, an honest crash-restart that
// resumes from persisted state, and the checkers run at the end.

import { createRng, type Rng } from '../../protocols/kit/rng.ts'
import { sha256, toHex } from '../../protocols/kit/bytes.ts'
import { BftCore } from '../../protocols/bft/core.ts'
import { describeEffect, type BftEffect, type ChainHead, type PersistedState } from '../../protocols/bft/effects.ts'
import type { BftMessage, Decision, Evidence, SignedMessage } from '../../protocols/bft/messages.ts'
import { faultsTolerated } from '../../protocols/bft/quorum.ts'
import { blockHash, genesisHash, type Signer, type Verifier } from '../../protocols/bft/signing.ts'
import { checkRun } from './checkers.ts'
import { AMNESIA_LOCK_CHANCE, CAPTURED_MAX, FAULTY_BEHAVIOURS, injectForgeries, isValidSimItem, newFaultyState, rewriteOutgoing, shareProposal, type Behaviour, type FaultyState } from './faulty.ts'
import { SIM_KEY_POOL, simSigner } from './keys.ts'
import { SimNetwork, type NetworkConfig } from './network.ts'

/** Ticks after max(GST, last submission) within which every valid item must be committed. */
export const LIVENESS_BOUND_TICKS = 400
/** Hard stop for one run (a liveness failure is reported well before). */
export const RUN_TICKS_MAX = 3000
const SIM_TIMEOUTS = { proposeTicks: 6, prevoteTicks: 3, precommitTicks: 3, incrementTicks: 2, maxTicks: 40, retransmitTicks: 8 }

/**
 * Bugs the simulator can inject into the HONEST members, to prove the checkers notice each class:
 * - `skip-validate`: honest cores accept every item (the validity checker must fire);
 * - `no-verify`: honest cores accept any signature (forged votes/certificates; integrity must fire);
 * - `forget-locks`: honest members restart now and then with their signing state and locks lost,
 *   keeping their log (a driver ignoring E1/E4; the double-sign checker must fire);
 * - `ignore-locks`: honest members now and then drop their lock and valid block but keep their
 *   signing state (a core that does not respect locks; the agreement checker must fire).
 */
export type Injection = 'skip-validate' | 'no-verify' | 'forget-locks' | 'ignore-locks'
/** Every injectable bug class. */
export const INJECTIONS: readonly Injection[] = ['skip-validate', 'no-verify', 'forget-locks', 'ignore-locks']
/** Chance per tick that an honest member forgets its state under `forget-locks`. */
const FORGET_LOCKS_CHANCE = 0.03
/** Chance per tick that a locked honest member drops its lock under `ignore-locks`. */
const IGNORE_LOCKS_CHANCE = 0.2

/** Knobs for one run. */
export interface WorldOptions {
  seed: number
  verifier: Verifier
  /** Broken-core mode for checker tests: quorum f+1 and every faulty member equivocates. */
  unsafeQuorum?: boolean
  /** Checker self-test: inject one class of bug into the honest members (see Injection). */
  inject?: Injection
  /** Record a trace line per delivered message and effect. */
  trace?: (line: string) => void
}

/** What one run reports. */
export interface WorldResult {
  seed: number
  n: number
  behaviours: string[]
  failures: string[]
  heights: number
  items: number
  maxRound: number
  evidence: number
  rejected: number
  sent: number
  dropped: number
  ticks: number
  ticksAfterGstToDone: number | null
  /** Restarts with signing state and locks lost (amnesia-lock members, or forget-locks injection). */
  forgotten: number
  /** Each member's final (behaviour, height, round, step, pending) — for reading a failing seed. */
  finalStates: string[]
}

interface Member {
  id: string
  signer: Signer
  behaviour: Behaviour
  core: BftCore
  log: Decision[]
  /** Keys of items in `log`, for the cheap per-tick liveness test. */
  committed: Set<string>
  persisted: PersistedState | null
  downUntil: number
  faulty: FaultyState
  rng: Rng
  restartAt: number | null
}

const itemKey = (item: Uint8Array): string => toHex(sha256(item))

/** Run one seed to completion and check it. */
export function runWorld (options: WorldOptions): WorldResult {
  const rng = createRng(options.seed)
  const n = options.seed % 2 === 0 ? 4 : 7
  const f = faultsTolerated(n)
  const groupId = 'sim-bft'
  const indices = pickDistinct(rng, n, SIM_KEY_POOL)
  const signers = indices.map(simSigner)
  const ids = signers.map(s => s.id)
  const faultyIndex = new Set(pickDistinct(rng, f, n))
  const validate = isValidSimItem
  const faultyIds = new Set([...faultyIndex].map(i => ids[i]!))
  const acceptAll: Verifier = { verify: () => true }
  const newCore = (signer: Signer, restore?: ConstructorParameters<typeof BftCore>[0]['restore']): BftCore => new BftCore({
    groupId,
    signer,
    verifier: options.inject === 'no-verify' && !faultyIds.has(signer.id) ? acceptAll : options.verifier,
    members: ids,
    validate: options.inject === 'skip-validate' && !faultyIds.has(signer.id) ? () => true : validate,
    timeouts: SIM_TIMEOUTS,
    ...(options.unsafeQuorum === true ? { unsafeQuorum: f + 1 } : {}),
    ...(restore !== undefined ? { restore } : {})
  })
  let k = 0
  const coalition = new Map<string, Set<string>>()
  const members: Member[] = signers.map((signer, i) => {
    const behaviour: Behaviour = !faultyIndex.has(i) ? 'honest' : options.unsafeQuorum === true || options.inject === 'ignore-locks' ? 'equivocate' : FAULTY_BEHAVIOURS[(Math.floor(options.seed / 2) + k++) % FAULTY_BEHAVIOURS.length]! // seed/2: n alternates with parity, so both n see every behaviour
    return { id: signer.id, signer, behaviour, core: newCore(signer), log: [], committed: new Set(), persisted: null, downUntil: -1, faulty: newFaultyState(coalition), rng: rng.fork(), restartAt: behaviour === 'amnesia' ? rng.int(20, 200) : null }
  })
  const byId = new Map(members.map(m => [m.id, m]))
  const honest = members.filter(m => m.behaviour === 'honest')
  // One honest member crashes mid-drain and restarts from its persisted state in 1/3 of seeds.
  const crashing = rng.chance(1 / 3) ? honest[rng.int(0, honest.length - 1)]! : null
  const gstTick = rng.int(30, 150)
  const crashTick = crashing !== null ? rng.int(5, Math.max(6, gstTick - 30)) : -1
  // Half the crashes hit while applying a received message's effects (where block votes and locks happen), half a tick's.
  const crashOnDelivery = crashing !== null && crashing.rng.chance(0.5)
  let crashed = false
  const network = new SimNetwork(networkConfig(rng, gstTick, ids, f), rng.fork())
  const stable = honest.filter(m => m !== crashing)
  const submissions = Array.from({ length: rng.int(3, 12) }, (_, i) => {
    const valid = !rng.chance(0.1)
    const item = Uint8Array.from([valid ? 1 + (i % 200) : 0xff, rng.int(0, 255), rng.int(0, 255), rng.int(0, 255), (options.seed >>> 8) & 0xff, options.seed & 0xff])
    return { at: rng.int(0, gstTick + 50), to: stable[rng.int(0, stable.length - 1)]!, item }
  }).sort((a, b) => a.at - b.at)
  const proposedItems = new Set(submissions.map(s => itemKey(s.item)))
  const expected = new Set(submissions.filter(s => isValidSimItem(s.item)).map(s => itemKey(s.item)))
  const lastSubmit = submissions.at(-1)?.at ?? 0
  const deadlineTick = Math.max(gstTick, lastSubmit) + LIVENESS_BOUND_TICKS
  const evidence: Evidence[] = []
  let rejected = 0
  let maxRound = 0
  let now = 0
  let doneTick: number | null = null
  let forgotten = 0
  const trace = options.trace

  const signed = new Map<string, SignedMessage>() // every distinct signed message cores produced and sent
  const send = (from: Member, to: string, message: BftMessage): void => {
    if (message.type === 'proposal' || message.type === 'prevote' || message.type === 'precommit') {
      const key = toHex(message.signature)
      if (!signed.has(key)) signed.set(key, message)
    }
    network.send(now, from.id, to, message)
  }
  const route = (member: Member, effects: BftEffect[], crashAfter = Infinity): void => {
    for (let i = 0; i < effects.length && i < crashAfter; i++) {
      const effect = effects[i]!
      if (trace !== undefined && effect.type !== 'reject') trace(`t=${now} ${member.id.slice(-6)} ${member.behaviour} ${describeEffect(effect)}`)
      switch (effect.type) {
        case 'persist': member.persisted = effect.state; break
        case 'commit': member.log.push(effect.decision); for (const item of effect.decision.block.items) member.committed.add(itemKey(item)); break
        case 'evidence': evidence.push(effect.evidence); break
        case 'reject': rejected++; break
        case 'send': for (const out of rewriteOutgoing({ ...faultyContext(member), message: effect.message, recipients: [effect.to] })) send(member, out.to, out.message); break
        case 'broadcast': {
          const recipients = ids.filter(id => id !== member.id)
          for (const out of rewriteOutgoing({ ...faultyContext(member), message: effect.message, recipients })) send(member, out.to, out.message)
          break
        }
      }
    }
  }
  const faultyContext = (m: Member) => ({ behaviour: m.behaviour, signer: m.signer, state: m.faulty, rng: m.rng, itemKey })
  const isDone = (): boolean => honest.every(m => m.downUntil < now && [...expected].every(key => m.committed.has(key)))

  let next = 0
  for (now = 0; now <= Math.min(RUN_TICKS_MAX, deadlineTick); now++) {
    while (next < submissions.length && submissions[next]!.at <= now) {
      const s = submissions[next++]!
      s.to.core.submit([s.item])
      route(s.to, s.to.core.drain())
    }
    for (const delivery of network.due(now)) {
      const member = byId.get(delivery.to)!
      if (member.downUntil >= now) continue
      if (member.behaviour !== 'honest' && delivery.message.type !== 'submit' && delivery.message.type !== 'decision' && delivery.message.type !== 'status' && delivery.message.type !== 'evidence') {
        if (member.faulty.captured.length < CAPTURED_MAX) member.faulty.captured.push(delivery.message)
        if (delivery.message.type === 'proposal') shareProposal(member.faulty, delivery.message)
      }
      member.core.step(delivery.from, delivery.message)
      const effects = member.core.drain()
      if (member === crashing && crashOnDelivery && !crashed && now >= crashTick && effects.some(e => e.type === 'persist')) {
        // Crash part-way through what one received message caused (e.g. persisted a locking precommit, never sent it).
        route(member, effects, member.rng.int(0, effects.length))
        member.downUntil = now + member.rng.int(5, 25)
        crashed = true
        continue
      }
      route(member, effects)
    }
    for (const member of members) {
      if (member.downUntil >= now) continue
      if (member.downUntil === now - 1 && member === crashing) {
        const restore = { head: headOfLog(groupId, ids, member.log), recentDecisions: member.log.slice(-64), state: member.persisted ?? emptyState() }
        member.core = newCore(member.signer, restore)
      }
      if (member.restartAt === now) { member.core = newCore(member.signer); member.log = []; member.committed = new Set() } // amnesia: all state lost
      // amnesia-lock (Byzantine), or forget-locks (injected into honest members): log kept, signing state and locks lost.
      const forgets = member.behaviour === 'amnesia-lock' ? member.rng.chance(AMNESIA_LOCK_CHANCE) : options.inject === 'forget-locks' && member.behaviour === 'honest' && now < deadlineTick - LIVENESS_BOUND_TICKS / 2 && member.rng.chance(FORGET_LOCKS_CHANCE)
      if (forgets) { member.core = newCore(member.signer, { head: headOfLog(groupId, ids, member.log), recentDecisions: member.log.slice(-64), state: emptyState() }); forgotten++ }
      if (options.inject === 'ignore-locks' && member.behaviour === 'honest' && member.persisted !== null && member.persisted.lockedRound >= 0 && member.rng.chance(IGNORE_LOCKS_CHANCE)) {
        const state = { ...member.persisted, lockedRound: -1, lockedBlock: null, validRound: -1, validBlock: null }
        member.core = newCore(member.signer, { head: headOfLog(groupId, ids, member.log), recentDecisions: member.log.slice(-64), state })
        forgotten++
      }
      member.core.tick()
      maxRound = Math.max(maxRound, member.core.round)
      if (member === crashing && !crashOnDelivery && now === crashTick) {
        const effects = member.core.drain()
        route(member, effects, member.rng.int(0, effects.length)) // crash part-way through applying effects
        member.downUntil = now + member.rng.int(5, 25)
        continue
      }
      route(member, member.core.drain())
      if (member.behaviour === 'forge-replay') {
        const next = { groupId, quorum: member.core.quorum, block: { height: member.core.height, prevHash: member.core.head.hash, items: [Uint8Array.from([0x42, 0xf0, member.rng.int(0, 255), member.rng.int(0, 255)])] } }
        for (const out of injectForgeries({ state: member.faulty, rng: member.rng, members: ids, self: member.id, lastDecision: member.log.at(-1), signer: member.signer, next })) network.send(now, member.id, out.to, out.message) // forgeries: not in the omniscient view

      }
    }
    if (now >= gstTick && isDone()) { doneTick = now; break }
  }
  for (const m of members) for (const key of m.faulty.fabricated) proposedItems.add(key)
  const failures = checkRun({
    groupId, members: ids, honest: honest.map(m => m.id), logs: new Map(members.map(m => [m.id, m.log])), proposedItems, itemKey, validate, evidence, verifier: options.verifier,
    signed: [...signed.values()], quorum: members[0]!.core.quorum,
    liveness: { expected, deadlineTick, doneTick }
  })
  return {
    seed: options.seed, n, behaviours: members.filter(m => m.behaviour !== 'honest').map(m => m.behaviour as string).concat(crashing !== null ? ['honest-restart'] : []),
    failures, heights: Math.max(0, ...honest.map(m => m.log.length)), items: expected.size, maxRound, evidence: evidence.length, rejected,
    sent: network.sent, dropped: network.dropped, ticks: now, forgotten, ticksAfterGstToDone: doneTick === null ? null : doneTick - Math.max(gstTick, lastSubmit),
    finalStates: members.map(m => `${m.id.slice(-6)} ${m.behaviour} h=${m.core.height} r=${m.core.round} ${m.core.currentStep} pending=${m.core.pendingCount} log=${m.log.length}`)
  }
}

/** The log head a restarted member hands its new core: last block's hash, or genesis. */
function headOfLog (groupId: string, members: string[], log: Decision[]): ChainHead {
  const last = log.at(-1)
  return last === undefined ? { height: 0, hash: genesisHash(groupId, members) } : { height: last.block.height, hash: blockHash(groupId, last.block) }
}

function emptyState (): PersistedState {
  return { signed: null, signedMessages: [], lockedRound: -1, lockedBlock: null, validRound: -1, validBlock: null }
}

function pickDistinct (rng: Rng, count: number, range: number): number[] {
  const chosen = new Set<number>()
  while (chosen.size < count) chosen.add(rng.int(0, range - 1))
  return [...chosen]
}

function networkConfig (rng: Rng, gstTick: number, ids: string[], f: number): NetworkConfig {
  const partitions: NetworkConfig['partitions'] = []
  if (rng.chance(0.5)) {
    const fromTick = rng.int(0, gstTick - 1)
    const isolated = new Set(pickDistinct(rng, rng.int(1, f + 1), ids.length).map(i => ids[i]!))
    partitions.push({ fromTick, toTick: rng.int(fromTick + 1, gstTick), isolated })
  }
  return { gstTick, dropRate: rng.float() * 0.3, duplicateRate: 0.05, delayMaxTicks: rng.int(1, 10), delayMaxAfterGstTicks: 3, partitions }
}
