// The `--exec` supervisor: keeps one worker child running, feeds it tasks claimed from the queues
// it names, renews their leases, hands its results and failures back, and restarts it with
// backoff when it crashes, until the crash-loop breaker opens. The policy (framing, parsing,
// backoff, breaker) is in pure files beside this one; this file only wires it to a process.
// It lives in src/, not node/ where DESIGN first placed the bridge: embedders reach it through
// `node.tasks.work(queue, { exec })`, and src/ must not import node/ (layout rule).

import { systemClock } from '../../protocols/kit/clock.ts'
import type { Clock, TimerHandle } from '../../protocols/kit/clock.ts'
import { Backoff } from '../../protocols/kit/backoff.ts'
import { describeError } from '../../protocols/kit/errors.ts'
import { ExecChild, SpawnError } from './child.ts'
import type { ChildExit } from './child.ts'
import { splitCommand } from './command.ts'
import type { LineEvent } from './lines.ts'
import { EXEC_LINE_BYTES_MAX } from './lines.ts'
import { encodeNodeLine, parseChildLine, ExecProtocolError, EXEC_CONCURRENCY_MAX } from './messages.ts'
import type { ChildMessage, ExecTaskError, NodeMessage } from './messages.ts'
import { decideRestart, DEFAULT_RESTART_POLICY, DEFAULT_SHUTDOWN, READY_TIMEOUT_MS } from './policy.ts'
import type { RestartPolicy, ShutdownTimings } from './policy.ts'

/** A task the queue handed this worker: its lease is `token`, valid for `leaseMs` unless renewed. */
export interface ExecClaimedTask {
  taskId: string
  attempt: number
  token: number
  input: unknown
  feedback?: string
  leaseMs: number
}

/** What the supervisor needs from one task queue (the worker side of `node.tasks`). */
export interface ExecQueue {
  /** Claim up to `max` tasks, waiting up to `waitMs` for one; `concurrency` is how many this worker holds at most. */
  claim (options: { max: number, waitMs: number, concurrency: number, signal?: AbortSignal }): Promise<ExecClaimedTask[]>
  /** Extend a lease; a StaleLeaseError (code ERR_STALE_LEASE) means the task is no longer ours. */
  renew (taskId: string, token: number): Promise<unknown>
  /** Extend several leases in one request, when the queue can: the ids no longer ours come back. */
  renewAll?: (held: Array<{ taskId: string, token: number }>) => Promise<{ lost: string[], canceled: string[] }>
  complete (taskId: string, token: number, output: unknown): Promise<unknown>
  fail (taskId: string, token: number, error: ExecTaskError, options: { retryable: boolean }): Promise<unknown>
}

/** What the supervisor needs from the node. */
export interface ExecHost {
  /** The queue of that name (found by name on the mesh). */
  openQueue (name: string): Promise<ExecQueue>
  /** Publish an event for the child (`{"type":"publish"}` lines). */
  publish (topic: string, event: { type: string, data?: unknown }): Promise<unknown>
}

/** What happened to the child, for the CLI's `--json` lines and for tests. */
export type ExecEvent =
  | { kind: 'spawned', pid: number }
  | { kind: 'ready', pid: number, queues: string[], concurrency: number }
  | { kind: 'exited', pid: number, code: number | null, signal: string | null, restartInMs?: number }
  | { kind: 'gave-up', reason: string }

/** Options of `new ExecWorker`. */
export interface ExecWorkerOptions {
  /** The program and its arguments, as one string (split without a shell) or an argv. */
  command: string | readonly string[]
  host: ExecHost
  /** Work these queues whatever the ready line names (`node.tasks.work(queue, { exec })`). */
  queues?: readonly string[]
  /** Tasks at once when the ready line names no concurrency: 1. */
  concurrency?: number
  restart?: RestartPolicy
  shutdown?: ShutdownTimings
  readyTimeoutMs?: number
  clock?: Clock
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** The node's log; default: stderr. */
  log?: (line: string) => void
  onEvent?: (event: ExecEvent) => void
}

/** Counters: what the child did and what was refused. */
export interface ExecStats {
  spawns: number
  crashes: number
  tasksSent: number
  results: number
  fails: number
  /** Tasks failed as retryable because the child exited holding them. */
  tasksLostToCrash: number
  progress: number
  publishes: number
  /** Lines that were not valid protocol (bad JSON, unknown type, bad field): logged and dropped. */
  linesMalformed: number
  /** Lines over EXEC_LINE_BYTES_MAX: the child is restarted (see README "--exec"). */
  linesOverlong: number
  /** Results or fails naming a task the child does not hold (canceled, lease lost, or made up). */
  linesUnknownTask: number
  leasesLost: number
}

/** How long one claim long-polls: short enough that stop() is prompt, long enough not to spin. */
const CLAIM_WAIT_MS = 5000
/** With several queues each claim waits less, so one empty queue does not starve the others. */
const CLAIM_WAIT_SHARED_MS = 1000
/** How often leases are checked for renewal; each is renewed once a third of its lease has passed. */
const RENEW_TICK_MS = 250
/** A claim that fails (no leader yet, queue unreachable) is retried after 0.5 s, doubling to 10 s. */
const CLAIM_RETRY = { initialMs: 500, maxMs: 10_000 } as const

interface InFlight { queue: ExecQueue, task: ExecClaimedTask, renewedAtMs: number, renewing: boolean }

/** One incarnation of the child, with what it holds. */
interface Generation {
  child: ExecChild
  controller: AbortController
  inflight: Map<string, InFlight>
  reserved: number
  concurrency: number
  ready: boolean
  /** Why the supervisor killed it (a protocol violation), making its exit a crash. */
  violation: string | undefined
  wakers: Array<() => void>
  timers: TimerHandle[]
}

/** Supervises one `--exec` worker child. `start()` spawns it; `stop()` shuts it down in order. */
export class ExecWorker {
  readonly stats: ExecStats = { spawns: 0, crashes: 0, tasksSent: 0, results: 0, fails: 0, tasksLostToCrash: 0, progress: 0, publishes: 0, linesMalformed: 0, linesOverlong: 0, linesUnknownTask: 0, leasesLost: 0 }
  readonly #options: ExecWorkerOptions
  readonly #argv: string[]
  readonly #text: string
  readonly #clock: Clock
  readonly #log: (line: string) => void
  readonly #crashTimesMs: number[] = []
  readonly #queues = new Map<string, Promise<ExecQueue>>()
  #generation: Generation | undefined
  #restartTimer: TimerHandle | undefined
  #state: 'new' | 'running' | 'stopping' | 'stopped' | 'gave-up' = 'new'
  #resolveDone: () => void = () => {}
  /** Resolves once the worker is stopped for good: by stop(), or by the crash-loop breaker. */
  readonly done: Promise<void>

  constructor (options: ExecWorkerOptions) {
    this.#options = options
    this.#argv = typeof options.command === 'string' ? splitCommand(options.command) : [...options.command]
    this.#text = typeof options.command === 'string' ? options.command : options.command.join(' ')
    this.#clock = options.clock ?? systemClock
    this.#log = options.log ?? ((line) => { process.stderr.write(`agentmesh: ${line}\n`) })
    this.done = new Promise((resolve) => { this.#resolveDone = resolve })
  }

  /** Spawn the child. Rejects with SpawnError (naming the command) when it cannot be started. */
  async start (): Promise<void> {
    if (this.#state !== 'new') throw new Error('ExecWorker.start: already started')
    this.#state = 'running'
    try {
      await this.#spawn()
    } catch (err) {
      this.#state = 'stopped'
      this.#resolveDone()
      throw err
    }
  }

  /** The child's pid while one runs. */
  get pid (): number | undefined { return this.#generation?.child.running === true ? this.#generation.child.pid : undefined }

  /** Tasks the current child holds. */
  get running (): number { return this.#generation?.inflight.size ?? 0 }

  /** Write to the log this worker was given. */
  log (line: string): void { this.#log(line) }

  /** 'running', 'stopped', or 'gave-up' once the crash-loop breaker opened. */
  get state (): string { return this.#state }

  /** Stop claiming, close the child's stdin, wait `graceMs`, SIGTERM, SIGKILL; tasks it still holds fail as retryable. */
  async stop (): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'gave-up' || this.#state === 'new') { this.#state = this.#state === 'new' ? 'stopped' : this.#state; return }
    this.#state = 'stopping'
    this.#restartTimer?.cancel()
    // A restart under way finishes first, so its child is the one shut down below.
    await this.#spawning
    const generation = this.#generation
    if (generation !== undefined) {
      this.#abortClaims(generation)
      await generation.child.stop(this.#options.shutdown ?? DEFAULT_SHUTDOWN)
    }
    await this.#settled
    this.#state = 'stopped'
    this.#resolveDone()
  }

  /** Resolves once the current generation's exit has been handled. */
  #settled: Promise<void> = Promise.resolve()
  /** Resolves once a restart's spawn has succeeded or failed. */
  #spawning: Promise<void> = Promise.resolve()

  async #spawn (): Promise<void> {
    const child = await ExecChild.spawn(this.#argv, {
      command: this.#text,
      clock: this.#clock,
      log: this.#log,
      onStdout: (event) => { this.#onStdout(generation, event) },
      ...(this.#options.cwd !== undefined ? { cwd: this.#options.cwd } : {}),
      ...(this.#options.env !== undefined ? { env: this.#options.env } : {})
    })
    const generation: Generation = {
      child,
      controller: new AbortController(),
      inflight: new Map(),
      reserved: 0,
      concurrency: 0,
      ready: false,
      violation: undefined,
      wakers: [],
      timers: []
    }
    this.#generation = generation
    this.stats.spawns++
    this.#log(`exec: started "${this.#text}" as pid ${child.pid}`)
    this.#options.onEvent?.({ kind: 'spawned', pid: child.pid })
    const readyTimeoutMs = this.#options.readyTimeoutMs ?? READY_TIMEOUT_MS
    generation.timers.push(this.#clock.setTimeout(() => {
      if (!generation.ready) this.#violate(generation, `no {"type":"ready"} line within ${readyTimeoutMs} ms of starting (READY_TIMEOUT_MS)`)
    }, readyTimeoutMs))
    generation.timers.push(this.#clock.setInterval(() => { this.#renewDue(generation) }, RENEW_TICK_MS))
    this.#settled = child.exited.then(async (exit) => { await this.#onExit(generation, exit) })
  }

  #onStdout (generation: Generation, event: LineEvent): void {
    if (generation.violation !== undefined) return // being killed: its further output is not trusted
    if (event.kind === 'overlong') {
      this.stats.linesOverlong++
      this.#violate(generation, `wrote a stdout line longer than ${EXEC_LINE_BYTES_MAX} bytes (EXEC_LINE_BYTES_MAX); restarting it`)
      return
    }
    if (event.text.trim() === '') return
    let message: ChildMessage
    try {
      message = parseChildLine(event.text)
    } catch (err) {
      if (!(err instanceof ExecProtocolError)) throw err
      this.stats.linesMalformed++
      this.#log(`exec: pid ${generation.child.pid}: line dropped: ${err.message} (${this.stats.linesMalformed} dropped so far; stdout is for protocol lines only, log to stderr)`)
      return
    }
    this.#onMessage(generation, message)
  }

  #onMessage (generation: Generation, message: ChildMessage): void {
    const pid = generation.child.pid
    switch (message.type) {
      case 'ready': {
        if (generation.ready) { this.stats.linesMalformed++; this.#log(`exec: pid ${pid}: a second ready line ignored`); return }
        const queues = this.#options.queues !== undefined ? [...this.#options.queues] : message.queues
        if (queues.length === 0) { this.#violate(generation, 'its ready line names no queues; expected {"type":"ready","queues":["<queue>"]}'); return }
        if (this.#options.queues !== undefined) {
          const extra = message.queues.filter(q => !this.#options.queues!.includes(q))
          if (extra.length > 0) this.#log(`exec: pid ${pid}: ready names ${extra.join(', ')}, but this worker is bound to ${queues.join(', ')}; working those only`)
        }
        generation.ready = true
        generation.concurrency = Math.min(EXEC_CONCURRENCY_MAX, message.concurrency ?? this.#options.concurrency ?? 1)
        this.#log(`exec: pid ${pid} ready: queues ${queues.join(', ')}, concurrency ${generation.concurrency}`)
        this.#options.onEvent?.({ kind: 'ready', pid, queues, concurrency: generation.concurrency })
        for (const name of queues) void this.#claimLoop(generation, name, queues.length > 1 ? CLAIM_WAIT_SHARED_MS : CLAIM_WAIT_MS)
        return
      }
      case 'result':
      case 'fail': {
        const held = generation.inflight.get(message.taskId)
        if (held === undefined || held.task.token !== message.token) {
          this.stats.linesUnknownTask++
          this.#log(`exec: pid ${pid}: ${message.type} for task ${message.taskId} token ${message.token} ignored: it holds no such lease (canceled, lease lost, or never sent)`)
          return
        }
        this.#release(generation, message.taskId)
        if (message.type === 'result') {
          this.stats.results++
          void this.#complete(held, message.output)
        } else {
          this.stats.fails++
          void this.#fail(held, message.error, message.retryable ?? true)
        }
        return
      }
      case 'progress':
        if (!generation.inflight.has(message.taskId)) { this.stats.linesUnknownTask++; return }
        this.stats.progress++
        return
      case 'publish':
        this.stats.publishes++
        this.#options.host.publish(message.topic, message.event).catch((err: unknown) => {
          this.#log(`exec: pid ${pid}: publish to ${message.topic} failed: ${describeError(err)}`)
        })
    }
  }

  /** Claim tasks for `name` while this generation lives and has free slots. */
  async #claimLoop (generation: Generation, name: string, waitMs: number): Promise<void> {
    const { signal } = generation.controller
    const retry = new Backoff(CLAIM_RETRY)
    let queue: ExecQueue
    for (;;) {
      if (signal.aborted) return
      try {
        queue = await this.#queue(name)
        break
      } catch (err) {
        const delayMs = retry.next()
        this.#log(`exec: cannot open queue ${name}: ${describeError(err)}; retrying in ${delayMs} ms`)
        await this.#pause(generation, delayMs)
      }
    }
    retry.reset()
    while (!signal.aborted) {
      const free = generation.concurrency - generation.inflight.size - generation.reserved
      if (free <= 0) { await this.#wake(generation); continue }
      generation.reserved += free
      let tasks: ExecClaimedTask[]
      try {
        tasks = await queue.claim({ max: free, waitMs, concurrency: generation.concurrency, signal })
        retry.reset()
      } catch (err) {
        generation.reserved -= free
        if (signal.aborted) return
        const delayMs = retry.next()
        this.#log(`exec: claim on ${name} failed: ${describeError(err)}; retrying in ${delayMs} ms`)
        await this.#pause(generation, delayMs)
        continue
      }
      generation.reserved -= free
      for (const task of tasks) this.#dispatch(generation, queue, task)
    }
  }

  #dispatch (generation: Generation, queue: ExecQueue, task: ExecClaimedTask): void {
    const held: InFlight = { queue, task, renewedAtMs: this.#clock.nowMs(), renewing: false }
    if (!generation.child.running || generation.violation !== undefined || generation.controller.signal.aborted) {
      // Claimed while the child was going away: straight back to the queue.
      void this.#fail(held, { type: 'WorkerStoppedError', message: 'the --exec worker stopped before the task reached it' }, true)
      return
    }
    const line = encodeNodeLine({ type: 'task', taskId: task.taskId, attempt: task.attempt, token: task.token, input: task.input, ...(task.feedback !== undefined ? { feedback: task.feedback } : {}) })
    if (Buffer.byteLength(line) > EXEC_LINE_BYTES_MAX) {
      void this.#fail(held, { type: 'LimitExceededError', message: `the task line is ${Buffer.byteLength(line)} bytes; a line to an --exec child is at most ${EXEC_LINE_BYTES_MAX} (EXEC_LINE_BYTES_MAX)` }, false)
      return
    }
    generation.inflight.set(task.taskId, held)
    this.stats.tasksSent++
    generation.child.write(line)
  }

  /** Renew each held lease once a third of it has passed (one request per queue when it batches); a lease found lost is canceled in the child. */
  #renewDue (generation: Generation): void {
    const nowMs = this.#clock.nowMs()
    const due = new Map<ExecQueue, InFlight[]>()
    for (const held of generation.inflight.values()) {
      if (held.renewing || nowMs - held.renewedAtMs < held.task.leaseMs / 3) continue
      held.renewing = true
      due.set(held.queue, [...(due.get(held.queue) ?? []), held])
    }
    for (const [queue, batch] of due) {
      const done = (): void => { for (const held of batch) held.renewing = false }
      if (queue.renewAll !== undefined) {
        queue.renewAll(batch.map(h => ({ taskId: h.task.taskId, token: h.task.token }))).then(({ lost, canceled }) => {
          const gone = new Set([...lost, ...canceled])
          for (const held of batch) {
            if (gone.has(held.task.taskId)) this.#leaseLost(generation, held, canceled.includes(held.task.taskId) ? 'the task was canceled' : 'its lease was lost')
            else held.renewedAtMs = nowMs
          }
        }, (err: unknown) => { for (const held of batch) this.#renewFailed(generation, held, err) }).finally(done)
      } else {
        for (const held of batch) {
          queue.renew(held.task.taskId, held.task.token).then(() => { held.renewedAtMs = nowMs }, (err: unknown) => { this.#renewFailed(generation, held, err) }).finally(() => { held.renewing = false })
        }
      }
    }
  }

  /** A renewal that failed: the lease is lost when the queue says so or when it has run out; otherwise retry next tick. */
  #renewFailed (generation: Generation, held: InFlight, err: unknown): void {
    const lost = (err as { code?: unknown }).code === 'ERR_STALE_LEASE' || this.#clock.nowMs() - held.renewedAtMs >= held.task.leaseMs
    if (lost) this.#leaseLost(generation, held, describeError(err))
    else this.#log(`exec: renewing task ${held.task.taskId} failed (will retry): ${describeError(err)}`)
  }

  #leaseLost (generation: Generation, held: InFlight, why: string): void {
    if (generation.inflight.get(held.task.taskId) !== held) return
    this.stats.leasesLost++
    this.#release(generation, held.task.taskId)
    this.#log(`exec: task ${held.task.taskId} is no longer this worker's (${why}); telling the child to cancel it`)
    this.#send(generation, { type: 'cancel', taskId: held.task.taskId })
  }

  async #complete (held: InFlight, output: unknown): Promise<void> {
    try {
      await held.queue.complete(held.task.taskId, held.task.token, output)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code === 'ERR_LIMIT_EXCEEDED' || code === 'ERR_DECODE') {
        // The same output would be refused on every attempt: fail it for good, saying why.
        this.#log(`exec: the result of task ${held.task.taskId} was refused: ${describeError(err)}; failing the task`)
        await this.#fail(held, { type: (err as Error).name, message: (err as Error).message }, false)
        return
      }
      this.#log(`exec: completing task ${held.task.taskId} failed: ${describeError(err)}`)
    }
  }

  async #fail (held: InFlight, error: ExecTaskError, retryable: boolean): Promise<void> {
    try {
      await held.queue.fail(held.task.taskId, held.task.token, error, { retryable })
    } catch (err) {
      this.#log(`exec: failing task ${held.task.taskId} failed: ${describeError(err)}`)
    }
  }

  /** The child broke the protocol beyond one bad line: fail its tasks now and restart it. */
  #violate (generation: Generation, why: string): void {
    if (generation.violation !== undefined || !generation.child.running) return
    generation.violation = why
    this.#log(`exec: pid ${generation.child.pid} ${why}`)
    this.#abortClaims(generation)
    this.#failAll(generation, { type: 'WorkerCrashedError', message: `the --exec worker ${why}` })
    void generation.child.stop(this.#options.shutdown ?? DEFAULT_SHUTDOWN)
  }

  async #onExit (generation: Generation, exit: ChildExit): Promise<void> {
    for (const timer of generation.timers) timer.cancel()
    this.#abortClaims(generation)
    const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`
    const requested = this.#state === 'stopping' && generation.violation === undefined
    this.#failAll(generation, requested
      ? { type: 'WorkerStoppedError', message: `the --exec worker was stopped (${how}) while running the task` }
      : { type: 'WorkerCrashedError', message: `the --exec worker (pid ${generation.child.pid}) exited with ${how} while running the task` })
    if (this.#state !== 'running') {
      this.#log(`exec: pid ${generation.child.pid} exited (${how})`)
      this.#options.onEvent?.({ kind: 'exited', pid: generation.child.pid, code: exit.code, signal: exit.signal })
      return
    }
    await this.#crashed(`pid ${generation.child.pid} exited with ${how}${generation.violation !== undefined ? ` after it ${generation.violation}` : ''}`, { pid: generation.child.pid, exit })
  }

  /** Count a crash, then restart after the backoff or open the breaker. */
  async #crashed (what: string, exited?: { pid: number, exit: ChildExit }): Promise<void> {
    if (this.#state !== 'running') return // stopping: no restart, no breaker
    this.stats.crashes++
    const nowMs = this.#clock.nowMs()
    this.#crashTimesMs.push(nowMs)
    const decision = decideRestart(this.#crashTimesMs, nowMs, this.#options.restart ?? DEFAULT_RESTART_POLICY)
    // Keep only the window's crashes: the list stays bounded by crashesMax.
    this.#crashTimesMs.splice(0, this.#crashTimesMs.length - decision.crashesInWindow)
    if (exited !== undefined) {
      this.#options.onEvent?.({ kind: 'exited', pid: exited.pid, code: exited.exit.code, signal: exited.exit.signal, ...(decision.action === 'restart' ? { restartInMs: decision.delayMs } : {}) })
    }
    if (decision.action === 'give-up') {
      this.#state = 'gave-up'
      const reason = `"${this.#text}" ${what}; not restarting it: ${decision.reason}. Fix the worker and restart the node`
      this.#log(`exec: ${reason}`)
      this.#options.onEvent?.({ kind: 'gave-up', reason })
      this.#resolveDone()
      return
    }
    this.#log(`exec: "${this.#text}" ${what}; restarting in ${decision.delayMs} ms (crash ${decision.crashesInWindow} in the window)`)
    this.#restartTimer = this.#clock.setTimeout(() => {
      this.#restartTimer = undefined
      if (this.#state !== 'running') return
      this.#spawning = this.#spawn().catch(async (err: unknown) => {
        // The program vanished or lost its execute bit since the start: a crash like any other.
        await this.#crashed(err instanceof SpawnError ? err.message : `could not be restarted: ${describeError(err)}`)
      })
    }, decision.delayMs)
  }

  #failAll (generation: Generation, error: ExecTaskError): void {
    for (const held of generation.inflight.values()) {
      this.stats.tasksLostToCrash++
      void this.#fail(held, error, true)
    }
    generation.inflight.clear()
    this.#wakeAll(generation)
  }

  #send (generation: Generation, message: NodeMessage): void {
    generation.child.write(encodeNodeLine(message))
  }

  #release (generation: Generation, taskId: string): void {
    generation.inflight.delete(taskId)
    this.#wakeAll(generation)
  }

  #abortClaims (generation: Generation): void {
    if (!generation.controller.signal.aborted) generation.controller.abort(new Error('the --exec worker is going away'))
    this.#wakeAll(generation)
  }

  async #wake (generation: Generation): Promise<void> {
    if (generation.controller.signal.aborted) return
    await new Promise<void>((resolve) => { generation.wakers.push(resolve) })
  }

  #wakeAll (generation: Generation): void {
    const wakers = generation.wakers.splice(0)
    for (const wake of wakers) wake()
  }

  async #pause (generation: Generation, ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(resolve, ms)
      generation.wakers.push(() => { timer.cancel(); resolve() })
    })
  }

  async #queue (name: string): Promise<ExecQueue> {
    let queue = this.#queues.get(name)
    if (queue === undefined) {
      queue = this.#options.host.openQueue(name)
      this.#queues.set(name, queue)
      // A failed open is not cached: the next try asks again.
      queue.catch(() => { this.#queues.delete(name) })
    }
    return await queue
  }
}
