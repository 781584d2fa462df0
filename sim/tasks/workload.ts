// A seeded workload for a task queue: clients submit (with repeated idempotency keys), workers
// claim, renew, complete, fail and crash, results arrive late or twice, the leader fails over and
// its clock jumps. It only proposes commands and reads results, so the same generator can drive
// the machine directly (sim/tasks/run-seed.ts) or a simulated Raft cluster hosting it.

import type { Rng } from '../../protocols/kit/rng.ts'
import type { SingleCommand, TaskCommand } from '../../protocols/tasks/messages.ts'
import type { DispatchMode, QueueOptions } from '../../protocols/tasks/policy.ts'
import type { LeaseGrant, TaskResult } from '../../protocols/tasks/results.ts'
import type { TaskView } from '../../protocols/tasks/machine.ts'

/** What the workload reads from a replica of the queue. */
export interface QueueView {
  readonly clockMs: number
  get (taskId: string): TaskView | undefined
  tasks (): TaskView[]
  deadLetters (options?: { limit?: number }): TaskView[]
}

/** A seed's queue configuration, drawn from the rng. */
export interface WorkloadConfig {
  queue: QueueOptions
  workers: number
  steps: number
}

/** Draw a queue configuration: every dispatch mode, gate, fallback, short leases and breakers. */
export function drawConfig (rng: Rng, options: { steps?: number } = {}): WorkloadConfig {
  const modes: DispatchMode[] = ['pull', 'pull', 'round-robin', 'least-connections', 'bid']
  const leaseMs = rng.int(5, 30) * 100
  const queue: QueueOptions = {
    dispatch: modes[rng.int(0, modes.length - 1)]!,
    leaseMs,
    members: ['m1', 'm2', 'm3'],
    retry: { initialIntervalMs: rng.int(1, 10) * 50, maximumAttempts: rng.int(2, 6), nonRetryableErrors: ['Fatal'] },
    breaker: { slidingWindowSize: 6, minimumNumberOfCalls: 3, waitDurationInOpenStateMs: rng.int(1, 10) * 500, permittedNumberOfCallsInHalfOpenState: 1 },
    deadLetter: { maxTasks: rng.int(3, 50), retentionMs: rng.int(5, 60) * 1000 },
    gate: rng.chance(0.25),
    dedupWindowMs: rng.int(2, 60) * 1000,
    retentionMs: rng.int(2, 60) * 1000
  }
  if (rng.chance(0.2)) queue.fallbackQueue = 'fallback'
  if (rng.chance(0.2)) queue.scheduleToStartMs = rng.int(5, 40) * 1000
  return { queue, workers: rng.int(2, 5), steps: options.steps ?? rng.int(150, 400) }
}

interface Held { taskId: string, token: number, attempt: number, kind: 'work' | 'validate', doneAtMs: number }
interface SimWorker { id: string, alive: boolean, flaky: boolean, held: Map<string, Held>, capabilities: string[] }

const CAPABILITIES = ['translate', 'summarise']
const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']

/** The generator: `next()` gives the command to propose, `observe()` takes its result. */
export class TasksWorkload {
  readonly #rng: Rng
  readonly config: WorkloadConfig
  readonly #workers: SimWorker[] = []
  /** The leader's epoch (term) and its monotonic ms since the epoch began. */
  epoch = 1
  elapsedMs = 0
  /** Results held back to arrive late (from live or crashed workers). */
  readonly #late: SingleCommand[] = []
  #last: TaskCommand | undefined
  readonly #pendingFailover: SingleCommand[] = []

  constructor (rng: Rng, config: WorkloadConfig) {
    this.#rng = rng
    this.config = config
    for (let i = 0; i < config.workers; i++) {
      const caps = rng.chance(0.7) ? [...CAPABILITIES] : [CAPABILITIES[rng.int(0, 1)]!]
      this.#workers.push({ id: `w${i}`, alive: true, flaky: rng.chance(0.3), held: new Map(), capabilities: caps })
    }
  }

  /** The first command of a run: the leader's epoch begins. */
  start (): TaskCommand { return { op: 'leader-changed', epoch: this.epoch } }

  /** The next command under faults. */
  next (view: QueueView): TaskCommand {
    const command = this.#pendingFailover.shift() ?? this.#draw(view)
    this.#last = command
    return command
  }

  #draw (view: QueueView): TaskCommand {
    const rng = this.#rng
    const roll = rng.float()
    if (roll < 0.16) return this.#submit()
    if (roll < 0.30) return this.#claim(this.#aliveWorker())
    if (roll < 0.42) return this.#renew(this.#aliveWorker(), rng.chance(0.15))
    if (roll < 0.60) return this.#finish(view) ?? this.#tick()
    if (roll < 0.78) return this.#tick()
    if (roll < 0.81 && this.#late.length > 0) return this.#late.splice(rng.int(0, this.#late.length - 1), 1)[0]!
    if (roll < 0.83) return this.#crash()
    if (roll < 0.85) return this.#restart()
    if (roll < 0.865) return this.#workerDead()
    if (roll < 0.88) return this.#failover()
    if (roll < 0.90 && this.#last !== undefined) return this.#last // a retried proposal under a new request id
    if (roll < 0.92) return this.#steer(view)
    if (roll < 0.96 && this.config.queue.dispatch === 'bid') return this.#bidOrAward(view)
    return this.#tick()
  }

  /** Feed a command's result back (leases learned, results delivered). */
  observe (command: TaskCommand, result: TaskResult): void {
    if (command.op === 'batch') {
      if (result.ok && result.op === 'batch') command.commands.forEach((c, i) => { this.observe(c, result.results[i]!) })
      return
    }
    if (command.op === 'tick' && command.epoch === this.epoch) this.elapsedMs = Math.max(this.elapsedMs, command.elapsedMs)
    if (!result.ok) return
    // pushed and awarded leases reach a worker through its next renew, which lists all its leases
    if (result.op === 'claim' || result.op === 'renew') this.#learn((command as { worker: string }).worker, result.leases)
  }

  #learn (workerId: string, leases: LeaseGrant[]): void {
    const w = this.#workers.find((x) => x.id === workerId)
    if (w === undefined || !w.alive) return
    for (const grant of leases) w.held.set(grant.taskId, { ...grant, doneAtMs: 0 })
  }

  #aliveWorker (): SimWorker | undefined {
    const alive = this.#workers.filter((w) => w.alive)
    return alive.length === 0 ? undefined : alive[this.#rng.int(0, alive.length - 1)]
  }

  #submit (): TaskCommand {
    const rng = this.#rng
    const one = (): SingleCommand => {
      const c: SingleCommand = { op: 'submit', by: rng.chance(0.5) ? 'client-a' : 'client-b', input: new Uint8Array(rng.int(0, 64)) }
      if (rng.chance(0.4)) c.idempotencyKey = KEYS[rng.int(0, KEYS.length - 1)]!
      if (rng.chance(0.5)) c.capability = CAPABILITIES[rng.int(0, 1)]!
      if (rng.chance(0.3)) c.priority = rng.int(0, 5)
      if (rng.chance(0.1)) c.timeoutMs = rng.int(5, 60) * 1000
      if (rng.chance(0.1)) c.startToCloseMs = rng.int(1, 10) * 1000
      if (rng.chance(0.1)) c.retry = { maximumAttempts: rng.int(1, 3), backoffCoefficient: 1.5 }
      return c
    }
    if (rng.chance(0.2)) return { op: 'batch', commands: Array.from({ length: rng.int(2, 6) }, one) }
    return one()
  }

  #claim (w: SimWorker | undefined): TaskCommand {
    if (w === undefined) return this.#tick()
    const validate = this.config.queue.gate === true && this.#rng.chance(0.35)
    return { op: 'claim', worker: w.id, max: this.#rng.int(1, 3), capabilities: w.capabilities, concurrency: 3, ...(validate ? { kind: 'validate' as const } : {}) }
  }

  /** A renew lists what the worker holds; `lost` drops it on the way (the command is never applied). */
  #renew (w: SimWorker | undefined, lost: boolean): TaskCommand {
    if (w === undefined || lost) return this.#tick()
    return { op: 'renew', worker: w.id, held: [...w.held.values()].map((h) => ({ taskId: h.taskId, token: h.token })) }
  }

  /** A worker reports on one held lease: complete, fail, ask, or a verdict; sometimes late or twice. */
  #finish (view: QueueView): TaskCommand | undefined {
    const rng = this.#rng
    const w = this.#aliveWorker()
    if (w === undefined || w.held.size === 0) return undefined
    const held = [...w.held.values()][rng.int(0, w.held.size - 1)]!
    w.held.delete(held.taskId)
    let c: SingleCommand
    if (held.kind === 'validate') {
      const accept = rng.chance(0.6)
      c = { op: 'verdict', worker: w.id, taskId: held.taskId, token: held.token, accept, ...(accept ? {} : { feedback: 'try harder', final: rng.chance(0.2) }) }
    } else {
      const r = rng.float()
      if (r < (w.flaky ? 0.45 : 0.75)) c = { op: 'complete', worker: w.id, taskId: held.taskId, token: held.token, output: new Uint8Array([held.attempt]) }
      else if (r < 0.95) c = { op: 'fail', worker: w.id, taskId: held.taskId, token: held.token, error: { type: rng.chance(0.15) ? 'Fatal' : 'Flaky', message: 'boom' }, ...(rng.chance(0.1) ? { retryable: false } : {}) }
      else c = { op: 'ask', worker: w.id, taskId: held.taskId, token: held.token, question: 'which language?' }
    }
    if (rng.chance(0.1)) { this.#late.push(c); return this.#tick() } // arrives later
    if (rng.chance(0.1)) this.#late.push(c) // and once more, later
    void view
    return c
  }

  #tick (): TaskCommand {
    const rng = this.#rng
    const lease = this.config.queue.leaseMs ?? 30_000
    const step = rng.chance(0.03) ? rng.int(2, 40) * lease : rng.int(20, 400) // a paused leader's clock jumps
    this.elapsedMs += step
    if (rng.chance(0.03) && this.epoch > 1) return { op: 'tick', epoch: this.epoch - 1, elapsedMs: this.elapsedMs * 2 } // a deposed leader's tick
    return { op: 'tick', epoch: this.epoch, elapsedMs: this.elapsedMs }
  }

  /** A worker crashes: it stops renewing; some of its results may still arrive (a zombie). */
  #crash (): TaskCommand {
    const w = this.#aliveWorker()
    if (w === undefined) return this.#tick()
    w.alive = false
    for (const held of w.held.values()) {
      if (this.#rng.chance(0.3)) this.#late.push({ op: 'complete', worker: w.id, taskId: held.taskId, token: held.token, output: new Uint8Array([9]) })
    }
    w.held.clear()
    return this.#tick()
  }

  #restart (): TaskCommand {
    const dead = this.#workers.filter((w) => !w.alive)
    if (dead.length === 0) return this.#tick()
    const w = dead[this.#rng.int(0, dead.length - 1)]!
    w.alive = true
    return this.#claim(w)
  }

  /** Health declares a crashed (or, rarely, a live but silent) worker dead. */
  #workerDead (): TaskCommand {
    const dead = this.#workers.filter((w) => !w.alive)
    const w = dead.length > 0 ? dead[this.#rng.int(0, dead.length - 1)]! : this.#workers[this.#rng.int(0, this.#workers.length - 1)]!
    if (w.alive) w.held.clear() // its leases are gone; it will learn from renew
    return { op: 'worker-dead', worker: w.id }
  }

  /** The leader fails over: a new epoch; leader-changed (sometimes twice), then ticks restart from 0. */
  #failover (): TaskCommand {
    this.epoch++
    this.elapsedMs = 0
    if (this.#rng.chance(0.3)) this.#pendingFailover.push({ op: 'leader-changed', epoch: this.epoch })
    return { op: 'leader-changed', epoch: this.epoch }
  }

  /** Cancel, answer or redrive a task, as its submitter or a member. */
  #steer (view: QueueView): TaskCommand {
    const rng = this.#rng
    const tasks = view.tasks()
    const waiting = tasks.filter((t) => t.state === 'input-required')
    if (waiting.length > 0 && rng.chance(0.6)) return { op: 'answer', by: 'm1', taskId: waiting[0]!.id, answer: 'French' }
    const dead = view.deadLetters({ limit: 5 })
    if (dead.length > 0 && rng.chance(0.5)) return { op: 'redrive', by: 'm2', taskId: dead[rng.int(0, dead.length - 1)]!.id }
    if (tasks.length === 0) return this.#tick()
    return { op: 'cancel', by: rng.chance(0.8) ? 'm1' : 'stranger', taskId: tasks[rng.int(0, tasks.length - 1)]!.id }
  }

  /** Contract-net: live workers bid on an open attempt, or the leader awards it. */
  #bidOrAward (view: QueueView): TaskCommand {
    const rng = this.#rng
    const open = view.tasks().filter((t) => t.state === 'submitted')
    if (open.length === 0) return this.#tick()
    const task = open[rng.int(0, open.length - 1)]!
    const w = this.#aliveWorker()
    if (w !== undefined && rng.chance(0.6)) return { op: 'bid', worker: w.id, taskId: task.id, attempt: task.attempt + 1, cost: rng.int(1, 100), etaMs: rng.int(10, 1000) }
    return { op: 'award', taskId: task.id, attempt: task.attempt + 1 }
  }

  // ---- the drain phase: faults stop, every live worker works until the queue is quiet ----

  /** Commands of one healthy round: every worker claims, reports and renews; the clock moves. */
  healthyRound (view: QueueView): TaskCommand[] {
    const commands: TaskCommand[] = []
    for (const w of this.#workers) {
      w.alive = true
      commands.push({ op: 'renew', worker: w.id })
      for (const held of w.held.values()) {
        commands.push(held.kind === 'validate'
          ? { op: 'verdict', worker: w.id, taskId: held.taskId, token: held.token, accept: true }
          : { op: 'complete', worker: w.id, taskId: held.taskId, token: held.token, output: new Uint8Array([1]) })
      }
      w.held.clear()
      commands.push({ op: 'claim', worker: w.id, max: 3, capabilities: [...CAPABILITIES], concurrency: 3 })
      if (this.config.queue.gate === true) commands.push({ op: 'claim', worker: w.id, max: 3, kind: 'validate', capabilities: [...CAPABILITIES], concurrency: 3 })
    }
    for (const t of view.tasks()) {
      if (t.state === 'input-required') commands.push({ op: 'answer', by: 'm1', taskId: t.id, answer: 'yes' })
      if (t.state === 'submitted' && this.config.queue.dispatch === 'bid') {
        const w = this.#workers[Number(t.id.split('.')[0]) % this.#workers.length]!
        commands.push({ op: 'bid', worker: w.id, taskId: t.id, attempt: t.attempt + 1, cost: 1, etaMs: 1 })
        commands.push({ op: 'award', taskId: t.id, attempt: t.attempt + 1 })
      }
    }
    this.elapsedMs += Math.max(100, Math.floor((this.config.queue.leaseMs ?? 1000) / 3))
    commands.push({ op: 'tick', epoch: this.epoch, elapsedMs: this.elapsedMs })
    return commands
  }
}
