// One seeded run of a task queue hosted as a node hosts it (SPEC tasks "Hosting"): every member of a
// simulated Raft cluster (sim/raft/cluster.ts: the production RaftDriver on a simulated clock, disk
// and network) applies the TaskMachine through a CustomStateMachine with its snapshot hooks. The
// leader does the driver's duties (SPEC tasks "What the driver must do"); simulated workers and
// submitters talk to whichever member they reach and retry. Faults: member crashes, partitions,
// leader isolation and crashes, worker crashes, lost renewals, late and duplicated results, retries
// under new request ids, steps of the leader's clock. Then everything heals and must quiesce.

import { createHash } from 'node:crypto'
import { encodeCbor } from '../../protocols/kit/cbor.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { CustomStateMachine } from '../../protocols/raft/state-machine.ts'
import type { ApplyOutcome } from '../../protocols/raft/state-machine.ts'
import { describeCommand } from '../../protocols/tasks/messages.ts'
import type { SingleCommand, TaskCommand } from '../../protocols/tasks/messages.ts'
import { TaskMachine } from '../../protocols/tasks/machine.ts'
import type { QueueOptions } from '../../protocols/tasks/policy.ts'
import { describeResult } from '../../protocols/tasks/results.ts'
import type { LeaseGrant, TaskResult } from '../../protocols/tasks/results.ts'
import type { TaskFault } from '../../protocols/tasks/state.ts'
import { SimCluster } from '../raft/cluster.ts'
import type { SimNode } from '../raft/cluster.ts'
import { createPicker, injectFault } from '../raft/run-seed.ts'
import { TasksChecker } from './checker.ts'
import { drawConfig } from './workload.ts'

/** Options of one seed. */
export interface TasksRaftSeedOptions {
  inject?: TaskFault
  /** Members of the queue (3 or 5 when unset, from the seed). */
  nodes?: number
  trace?: boolean
}

/** What one seed did. */
export interface TasksRaftSeedResult {
  seed: number
  ok: boolean
  failures: string[]
  /** Log entries the first replica to reach them applied (every one checked). */
  commands: number
  tasks: number
  completed: number
  staleRefused: number
  /** Machines restored from a Raft snapshot. */
  restores: number
  /** Member crashes (each restart restores the machine from the member's snapshot and log). */
  memberCrashes: number
  workerCrashes: number
  /** Requests a worker or submitter sent again after a timeout or a dropped proposal. */
  retries: number
  /** Virtual ms from the start until the work ended (or the drain bound). */
  endMs: number
  trace: string[]
}

/** One Raft core tick (the drivers' heartbeatMs). */
const TICK_MS = 10
/**
 * The leader's driver proposes a `tick` this often (SPEC tasks: every heartbeat of the queue's
 * driver); two Raft ticks, so the clock entries do not outnumber the work by far.
 */
const DUTY_EVERY_MS = 2 * TICK_MS
/** Virtual ms of the faulty phase; the drain phase follows. */
const FAULT_PHASE_MS = 600
/** After the heal, every task must end within this long (a few dozen lease periods). */
const DRAIN_BOUND_MS = 4_000
/** After the work ends, members get up to this long to apply the same index before they are compared. */
const QUIESCE_MS = 400
/** A worker's or submitter's request waits this long for its answer through one member, then retries. */
const ATTEMPT_TIMEOUT_MS = 120
/**
 * Durations drawn for the machine-only check (sim/tasks/workload.ts, leases of 0.5–3 s) are
 * divided by this: the simulated run lasts seconds, and leases must expire and retries fire in it.
 */
const TIME_SCALE = 10
/** Bid window of the leader's driver: a call for bids is answered within it, then the award. */
const BID_WINDOW_MS = 30
/** Health declares a crashed worker dead this long after its crash (a few missed heartbeats). */
const HEALTH_DELAY_MS = 60
/** Every replica's state is fingerprinted at indexes that are multiples of this and compared. */
const FINGERPRINT_EVERY = 256
/** A submit request from the workload carries up to this many tasks in one batch. */
const SUBMIT_BATCH_MAX = 5

const TERMINAL = new Set(['completed', 'failed', 'canceled', 'rejected'])
const CAPABILITIES = ['translate', 'summarise']
const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']

function scaleQueue (q: QueueOptions): QueueOptions {
  const s = (ms: number | undefined): number | undefined => ms === undefined ? undefined : Math.max(1, Math.round(ms / TIME_SCALE))
  const out: QueueOptions = { ...q, leaseMs: s(q.leaseMs)!, dedupWindowMs: s(q.dedupWindowMs)!, retentionMs: s(q.retentionMs)! }
  if (q.retry !== undefined) out.retry = { ...q.retry, initialIntervalMs: s(q.retry.initialIntervalMs)! }
  if (q.breaker !== undefined) out.breaker = { ...q.breaker, waitDurationInOpenStateMs: s(q.breaker.waitDurationInOpenStateMs)! }
  if (q.deadLetter !== undefined) out.deadLetter = { ...q.deadLetter, retentionMs: s(q.deadLetter.retentionMs)! }
  if (q.scheduleToStartMs !== undefined) out.scheduleToStartMs = s(q.scheduleToStartMs)!
  return out
}

/**
 * The replicas of one run and the checks on what they apply: the first replica to apply an index
 * runs the TasksChecker around it (every replica at that index holds the same state, which the
 * fingerprints check), so every committed command is judged exactly once, in log order.
 */
class Replicas {
  readonly checker = new TasksChecker()
  /** Each member's current incarnation of the machine. */
  readonly machines = new Map<string, TaskMachine>()
  readonly failures: string[] = []
  checkedIndex = 0
  /** Machines restored from a Raft snapshot (a restart after compaction, or a snapshot install). */
  restores = 0
  readonly #fingerprints = new Map<number, { node: string, hash: string }>()
  readonly #options: QueueOptions & { faults: TaskFault[] }
  readonly #note: ((line: string) => void) | null

  constructor (options: QueueOptions & { faults: TaskFault[] }, note: ((line: string) => void) | null) {
    this.#options = options
    this.#note = note
  }

  /** A member's state machine: the task machine behind the group's CustomStateMachine (R12 sessions, snapshot hooks). */
  create (node: string): CustomStateMachine {
    const machine = new TaskMachine(this.#options)
    this.machines.set(node, machine)
    const restore = (data: Uint8Array): void => { machine.restore(data); this.restores++ }
    return new CustomStateMachine((command, context) => this.#apply(node, machine, command as TaskCommand, context.index), { snapshot: () => machine.snapshot(), restore })
  }

  #apply (node: string, machine: TaskMachine, command: TaskCommand, index: number): TaskResult {
    const first = index > this.checkedIndex
    if (first) this.checker.before(command, machine)
    let result: TaskResult
    try {
      result = machine.apply(command, { index })
    } finally {
      if (first) this.checkedIndex = index
    }
    const updates = machine.drainUpdates()
    if (first) {
      this.checker.after(command, result, machine, updates)
      this.#note?.(`apply ${index} on ${node} clock=${machine.clockMs} ${describeCommand(command)} → ${describeResult(result)}`)
    }
    if (index % FINGERPRINT_EVERY === 0) {
      const hash = createHash('sha1').update(machine.snapshot()).digest('hex')
      const seen = this.#fingerprints.get(index)
      if (seen === undefined) this.#fingerprints.set(index, { node, hash })
      else if (seen.hash !== hash && this.failures.length === 0) this.failures.push(`replicas agree: ${node} and ${seen.node} hold different states after applying index ${index}`)
    }
    return result
  }
}

interface Held { grant: LeaseGrant, doneAtMs: number }
interface Worker {
  id: string
  alive: boolean
  incarnation: number
  flaky: boolean
  capabilities: string[]
  held: Map<string, Held>
  renewedAtMs: number
  crashedAtMs: number
  declaredDead: boolean
}

/** A request's sender: one request in flight at a time, as over one connection (R12 sessions per client). */
interface Actor { client: string, seq: number, node: string | null, acked?: boolean }

/** Run one seed. */
export async function runTasksRaftSeed (seed: number, options: TasksRaftSeedOptions = {}): Promise<TasksRaftSeedResult> {
  const rng = createRng(seed)
  const config = drawConfig(rng)
  const queue = scaleQueue(config.queue)
  const leaseMs = queue.leaseMs!
  const pick = createPicker(seed + 0x7f4a7c15)
  const voterCount = options.nodes ?? (pick.chance(0.7) ? 3 : 5)
  const ids = Array.from({ length: voterCount }, (_, i) => `n${i + 1}`)
  const traceOn = options.trace === true
  let cluster: SimCluster | null = null
  const note = (line: string): void => { if (traceOn) cluster?.note(line) }
  const replicas = new Replicas({ ...queue, members: ids, faults: options.inject !== undefined ? [options.inject] : [] }, traceOn ? note : null)
  const c = new SimCluster({
    seed,
    nodeIds: ids,
    voters: ids,
    tickMs: TICK_MS,
    clockSkew: pick.float() * 0.2,
    electionTicks: 10,
    compactEvery: pick.chance(0.6) ? pick.int(25, 80) : 0,
    useCodec: pick.chance(0.1),
    fastFailover: pick.chance(0.5),
    trace: traceOn,
    createMachine: (id) => replicas.create(id)
  })
  cluster = c
  c.faults = { dropRate: pick.float() * 0.1, duplicateRate: pick.float() * 0.05, delayMinMs: 1, delayMaxMs: pick.int(2, 15) }
  const wrng = rng.fork()
  const failures: string[] = []
  let healed = false
  let stopped = false
  let retries = 0
  let workerCrashes = 0
  /** The first failure of each invariant (the part before the colon). */
  const fail = (line: string): void => { const what = line.split(':')[0]!; if (!failures.some((f) => f.startsWith(`${what}:`))) failures.push(line) }

  // ---- requests through whichever member a sender reaches ----
  const request = (actor: Actor, command: TaskCommand, done: (r: TaskResult | null) => void, isLive: () => boolean): void => {
    const data = encodeCbor(command)
    let seq = ++actor.seq
    let finished = false
    const attempt = (n: number): void => {
      if (finished || !isLive()) return
      // gives up (the command may still apply); a client's first request (seq 1, R12) is never abandoned
      if (!healed && n > 6 && actor.acked === true) { finished = true; done(null); return }
      const nodeId = actor.node ?? ids[wrng.int(0, ids.length - 1)]!
      const node = c.node(nodeId)
      const timer = { cancelled: false }
      const retry = (): void => {
        if (timer.cancelled || finished) return
        timer.cancelled = true
        node.driver?.forget(actor.client, seq)
        node.dropListeners.delete(`${actor.client}/${seq}`)
        actor.node = null
        retries++
        // a retry under a new request id (the sender's connection reset): the command may apply twice
        if (actor.acked === true && wrng.chance(0.3)) seq = ++actor.seq
        c.at(c.now + wrng.int(1, 15), () => attempt(n + 1))
      }
      const driver = node.driver
      if (driver !== null) {
        node.dropListeners.set(`${actor.client}/${seq}`, retry)
        try {
          driver.propose(data, actor.client, seq, (outcome: ApplyOutcome) => {
            if (finished || timer.cancelled) return
            finished = true
            timer.cancelled = true
            actor.node = nodeId
            actor.acked = true
            if (!outcome.ok) { if (!/^stale request/.test(outcome.error)) fail(`apply refused a well-formed command ${describeCommand(command)}: ${outcome.error}`); done(null); return }
            if (isLive()) done(outcome.value as TaskResult)
          }, retry)
        } catch (err) {
          note(`${actor.client} propose on ${nodeId} refused: ${(err as Error).message}`)
        }
      }
      c.at(c.now + ATTEMPT_TIMEOUT_MS, retry)
    }
    attempt(1)
  }

  /** A member's local (possibly stale) view of the queue, as a worker or client reads it. */
  const viewOf = (actor: Actor): TaskMachine | undefined => {
    const up = ids.filter((id) => c.node(id).driver !== null)
    const id = actor.node ?? up[wrng.int(0, Math.max(0, up.length - 1))]
    return id === undefined ? undefined : replicas.machines.get(id)
  }

  // ---- what clients observe (external checks) ----
  const acknowledged = new Set<string>()
  const tokenOwner = new Map<number, string>()
  const completionAcks = new Map<string, string>()
  const learn = (w: Worker, grants: LeaseGrant[]): void => {
    for (const g of grants) {
      const owner = `${g.taskId}/${w.id}`
      const seen = tokenOwner.get(g.token)
      if (seen !== undefined && seen !== owner) fail(`T1 growing tokens (observed): token ${g.token} granted for ${seen} and for ${owner}`)
      tokenOwner.set(g.token, owner)
      if (!w.held.has(g.taskId) || w.held.get(g.taskId)!.grant.token !== g.token) w.held.set(g.taskId, { grant: g, doneAtMs: c.now + wrng.int(3, healed ? 20 : 80) })
    }
  }
  const ackCompletion = (taskId: string, requestId: string): void => {
    const first = completionAcks.get(taskId)
    if (first !== undefined && first !== requestId) fail(`T2 completed at most once (observed): ${taskId} acknowledged completed to ${first} and to ${requestId}`)
    completionAcks.set(taskId, requestId)
  }

  // ---- workers ----
  const workers: Worker[] = Array.from({ length: config.workers }, (_, i) => ({
    id: `w${i}`, alive: true, incarnation: 1, flaky: wrng.chance(0.3), capabilities: wrng.chance(0.7) ? [...CAPABILITIES] : [CAPABILITIES[wrng.int(0, 1)]!], held: new Map(), renewedAtMs: 0, crashedAtMs: 0, declaredDead: false
  }))
  const late: Array<{ worker: string, command: SingleCommand }> = []
  const zombie: Actor = { client: 'zombie', seq: 0, node: null }

  const workerLoop = (w: Worker, actor: Actor, incarnation: number): void => {
    const live = (): boolean => w.alive && w.incarnation === incarnation && !stopped
    if (!live()) return
    const next = (): void => { if (live()) c.at(c.now + wrng.int(1, 8), () => workerLoop(w, actor, incarnation)) }
    const gate = queue.gate === true
    // renew every leaseMs/2 (also a keepalive on push queues); now and then the renew is lost on the way
    if (c.now - w.renewedAtMs >= leaseMs / 2) {
      w.renewedAtMs = c.now
      if (!healed && wrng.chance(0.12)) { note(`fault: ${w.id}'s renew is lost`); next(); return }
      const held = [...w.held.values()].map((h) => ({ taskId: h.grant.taskId, token: h.grant.token }))
      request(actor, { op: 'renew', worker: w.id, held }, (r) => {
        if (r?.ok === true && r.op === 'renew') {
          for (const id of [...r.lost, ...r.canceled]) w.held.delete(id)
          learn(w, r.leases)
        }
        next()
      }, live)
      return
    }
    const due = [...w.held.values()].find((h) => h.doneAtMs <= c.now)
    if (due !== undefined) {
      w.held.delete(due.grant.taskId)
      const g = due.grant
      let command: SingleCommand
      if (g.kind === 'validate') {
        const accept = healed || wrng.chance(0.7)
        command = { op: 'verdict', worker: w.id, taskId: g.taskId, token: g.token, accept, ...(accept ? {} : { feedback: 'try harder', final: wrng.chance(0.2) }) }
      } else {
        const roll = healed ? 0 : wrng.float()
        if (roll < (w.flaky ? 0.5 : 0.8)) command = { op: 'complete', worker: w.id, taskId: g.taskId, token: g.token, output: new Uint8Array([g.attempt]) }
        else if (roll < 0.96) command = { op: 'fail', worker: w.id, taskId: g.taskId, token: g.token, error: { type: wrng.chance(0.15) ? 'Fatal' : 'Flaky', message: 'boom' }, ...(wrng.chance(0.1) ? { retryable: false } : {}) }
        else command = { op: 'ask', worker: w.id, taskId: g.taskId, token: g.token, question: 'which language?' }
      }
      if (!healed && wrng.chance(0.1)) late.push({ worker: w.id, command }) // the same result again, later
      const requestId = `${actor.client}/${actor.seq + 1}`
      request(actor, command, (r) => {
        if (r?.ok === true && r.op === 'task' && r.state === 'completed') ackCompletion(g.taskId, requestId)
        next()
      }, live)
      return
    }
    const open = [...w.held.values()].filter((h) => h.grant.kind === 'work').length
    if (queue.dispatch === 'bid' && wrng.chance(0.5)) {
      // a call for bids answered: bid on an open attempt the worker can serve (its member's view)
      const view = viewOf(actor)
      const candidates = view?.tasks().filter((t) => t.state === 'submitted' && (t.capability === undefined || w.capabilities.includes(t.capability))) ?? []
      if (candidates.length > 0) {
        const t = candidates[wrng.int(0, candidates.length - 1)]!
        request(actor, { op: 'bid', worker: w.id, taskId: t.id, attempt: t.attempt + 1, cost: wrng.int(1, 100), etaMs: wrng.int(1, 50) }, () => next(), live)
        return
      }
    }
    if (open < 3 || (gate && w.held.size < 5)) {
      const validate = gate && (open >= 3 || wrng.chance(0.35))
      request(actor, { op: 'claim', worker: w.id, max: wrng.int(1, 3), capabilities: w.capabilities, concurrency: 3, ...(validate ? { kind: 'validate' as const } : {}) }, (r) => {
        if (r?.ok === true && r.op === 'claim') learn(w, r.leases)
        next()
      }, live)
      return
    }
    c.at(c.now + wrng.int(5, 20), () => workerLoop(w, actor, incarnation))
  }
  const startWorker = (w: Worker): void => {
    w.alive = true
    w.incarnation++
    w.renewedAtMs = -leaseMs
    const actor: Actor = { client: `${w.id}.${w.incarnation}`, seq: 0, node: null }
    const incarnation = w.incarnation
    c.at(c.now + wrng.int(1, 20), () => workerLoop(w, actor, incarnation))
  }
  const crashWorker = (w: Worker): void => {
    if (!w.alive) return
    w.alive = false
    w.crashedAtMs = c.now
    w.declaredDead = false
    workerCrashes++
    // a zombie: some results of the crashed process still arrive, late
    for (const h of w.held.values()) if (wrng.chance(0.3)) late.push({ worker: w.id, command: { op: 'complete', worker: w.id, taskId: h.grant.taskId, token: h.grant.token, output: new Uint8Array([9]) } })
    w.held.clear()
    note(`fault: worker ${w.id} crashes`)
    if (wrng.chance(0.8)) c.at(c.now + wrng.int(30, 300), () => { if (!w.alive && !healed) { note(`worker ${w.id} restarts`); startWorker(w) } })
  }
  for (const w of workers) startWorker(w)

  // late and duplicated results, delivered by whoever still holds them
  const lateLoop = (): void => {
    if (healed || stopped) return
    if (late.length > 0 && wrng.chance(0.5)) {
      const { command } = late.splice(wrng.int(0, late.length - 1), 1)[0]!
      request(zombie, command, (r) => {
        if (r?.ok === true && r.op === 'task' && r.state === 'completed' && command.op !== 'submit') ackCompletion((command as { taskId: string }).taskId, `${zombie.client}/${zombie.seq}`)
        c.at(c.now + wrng.int(5, 40), lateLoop)
      }, () => !stopped)
      return
    }
    c.at(c.now + wrng.int(5, 40), lateLoop)
  }
  c.at(50, lateLoop)

  // ---- submitters (and cancel, answer, redrive) ----
  const submitLoop = (actor: Actor): void => {
    if (stopped || (healed && c.now > FAULT_PHASE_MS)) return
    const next = (): void => { c.at(c.now + wrng.int(5, 40), () => submitLoop(actor)) }
    if (c.now >= FAULT_PHASE_MS - 100) return // the last tasks are in; the drain phase follows
    const view = viewOf(actor)
    if (view !== undefined && wrng.chance(0.1)) {
      const tasks = view.tasks()
      const waiting = tasks.filter((t) => t.state === 'input-required')
      const dead = view.deadLetters({ limit: 5 })
      let command: SingleCommand | undefined
      if (waiting.length > 0 && wrng.chance(0.6)) command = { op: 'answer', by: 'n1', taskId: waiting[0]!.id, answer: 'French' }
      else if (dead.length > 0 && wrng.chance(0.5)) command = { op: 'redrive', by: 'n2', taskId: dead[wrng.int(0, dead.length - 1)]!.id }
      else if (tasks.length > 0) command = { op: 'cancel', by: wrng.chance(0.8) ? 'n1' : 'stranger', taskId: tasks[wrng.int(0, tasks.length - 1)]!.id }
      if (command !== undefined) { request(actor, command, () => next(), () => !stopped); return }
    }
    const one = (): SingleCommand => {
      const s: SingleCommand = { op: 'submit', by: actor.client, input: new Uint8Array(wrng.int(0, 64)) }
      if (wrng.chance(0.4)) s.idempotencyKey = KEYS[wrng.int(0, KEYS.length - 1)]!
      if (wrng.chance(0.5)) s.capability = CAPABILITIES[wrng.int(0, 1)]!
      if (wrng.chance(0.3)) s.priority = wrng.int(0, 5)
      if (wrng.chance(0.1)) s.timeoutMs = wrng.int(50, 600)
      if (wrng.chance(0.1)) s.startToCloseMs = wrng.int(10, 100)
      if (wrng.chance(0.1)) s.retry = { maximumAttempts: wrng.int(1, 3), backoffCoefficient: 1.5 }
      return s
    }
    const command: TaskCommand = wrng.chance(0.2) ? { op: 'batch', commands: Array.from({ length: wrng.int(2, SUBMIT_BATCH_MAX) }, one) } : one()
    request(actor, command, (r) => {
      const results = r?.ok === true && r.op === 'batch' ? r.results : r === null ? [] : [r]
      const singles = command.op === 'batch' ? command.commands : [command]
      results.forEach((x, i) => {
        if (!x.ok || x.op !== 'submit') return
        acknowledged.add(x.taskId)
        // T4 from the outside: a duplicate answer names the task first submitted with the same key
        const key = (singles[i] as { idempotencyKey?: string }).idempotencyKey
        if (x.duplicate && (key === undefined || replicas.checker.keyOf(x.taskId) !== key)) fail(`T4 idempotent submit (observed): a submit with key ${key ?? '(none)'} was answered duplicate of ${x.taskId}, created with key ${replicas.checker.keyOf(x.taskId) ?? '(none)'}`)
      })
      next()
    }, () => !stopped)
  }
  for (const client of ['client-a', 'client-b']) c.at(wrng.int(20, 80), () => submitLoop({ client, seq: 0, node: null }))

  // ---- the leader's driver duties (SPEC tasks "What the driver must do") ----
  interface Duty { incarnation: number, term: number, startedMs: number, jumpMs: number, /** open attempt → when its bid window (re)opened */ bids: Map<string, number> }
  const duties = new Map<string, Duty>()
  const propose = (n: SimNode, command: TaskCommand): void => { n.driver?.proposeUntracked(encodeCbor(command)) }
  const dutyLoop = (): void => {
    if (stopped) return
    for (const n of c.nodes.values()) {
      const core = n.core
      if (core?.role !== 'leader' || n.clock === null) continue
      let duty = duties.get(n.id)
      if (duty === undefined || duty.incarnation !== n.incarnation || duty.term !== core.term) {
        // 1. a new leader: leader-changed first, then ticks of its own epoch
        duty = { incarnation: n.incarnation, term: core.term, startedMs: n.clock.nowMs(), jumpMs: 0, bids: new Map() }
        duties.set(n.id, duty)
        propose(n, { op: 'leader-changed', epoch: core.term })
        continue
      }
      const elapsedMs = Math.floor(n.clock.nowMs() - duty.startedMs) + duty.jumpMs
      propose(n, { op: 'tick', epoch: duty.term, elapsedMs })
      // 2. health: a worker silent since its crash is declared dead
      for (const w of workers) {
        if (w.alive || w.declaredDead || c.now - w.crashedAtMs < HEALTH_DELAY_MS) continue
        w.declaredDead = true
        propose(n, { op: 'worker-dead', worker: w.id })
      }
      // 3. bid queues: award each open attempt once its bid window has passed, and again a window
      // later while it stays open (the award was lost with a leader, or a redrive restarted the attempts)
      if (queue.dispatch === 'bid') {
        const machine = replicas.machines.get(n.id)
        for (const t of machine?.tasks() ?? []) {
          if (t.state !== 'submitted') continue
          const key = `${t.id}/${t.attempt + 1}`
          const opened = duty.bids.get(key)
          if (opened === undefined) { duty.bids.set(key, c.now); continue }
          if (c.now - opened < BID_WINDOW_MS) continue
          duty.bids.set(key, c.now)
          propose(n, { op: 'award', taskId: t.id, attempt: t.attempt + 1 })
        }
      }
    }
    c.at(c.now + DUTY_EVERY_MS, dutyLoop)
  }
  c.at(DUTY_EVERY_MS, dutyLoop)

  // ---- faults ----
  const frng = rng.fork()
  const faultEveryMs = pick.int(40, 150)
  for (let t = faultEveryMs; t < FAULT_PHASE_MS; t += faultEveryMs) {
    c.at(t, () => {
      const roll = frng.float()
      if (roll < 0.4) { injectFault(c, ids, FAULT_PHASE_MS); return } // partitions, member crashes, leader isolation, drops
      if (roll < 0.65) { crashWorker(workers[frng.int(0, workers.length - 1)]!); return }
      if (roll < 0.8) {
        const l = c.leader()
        if (l === undefined) return
        note(`fault: crash leader ${l.id}`)
        c.crash(l.id)
        const back = c.now + frng.int(20, 200)
        if (back < FAULT_PHASE_MS) c.at(back, () => c.start(l.id))
        return
      }
      if (roll < 0.9) {
        // the leader's monotonic clock steps forward (a paused process): many leases may expire at once
        const l = c.leader()
        const duty = l === undefined ? undefined : duties.get(l.id)
        if (duty === undefined) return
        duty.jumpMs += frng.int(2, 20) * leaseMs
        note(`fault: ${l!.id}'s clock steps to +${duty.jumpMs}ms`)
        return
      }
      if (frng.chance(0.5)) {
        // health wrongly declares a live worker dead: its leases end; it learns on its next renew
        const w = workers[frng.int(0, workers.length - 1)]!
        const l = c.leader()
        if (l !== undefined) { note(`fault: ${w.id} declared dead while alive`); propose(l, { op: 'worker-dead', worker: w.id }) }
      }
    })
  }

  // ---- heal, drain, quiesce ----
  c.at(FAULT_PHASE_MS, () => {
    healed = true
    note('heal: network faults stop, every member and worker restarts')
    c.blocked.clear()
    c.faults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 }
    for (const id of ids) c.start(id)
    // the drain phase's workers serve every capability, so every task has someone to run it (as the direct check's drain)
    for (const w of workers) { w.capabilities = [...CAPABILITIES]; if (!w.alive) startWorker(w) }
  })
  const leaderMachine = (): TaskMachine | undefined => { const l = c.leader(); return l === undefined ? undefined : replicas.machines.get(l.id) }
  /** The drain phase: an input-required task gets its answer from its submitter. */
  const answerer: Actor = { client: 'answerer', seq: 0, node: null }
  let answering = false
  const allEnded = (): boolean => {
    const m = leaderMachine()
    if (m === undefined || m.appliedIndex < replicas.checkedIndex) return false
    const waiting = m.tasks().find((t) => t.state === 'input-required')
    if (waiting !== undefined && !answering) {
      answering = true
      request(answerer, { op: 'answer', by: 'n1', taskId: waiting.id, answer: 'yes' }, () => { answering = false }, () => !stopped)
    }
    return m.tasks().every((t) => TERMINAL.has(t.state))
  }

  let endMs = FAULT_PHASE_MS
  while (endMs < FAULT_PHASE_MS + DRAIN_BOUND_MS) {
    endMs += 50
    await c.runUntil(endMs)
    if (c.checker.violations.length > 0 || c.crashError !== null || replicas.checker.failures.length > 0 || failures.length > 0) break
    if (endMs > FAULT_PHASE_MS + 100 && allEnded()) break
  }
  const drained = allEnded()
  stopped = true
  const quiesceUntilMs = endMs + QUIESCE_MS
  const caughtUp = (): boolean => {
    const l = c.leader()
    const applied = l?.driver?.appliedIndex
    return applied !== undefined && l!.core!.log.committed === applied && ids.every((id) => c.node(id).driver === null || c.node(id).driver!.appliedIndex === applied)
  }
  while (endMs < quiesceUntilMs) {
    endMs += 10
    await c.runUntil(endMs)
    if (caughtUp()) break
  }

  failures.push(...c.checker.violations)
  if (c.crashError !== null) failures.push(`driver failed: ${c.crashError.message}`)
  failures.push(...replicas.checker.failures, ...replicas.failures)
  const final = leaderMachine()
  if (failures.length === 0) {
    if (final === undefined) failures.push('liveness: no leader after the heal')
    else {
      if (!drained) replicas.checker.checkAllEnded(final)
      replicas.checker.checkNoLoss(final)
      replicas.checker.checkAcknowledged([...acknowledged], final)
      failures.push(...replicas.checker.failures)
      // every member applied the same index and holds the same bytes
      const bytes = Buffer.from(final.snapshot())
      for (const id of ids) {
        const m = replicas.machines.get(id)
        if (m === undefined || c.node(id).driver === null) continue
        if (m.appliedIndex !== final.appliedIndex) failures.push(`replicas agree: ${id} applied ${m.appliedIndex}, the leader ${final.appliedIndex}, ${QUIESCE_MS}ms after the work ended`)
        else if (Buffer.compare(bytes, Buffer.from(m.snapshot())) !== 0) failures.push(`replicas agree: ${id} holds a different state than the leader at index ${m.appliedIndex}`)
      }
    }
  }
  return {
    seed,
    ok: failures.length === 0,
    failures: [...new Set(failures)],
    commands: replicas.checkedIndex,
    tasks: replicas.checker.tasksCreated,
    completed: replicas.checker.completed,
    staleRefused: replicas.checker.staleRefused,
    restores: replicas.restores,
    memberCrashes: c.crashes,
    workerCrashes,
    retries,
    endMs,
    trace: c.trace
  }
}

