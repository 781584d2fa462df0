// One seeded BFT simulation of the PRODUCTION driver: n real GroupDrivers (n = 4 or 7, exactly f
// faulty) on a virtual clock (sim/kit/sim-clock.ts), each with a simulated disk with crash points
// (sim/kit/sim-disk.ts), over a seeded network with drops, duplicates, delays and partitions until
// GST; client proposals, an honest crash-restart from whatever the disk kept, a non-member that
// keeps talking to the group, and the checkers at the end.

import { createRng, type Rng } from '../../protocols/kit/rng.ts'
import { toHex } from '../../protocols/kit/bytes.ts'
import { decodeCbor, encodeCbor } from '../../protocols/kit/cbor.ts'
import { itemId } from '../../protocols/bft/core.ts'
import { BFT_TICK_MS, GroupDriver, decodeItem } from '../../protocols/bft/adapter-group.ts'
import type { BftLog } from '../../protocols/bft/adapter-group.ts'
import { BftStore, STATE_KEY } from '../../protocols/bft/adapter-store.ts'
import { describeEffect, type BftEffect, type PersistedState } from '../../protocols/bft/effects.ts'
import { decodeMessage, encodeMessage, type BftMessage, type Decision, type Evidence, type SignedMessage } from '../../protocols/bft/messages.ts'
import { faultsTolerated, quorumSize } from '../../protocols/bft/quorum.ts'
import { blockHash, genesisHash, type Signer, type Verifier } from '../../protocols/bft/signing.ts'
import { SimClock, type SimClockView } from '../kit/sim-clock.ts'
import { SimDisk } from '../kit/sim-disk.ts'
import { checkRun } from './checkers.ts'
import { AMNESIA_LOCK_CHANCE, CAPTURED_MAX, FAULTY_BEHAVIOURS, injectForgeries, isValidSimItem, newFaultyState, rememberCommitted, rewriteOutgoing, shareProposal, type Behaviour, type FaultyState } from './faulty.ts'
import { NonMember } from './non-member.ts'
import { SIM_KEY_POOL, simSigner } from './keys.ts'
import { SimNetwork, type NetworkConfig } from './network.ts'

/** Ticks after max(GST, last submission) within which every valid item must be committed. */
export const LIVENESS_BOUND_TICKS = 400
/** Hard stop for one run (a liveness failure is reported well before). */
export const RUN_TICKS_MAX = 3000
const SIM_TIMEOUTS = { proposeTicks: 6, prevoteTicks: 3, precommitTicks: 3, incrementTicks: 2, maxTicks: 40, retransmitTicks: 8 }
/** Virtual ms per tick: the driver's own tick (the core's timeouts are counted in it). */
const TICK_MS = BFT_TICK_MS
/** A proposal's deadline in the simulator: never before the run ends (liveness is the checker's job). */
const PROPOSE_TIMEOUT_MS = (RUN_TICKS_MAX + 100) * TICK_MS

/**
 * Bugs the simulator can inject into the HONEST members, to prove the checkers notice each class:
 * - `skip-validate`: honest members accept every value (the validity checker must fire);
 * - `no-verify`: honest members accept any signature (forged votes/certificates; integrity must fire);
 * - `forget-locks`: honest members restart now and then with their signing state and locks lost,
 *   keeping their log (a store ignoring E1/E4; the double-sign checker must fire);
 * - `ignore-locks`: honest members now and then drop their lock and valid block but keep their
 *   signing state (a core that does not respect locks; the agreement checker must fire);
 * - `sign-before-persist`: honest drivers send what they signed before the durable write that
 *   covers it (breaks SPEC bft E1); a crash in between lets the restarted member sign again.
 */
export type Injection = 'skip-validate' | 'no-verify' | 'forget-locks' | 'ignore-locks' | 'sign-before-persist'
/** Every injectable bug class. */
export const INJECTIONS: readonly Injection[] = ['skip-validate', 'no-verify', 'forget-locks', 'ignore-locks', 'sign-before-persist']
/** Chance per tick that an honest member forgets its state under `forget-locks`. */
const FORGET_LOCKS_CHANCE = 0.03
/** Chance per tick that a locked honest member drops its lock under `ignore-locks`. */
const IGNORE_LOCKS_CHANCE = 0.2
/** Chance per tick, under `sign-before-persist`, that an honest member crashes (while a write is in flight). */
const SIGN_BEFORE_PERSIST_CRASH_CHANCE = 0.02

/** Knobs for one run. */
export interface WorldOptions {
  seed: number
  verifier: Verifier
  /** Broken-core mode for checker tests: quorum f+1 and every faulty member equivocates. */
  unsafeQuorum?: boolean
  /** Checker self-test: inject one class of bug into the honest members (see Injection). */
  inject?: Injection
  /** Record a trace line per applied effect. */
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
  /** Crashes of honest members (their disk kept only what it had to). */
  crashes: number
  /** Frames the non-member sent, and how many the members refused (dropped and counted). */
  nonMemberFrames: number
  nonMemberRejected: number
  /** Each member's final (behaviour, height, round, step, pending) — for reading a failing seed. */
  finalStates: string[]
}

interface Member {
  id: string
  signer: Signer
  behaviour: Behaviour
  driver: GroupDriver | null
  clock: SimClockView | null
  disk: SimDisk
  /** Bumped on every crash: frames and effects of an older incarnation are ignored. */
  incarnation: number
  log: Decision[]
  /** Value keys of items in `log`, for the cheap liveness test. */
  committed: Set<string>
  persisted: PersistedState | null
  faulty: FaultyState
  rng: Rng
  restartAt: number | null
}

/** A committed item's key for the checkers: its value (sim values are unique per seed), or its id if it does not decode. */
function valueKey (item: Uint8Array): string {
  const decoded = decodeItem(item)
  return decoded !== undefined && decoded.value instanceof Uint8Array ? `v:${toHex(decoded.value)}` : `i:${itemId(item)}`
}

/** The simulator's application validity, on values. */
function isValidSimValue (value: unknown): boolean {
  return value instanceof Uint8Array && isValidSimItem(value)
}

/** Validity of a committed item for the checkers: well formed, and its value valid. */
function isValidSimCommitted (item: Uint8Array): boolean {
  const decoded = decodeItem(item)
  return decoded !== undefined && isValidSimValue(decoded.value)
}

/** Run one seed to completion and check it. */
export async function runWorld (options: WorldOptions): Promise<WorldResult> {
  const rng = createRng(options.seed)
  const n = options.seed % 2 === 0 ? 4 : 7
  const f = faultsTolerated(n)
  const groupId = 'sim-bft'
  const indices = pickDistinct(rng, n + 1, SIM_KEY_POOL)
  const signers = indices.slice(0, n).map(simSigner)
  const ids = signers.map(s => s.id)
  const outsiderSigner = simSigner(indices[n]!)
  const faultyIndex = new Set(pickDistinct(rng, f, n))
  const faultyIds = new Set([...faultyIndex].map(i => ids[i]!))
  const acceptAll: Verifier = { verify: () => true }
  const clock = new SimClock()
  const inject = options.inject
  const trace = options.trace
  const quiet: BftLog = Object.assign(() => {}, { error: () => {} })
  let k = 0
  const coalition = new Map<string, Set<string>>()
  const members: Member[] = signers.map((signer, i) => {
    const behaviour: Behaviour = !faultyIndex.has(i) ? 'honest' : options.unsafeQuorum === true || inject === 'ignore-locks' ? 'equivocate' : FAULTY_BEHAVIOURS[(Math.floor(options.seed / 2) + k++) % FAULTY_BEHAVIOURS.length]! // seed/2: n alternates with parity, so both n see every behaviour
    const memberRng = rng.fork()
    return { id: signer.id, signer, behaviour, driver: null, clock: null, disk: new SimDisk({ clock, rng: memberRng }), incarnation: 0, log: [], committed: new Set(), persisted: null, faulty: newFaultyState(coalition), rng: memberRng, restartAt: behaviour === 'amnesia' ? rng.int(20, 200) : null }
  })
  const byId = new Map(members.map(m => [m.id, m]))
  const honest = members.filter(m => m.behaviour === 'honest')
  // One honest member crashes and restarts from whatever its disk kept, in 1/3 of seeds.
  const crashing = rng.chance(1 / 3) ? honest[rng.int(0, honest.length - 1)]! : null
  const gstTick = rng.int(30, 150)
  const crashTick = crashing !== null ? rng.int(5, Math.max(6, gstTick - 30)) : -1
  // Half the crashes wait for a write in flight (the disk then keeps or loses it, seeded), half hit between writes.
  const crashMidWrite = crashing !== null && crashing.rng.chance(0.5)
  const stable = honest.filter(m => m !== crashing)
  const submissions = Array.from({ length: rng.int(3, 12) }, (_, i) => {
    const valid = !rng.chance(0.1)
    const value = Uint8Array.from([valid ? 1 + (i % 200) : 0xff, rng.int(0, 255), rng.int(0, 255), rng.int(0, 255), (options.seed >>> 8) & 0xff, options.seed & 0xff])
    return { at: rng.int(0, gstTick + 50), to: stable[rng.int(0, stable.length - 1)]!, value }
  }).sort((a, b) => a.at - b.at)
  const keyOfValue = (value: Uint8Array): string => `v:${toHex(value)}`
  const proposedItems = new Set(submissions.map(s => keyOfValue(s.value)))
  const expected = new Set(submissions.filter(s => isValidSimValue(s.value)).map(s => keyOfValue(s.value)))
  const lastSubmit = submissions.at(-1)?.at ?? 0
  const deadlineTick = Math.max(gstTick, lastSubmit) + LIVENESS_BOUND_TICKS
  const evidence: Evidence[] = []
  let rejected = 0
  let nonMemberRejected = 0
  let maxRound = 0
  let doneTick: number | null = null
  let forgotten = 0
  let crashes = 0
  const tickNow = (): number => Math.floor(clock.nowMs() / TICK_MS)

  // Frames are decoded once per frame object (a broadcast shares one frame between recipients).
  const decoded = new WeakMap<Uint8Array, BftMessage | null>()
  const decode = (frame: Uint8Array): BftMessage | null => {
    let message = decoded.get(frame)
    if (message === undefined) {
      try {
        message = decodeMessage(frame)
      } catch (err) {
        if (!(err instanceof Error)) throw err
        message = null
      }
      decoded.set(frame, message)
    }
    return message
  }
  const signed = new Map<string, SignedMessage>() // every distinct signed message the drivers sent
  const outsider = new NonMember({ signer: outsiderSigner, groupId, members: ids, rng: rng.fork() })
  let framesToOutsider = 0
  const network: SimNetwork = new SimNetwork({
    config: networkConfig(rng, gstTick, ids, f),
    rng: rng.fork(),
    clock,
    deliver: (from, to, frame) => {
      if (to === outsider.id) { framesToOutsider++; return }
      const member = byId.get(to)!
      const message = decode(frame)
      if (member.driver === null || message === null) return
      if (member.behaviour !== 'honest' && (message.type === 'proposal' || message.type === 'prevote' || message.type === 'precommit')) {
        if (member.faulty.captured.length < CAPTURED_MAX) member.faulty.captured.push(message)
        if (message.type === 'proposal') shareProposal(member.faulty, message)
      }
      member.driver.receive(from, message)
    }
  })

  /** The frame port of one member incarnation: records what it signs, then hands the frame to the network. */
  const sendPort = (member: Member, incarnation: number) => (to: string, frame: Uint8Array): void => {
    if (member.incarnation !== incarnation) return // a crashed process sends nothing
    const message = decode(frame)
    if (message !== null && (message.type === 'proposal' || message.type === 'prevote' || message.type === 'precommit')) {
      const key = toHex(message.signature)
      if (!signed.has(key)) signed.set(key, message)
    }
    network.send(member.id, to, frame)
  }
  const observe = (member: Member, incarnation: number) => (effect: BftEffect): void => {
    if (member.incarnation !== incarnation) return
    if (trace !== undefined && effect.type !== 'reject') trace(`t=${clock.nowMs()} ${member.id.slice(-6)} ${member.behaviour} ${describeEffect(effect)}`)
    switch (effect.type) {
      case 'persist': member.persisted = effect.state; break
      case 'commit': addToLog(member, effect.decision); break
      case 'evidence': evidence.push(effect.evidence); break
      case 'reject': rejected++; if (effect.from === outsider.id) nonMemberRejected++; break
    }
  }
  const addToLog = (member: Member, decision: Decision): void => {
    member.log.push(decision)
    for (const item of decision.block.items) member.committed.add(valueKey(item))
    if (member.behaviour !== 'honest') rememberCommitted(member.faulty, decision)
  }

  /** Start (or restart) a member's process on `image`: load its store, build the real driver. */
  const start = async (member: Member, image: Map<string, Uint8Array> | undefined): Promise<void> => {
    const incarnation = member.incarnation
    const view = clock.view()
    member.clock = view
    member.disk = new SimDisk({ clock: view, rng: member.rng.fork(), ...(image !== undefined ? { image } : {}) })
    const store = new BftStore(member.disk, groupId, [...ids].sort())
    const restored = await store.load()
    const log = await store.log()
    if (member.incarnation !== incarnation) return
    member.log = []
    member.committed = new Set()
    for (const decision of log) addToLog(member, decision)
    member.persisted = restored.state
    const isHonest = member.behaviour === 'honest'
    const nonceRng = member.rng.fork()
    member.driver = new GroupDriver({
      name: groupId,
      self: member.id,
      signer: member.signer,
      verifier: inject === 'no-verify' && isHonest ? acceptAll : options.verifier,
      store,
      send: sendPort(member, incarnation),
      clock: view,
      nonce: (bytes) => randomBytes(nonceRng, bytes),
      log: quiet,
      options: { members: ids, validate: inject === 'skip-validate' && isHonest ? () => true : isValidSimValue, timeouts: SIM_TIMEOUTS },
      onLeave: () => {},
      seams: {
        observe: observe(member, incarnation),
        ...(isHonest ? {} : { rewrite: (message, recipients, signer) => rewriteOutgoing({ behaviour: member.behaviour, signer, state: member.faulty, rng: member.rng, message, recipients, itemKey: valueKey }) }),
        ...(options.unsafeQuorum === true ? { unsafeQuorum: f + 1 } : {}),
        ...(inject === 'sign-before-persist' && isHonest ? { signBeforePersist: true } : {})
      }
    }, restored)
  }
  /** The process dies: timers gone, in-flight writes kept or lost by the disk; returns what survived. */
  const crash = (member: Member): Map<string, Uint8Array> => {
    member.incarnation++
    member.clock?.halt()
    member.clock = null
    member.driver = null
    return member.disk.crash()
  }
  const restartWith = (member: Member, image: Map<string, Uint8Array>): void => { void start(member, image) }
  /** A restart that loses the signing state and locks but keeps the log (amnesia attack, or a broken store). */
  const forgetState = (member: Member): void => {
    const image = member.disk.image()
    crash(member)
    image.delete(STATE_KEY)
    restartWith(member, image)
    forgotten++
  }
  /** A restart that keeps the signing state but drops the lock and valid block (a core ignoring locks). */
  const dropLocks = (member: Member): void => {
    const image = member.disk.image()
    const bytes = image.get(STATE_KEY)
    if (bytes === undefined) return
    const state = decodeCbor(bytes, { bytesMax: 8 * 1024 * 1024, what: 'sim state' }) as PersistedState
    if (state.lockedRound < 0) return
    crash(member)
    image.set(STATE_KEY, encodeCbor({ ...state, lockedRound: -1, lockedBlock: null, validRound: -1, validBlock: null }))
    restartWith(member, image)
    forgotten++
  }
  /** Crash now, or at the first instant a write is in flight (checked every ms for up to one tick). */
  const crashSoon = (member: Member, midWrite: boolean, downTicks: number): void => {
    let waited = 0
    const attempt = (): void => {
      if (member.driver === null) return
      if (midWrite && member.disk.writesInFlight === 0 && waited++ < 10 * TICK_MS) { clock.setTimeout(attempt, 1); return }
      const image = crash(member)
      crashes++
      clock.setTimeout(() => { restartWith(member, image) }, downTicks * TICK_MS)
    }
    attempt()
  }

  for (const member of members) await start(member, undefined)
  for (const s of submissions) {
    clock.setTimeout(() => {
      s.to.driver?.propose(s.value, { timeoutMs: PROPOSE_TIMEOUT_MS }).catch((err: unknown) => {
        if (!(err instanceof Error)) throw err // a refused value or a crashed member: liveness judges the outcome
      })
    }, s.at * TICK_MS)
  }
  if (crashing !== null) clock.setTimeout(() => { crashSoon(crashing, crashMidWrite, crashing.rng.int(5, 25)) }, crashTick * TICK_MS + crashing.rng.int(0, TICK_MS - 1))
  const isDone = (): boolean => honest.every(m => m.driver !== null && [...expected].every(key => m.committed.has(key)))

  // The world's own tick (half a tick after the drivers'): faults that act per tick, and the non-member.
  clock.setTimeout(() => { clock.setInterval(worldTick, TICK_MS) }, TICK_MS / 2)
  function worldTick (): void {
    const now = tickNow()
    for (const member of members) {
      if (member.driver === null) continue
      if (member.restartAt === now) { crash(member); restartWith(member, new Map()); continue } // amnesia: all state lost
      const forgets = member.behaviour === 'amnesia-lock' ? member.rng.chance(AMNESIA_LOCK_CHANCE) : inject === 'forget-locks' && member.behaviour === 'honest' && now < deadlineTick - LIVENESS_BOUND_TICKS / 2 && member.rng.chance(FORGET_LOCKS_CHANCE)
      if (forgets) { forgetState(member); continue }
      if (inject === 'ignore-locks' && member.behaviour === 'honest' && member.persisted !== null && member.persisted.lockedRound >= 0 && member.rng.chance(IGNORE_LOCKS_CHANCE)) { dropLocks(member); continue }
      if (inject === 'sign-before-persist' && member.behaviour === 'honest' && now < deadlineTick - LIVENESS_BOUND_TICKS / 2 && member.rng.chance(SIGN_BEFORE_PERSIST_CRASH_CHANCE)) { crashSoon(member, true, member.rng.int(2, 10)); continue }
      const status = member.driver.status()
      maxRound = Math.max(maxRound, status.round)
      if (member.behaviour === 'forge-replay') {
        const head = member.log.at(-1)
        const next = { groupId, quorum: quorumSize(n), block: { height: status.height, prevHash: head === undefined ? genesisHash(groupId, ids) : blockHash(groupId, head.block), items: [encodeCbor([new Uint8Array(16).fill(0x42), Uint8Array.from([0x42, 0xf0, member.rng.int(0, 255), member.rng.int(0, 255)]), status.height])] } }
        for (const out of injectForgeries({ state: member.faulty, rng: member.rng, members: ids, self: member.id, lastDecision: member.log.at(-1), signer: member.signer, next })) network.send(member.id, out.to, encodeMessage(out.message)) // forgeries: not in the omniscient view
      }
    }
    const heights = honest.map(m => m.driver?.status().height ?? 1)
    for (const out of outsider.tick(Math.max(...heights), members.flatMap(m => m.faulty.captured.slice(-4)))) network.send(outsider.id, out.to, encodeMessage(out.message))
  }
  await clock.runUntil(Math.min(RUN_TICKS_MAX, deadlineTick) * TICK_MS + TICK_MS / 2, () => {
    if (doneTick === null && clock.nowMs() >= gstTick * TICK_MS && isDone()) doneTick = tickNow()
    return doneTick !== null
  })
  for (const m of members) for (const key of m.faulty.fabricated) proposedItems.add(key)
  const failures = checkRun({
    groupId, members: ids, honest: honest.map(m => m.id), logs: new Map(members.map(m => [m.id, m.log])), proposedItems, itemKey: valueKey, itemId, validate: isValidSimCommitted, evidence, verifier: options.verifier,
    signed: [...signed.values()], quorum: options.unsafeQuorum === true ? f + 1 : quorumSize(n),
    liveness: { expected, deadlineTick, doneTick },
    nonMember: { id: outsider.id, framesReceived: framesToOutsider, items: new Set([...outsider.values].map(keyOfValue)) }
  })
  return {
    seed: options.seed, n, behaviours: members.filter(m => m.behaviour !== 'honest').map(m => m.behaviour as string).concat(crashing !== null ? ['honest-restart'] : []),
    failures, heights: Math.max(0, ...honest.map(m => m.log.length)), items: expected.size, maxRound, evidence: evidence.length, rejected,
    sent: network.sent, dropped: network.dropped, ticks: tickNow(), forgotten, crashes, ticksAfterGstToDone: doneTick === null ? null : doneTick - Math.max(gstTick, lastSubmit),
    nonMemberFrames: outsider.framesSent, nonMemberRejected,
    finalStates: members.map(m => { const s = m.driver?.status(); return `${m.id.slice(-6)} ${m.behaviour} ${s === undefined ? 'down' : `h=${s.height} r=${s.round} ${s.step} pending=${s.pending}`} log=${m.log.length}` })
  }
}

function pickDistinct (rng: Rng, count: number, range: number): number[] {
  const chosen = new Set<number>()
  while (chosen.size < count) chosen.add(rng.int(0, range - 1))
  return [...chosen]
}

function randomBytes (rng: Rng, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = rng.int(0, 255)
  return bytes
}

function networkConfig (rng: Rng, gstTick: number, ids: string[], f: number): NetworkConfig {
  const partitions: NetworkConfig['partitions'] = []
  if (rng.chance(0.5)) {
    const fromTick = rng.int(0, gstTick - 1)
    const isolated = new Set(pickDistinct(rng, rng.int(1, f + 1), ids.length).map(i => ids[i]!))
    partitions.push({ fromMs: fromTick * TICK_MS, toMs: rng.int(fromTick + 1, gstTick) * TICK_MS, isolated })
  }
  return { gstMs: gstTick * TICK_MS, dropRate: rng.float() * 0.3, duplicateRate: 0.05, delayMaxMs: rng.int(1, 10) * TICK_MS, delayMaxAfterGstMs: 3 * TICK_MS, partitions }
}
