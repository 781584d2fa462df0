// The user-facing handle of one raft group (DESIGN `node.groups`): propose with retries under
// one request id, ReadIndex reads, the built-in KV, locks with fencing tokens, and leader-only jobs.

import { TypedEventEmitter } from 'main-event'
import type { Logger } from '@libp2p/interface'
import { encodeCbor } from '../../protocols/kit/cbor.ts'
import { systemClock } from '../../protocols/kit/clock.ts'
import { AbortedError, TimeoutError } from '../../protocols/kit/errors.ts'
import { encodeKvCommand } from '../../protocols/raft/kv.ts'
import { CLIENTS_PER_MEMBER_MAX, SESSION_EXPIRED } from '../../protocols/raft/sessions.ts'
import type { KvCommand, KvResult } from '../../protocols/raft/kv.ts'
import type { DriverStats, RaftDriver } from '../../protocols/raft/driver.ts'
import { ApplyError, BftNotConfiguredError, GroupNotJoinedError, LockUnavailableError, NoLeaderError, NotBuiltInKvError, SessionExpiredError } from './errors.ts'
import type { ApplyOutcome } from '../../protocols/raft/state-machine.ts'
import { BuiltInKv } from '../../protocols/raft/state-machine.ts'
import { timed } from '../../protocols/kit/timing.ts'

/** Default deadline of propose, read and lock. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 15_000
/** Request ids (client sessions) one group handle uses at once: the replicated session table is sized for it. */
export const CLIENTS_MAX = CLIENTS_PER_MEMBER_MAX
/** While leader, a `time` entry every tick if locks are held, else every this many ticks (SPEC raft R13). */
export const IDLE_CLOCK_TICKS = 10
/** Concurrent leader-only jobs per group handle. */
export const JOBS_MAX = 256

/** The optional BFT seam: another service orders flagged values with Byzantine fault tolerance. */
export interface BftHandler {
  propose (value: unknown, options: { signal?: AbortSignal }): Promise<{ value: unknown, height: number, certificate: unknown }>
  verify (decision: unknown): boolean
}

/** Options of propose, read and lock. */
export interface RequestOptions { signal?: AbortSignal, timeoutMs?: number }
/** Options of propose. */
export interface ProposeOptions extends RequestOptions { bft?: boolean }
/** A granted lock: the fencing token only grows; pass it to whatever the lock protects. */
export interface LockHandle { resource: string, owner: string, token: number, release: (options?: RequestOptions) => Promise<boolean> }
/** A leader-only job. */
export interface JobHandle { readonly name: string, readonly running: boolean, cancel: () => void }
/** Events of a group handle. */
export interface GroupEvents { leader: CustomEvent<{ leader: string | null, term: number }> }

/** One joined raft group. */
export class RaftGroup extends TypedEventEmitter<GroupEvents> {
  readonly name: string
  readonly #driver: RaftDriver
  readonly #bft: () => BftHandler | undefined
  readonly #log: Logger
  readonly #clientPrefix: string
  readonly #free: Array<{ client: string, seq: number }> = []
  #clients = 0
  #lockSeq = 0
  #ticks = 0
  /** Monotonic time and term of this node's previous `time` entry (SPEC raft R13). */
  #timeProposedAtMs = 0
  #timeProposedTerm = -1
  readonly #jobs = new Set<() => void>()
  readonly #clock: ReturnType<typeof setInterval>
  #left = false
  /** Aborted by leave(): every wait of this handle ends with GroupNotJoinedError, as every later call does. */
  readonly #leaving = new AbortController()
  /** The built-in KV, when the group was joined without `apply`. */
  readonly kv: { get: (key: string, options?: RequestOptions) => Promise<string | null>, put: (key: string, value: string, options?: RequestOptions) => Promise<void>, delete: (key: string, options?: RequestOptions) => Promise<void> }

  constructor (parts: { name: string, driver: RaftDriver, bft: () => BftHandler | undefined, log: Logger, clientPrefix: string }) {
    super()
    this.name = parts.name
    this.#driver = parts.driver
    this.#bft = parts.bft
    this.#log = parts.log
    this.#clientPrefix = parts.clientPrefix
    this.#driver.addEventListener('leader', (e) => {
      if (e.detail.leader === this.#driver.options.id) this.#proposeTime()
      this.safeDispatchEvent('leader', { detail: e.detail })
    })
    this.#clock = setInterval(() => { this.#tickClock() }, this.#driver.options.heartbeatMs)
    this.#clock.unref?.()
    this.kv = {
      get: async (key, options) => this.read(() => this.#kv('get').machine.read(key), options),
      put: async (key, value, options) => { this.#kv('put'); await this.propose({ op: 'put', key, value }, options) },
      delete: async (key, options) => { this.#kv('delete'); await this.propose({ op: 'delete', key }, options) }
    }
  }

  /** Peer id of the current leader as this node knows it, or null. */
  leader (): string | null { return this.#driver.leader }
  /** True while this node is the leader. */
  isLeader (): boolean { return this.#driver.core.role === 'leader' }
  /** This node's current term. */
  term (): number { return this.#driver.core.term }
  /** Current voters. */
  members (): string[] { return [...this.#driver.core.voters] }
  /** Index of the last entry applied here. */
  appliedIndex (): number { return this.#driver.appliedIndex }
  /** This node's raft state in one object, for status pages and tests. */
  status (): { role: string, term: number, leader: string | null, committed: number, applied: number, snapshotIndex: number, lastIndex: number, storage: DriverStats } {
    const c = this.#driver.core
    return { role: c.role, term: c.term, leader: this.#driver.leader, committed: c.log.committed, applied: this.#driver.appliedIndex, snapshotIndex: c.log.snapshotIndex, lastIndex: c.log.lastIndex(), storage: this.#driver.stats() }
  }

  /** Resolve once a leader is known. */
  async waitForLeader (options: RequestOptions = {}): Promise<string> {
    return this.#withDeadline('waiting for a leader', options, async (signal) => {
      while (this.#driver.leader === null) await this.#nextLeaderEvent(signal)
      return this.#driver.leader
    })
  }

  /**
   * Commit `command` and return what apply returned for it (same order on every member). Retried
   * under the same request id across leader changes, so it is applied once (SPEC raft R12).
   * With `{bft: true}` the value goes to the BFT service instead.
   */
  async propose (command: unknown, options: ProposeOptions = {}): Promise<any> {
    if (options.bft === true) {
      const bft = this.#bft()
      if (bft === undefined) throw new BftNotConfiguredError(this.name)
      return bft.propose(command, { signal: options.signal })
    }
    this.#checkJoined()
    const data = encodeCbor(command)
    const session = this.#acquire()
    try {
      const outcome = await timed({ peerId: this.#driver.options.id, operation: 'raft.propose', group: this.name }, performance.now.bind(performance), () =>
        this.#withDeadline(`proposal to raft group "${this.name}"`, options, async (signal) => this.#proposeUntilApplied(data, session, signal)))
      if (!outcome.ok && outcome.error.startsWith(SESSION_EXPIRED)) throw new SessionExpiredError(`Command in raft group "${this.name}" was refused: ${outcome.error}`)
      if (!outcome.ok) throw new ApplyError(`Command in raft group "${this.name}" failed in apply: ${outcome.error}`)
      return outcome.value
    } finally {
      session.seq++
      this.#free.push(session)
    }
  }

  /** Check a BFT decision's certificate (delegates to the BFT service). */
  verify (decision: unknown): boolean {
    const bft = this.#bft()
    if (bft === undefined) throw new BftNotConfiguredError(this.name)
    return bft.verify(decision)
  }

  /**
   * Linearizable read (SPEC raft R8, ReadIndex): waits until this node has applied everything
   * committed when the read started, confirmed by a heartbeat quorum, then runs `query` locally.
   */
  async read<T = undefined> (query?: () => T, options: RequestOptions = {}): Promise<T> {
    this.#checkJoined()
    return this.#withDeadline(`read in raft group "${this.name}"`, options, async (signal) => {
      for (;;) {
        const attempt = AbortSignal.any([signal, AbortSignal.timeout(this.#driver.options.electionMs)])
        let index: number
        try {
          index = await this.#driver.readIndex(attempt)
        } catch (err) {
          if (signal.aborted) throw err
          this.#log('read in %s retried: %s', this.name, (err as Error).message)
          await this.#pause(signal)
          continue
        }
        await this.#driver.waitApplied(index, signal)
        return (query === undefined ? undefined : query()) as T
      }
    })
  }

  /**
   * Take a lease on `resource` for `ttlMs` of replicated time (SPEC raft R13). While someone else
   * holds it, waits up to `waitMs` (default: the whole `timeoutMs`) for its release, then throws
   * LockUnavailableError; `waitMs: 0` asks once and fails at once when it is held. The returned
   * fencing token is larger than every earlier grant's.
   */
  async lock (resource: string, options: RequestOptions & { ttlMs: number, waitMs?: number }): Promise<LockHandle> {
    this.#kv('lock')
    if (options.waitMs !== undefined && !(options.waitMs >= 0)) throw new RangeError(`Cannot lock "${resource}" in raft group "${this.name}": waitMs must be ≥ 0, got ${options.waitMs}`)
    const owner = `${this.#clientPrefix}.L${++this.#lockSeq}`
    const deadlineMs = Date.now() + (options.timeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT)
    const waitUntilMs = options.waitMs === undefined ? deadlineMs : Math.min(deadlineMs, Date.now() + options.waitMs)
    let last: KvResult | undefined
    while (Date.now() < deadlineMs) {
      let r: KvResult
      try {
        r = await this.propose({ op: 'lock', resource, owner, ttlMs: options.ttlMs } satisfies KvCommand, { signal: options.signal, timeoutMs: Math.max(1, deadlineMs - Date.now()) }) as KvResult
      } catch (err) {
        if (err instanceof TimeoutError && last !== undefined) break // it was held when we last asked
        throw err
      }
      if ('granted' in r && r.granted) {
        return { resource, owner, token: r.token, release: async (o = {}) => ((await this.propose({ op: 'unlock', resource, owner, token: r.token } satisfies KvCommand, o)) as { granted: boolean }).granted }
      }
      last = r
      if (Date.now() >= waitUntilMs) break
      await sleep(Math.min(options.ttlMs / 4, 100, Math.max(0, waitUntilMs - Date.now())), options.signal)
    }
    const holder = last !== undefined && 'holder' in last ? `${last.holder} (token ${last.token})` : 'another owner'
    const waited = options.waitMs === undefined ? 'until the deadline' : `after waiting ${options.waitMs} ms (waitMs)`
    throw new LockUnavailableError(`Cannot lock "${resource}" in raft group "${this.name}": held by ${holder} ${waited}`)
  }

  /**
   * Distributed cron: run `fn` every `intervalMs` while this node is leader; its signal aborts
   * when leadership is lost or the job is cancelled. A deposed leader learns it within one
   * election timeout (check-quorum), so use lock fencing tokens where overlap would hurt.
   */
  runOnLeader (jobName: string, intervalMs: number, fn: (context: { signal: AbortSignal, group: RaftGroup, jobName: string }) => unknown): JobHandle {
    this.#checkJoined()
    if (this.#jobs.size >= JOBS_MAX) throw new RangeError(`Cannot start job "${jobName}": ${JOBS_MAX} jobs already run on raft group "${this.name}" (JOBS_MAX)`)
    let cancelled = false
    let run: AbortController | null = null
    const loop = async (signal: AbortSignal): Promise<void> => {
      while (!signal.aborted) {
        try {
          await fn({ signal, group: this, jobName })
        } catch (err) {
          if (!signal.aborted) this.#log.error('job %s on %s failed: %s', jobName, this.name, (err as Error).message)
        }
        await sleep(intervalMs, signal).catch(() => undefined)
      }
    }
    const update = (): void => {
      const lead = !cancelled && !this.#left && this.isLeader()
      if (lead && run === null) { run = new AbortController(); void loop(run.signal) }
      if (!lead && run !== null) { run.abort(new Error(`leadership of "${this.name}" lost`)); run = null }
    }
    const onLeader = (): void => { update() }
    this.#driver.addEventListener('leader', onLeader)
    const cancel = (): void => { cancelled = true; update(); this.#driver.removeEventListener('leader', onLeader); this.#jobs.delete(cancel) }
    this.#jobs.add(cancel)
    update()
    return { name: jobName, get running () { return run !== null }, cancel }
  }

  /** Stop taking part (jobs stop, the driver stops); membership is unchanged. */
  async leave (): Promise<void> {
    if (this.#left) return
    this.#left = true
    this.#leaving.abort(new GroupNotJoinedError(this.name))
    clearInterval(this.#clock)
    for (const cancel of [...this.#jobs]) cancel()
    await this.#driver.stop()
  }

  get left (): boolean { return this.#left }

  // ---- helpers ------------------------------------------------------------------------

  #checkJoined (): void {
    if (this.#left) throw new GroupNotJoinedError(this.name)
    if (this.#driver.failure !== null) throw new NoLeaderError(`Raft group "${this.name}" stopped: ${this.#driver.failure.message}`)
  }

  #kv (what: string): BuiltInKv {
    const machine = this.#driver.machine
    if (!(machine instanceof BuiltInKv)) throw new NotBuiltInKvError(this.name, what)
    return machine
  }

  #acquire (): { client: string, seq: number } {
    const free = this.#free.pop()
    if (free !== undefined) return free
    if (this.#clients >= CLIENTS_MAX) throw new RangeError(`Cannot propose to raft group "${this.name}": ${CLIENTS_MAX} proposals already in flight from this node (CLIENTS_MAX)`)
    return { client: `${this.#clientPrefix}.${this.#clients++}`, seq: 1 }
  }

  async #proposeUntilApplied (data: Uint8Array, session: { client: string, seq: number }, signal: AbortSignal): Promise<ApplyOutcome> {
    const { client, seq } = session
    return new Promise<ApplyOutcome>((resolve, reject) => {
      const attempt = (): void => {
        try {
          this.#driver.propose(data, client, seq, done, fail)
        } catch (err) {
          fail(err as Error) // the driver stopped (or a limit): never throw out of a timer
        }
      }
      const onLeader = (e: CustomEvent<{ leader: string | null }>): void => { if (e.detail.leader !== null) attempt() }
      let again: ReturnType<typeof setTimeout> | undefined
      const onDropped = (e: CustomEvent<{ client: string, seq: number }>): void => {
        if (e.detail.client !== client || e.detail.seq !== seq || again !== undefined) return
        again = setTimeout(() => { again = undefined; attempt() }, this.#driver.options.heartbeatMs)
      }
      // a forward lost on the way to a dying leader is retried after one election timeout
      const retry = setInterval(attempt, this.#driver.options.electionMs)
      const cleanup = (): void => {
        clearInterval(retry)
        clearTimeout(again)
        this.#driver.removeEventListener('leader', onLeader)
        this.#driver.removeEventListener('dropped', onDropped)
        signal.removeEventListener('abort', onAbort)
      }
      function done (outcome: ApplyOutcome): void { cleanup(); resolve(outcome) }
      function fail (error: Error): void { cleanup(); reject(error) }
      const onAbort = (): void => { cleanup(); this.#driver.forget(client, seq); reject(signal.reason) }
      this.#driver.addEventListener('leader', onLeader)
      this.#driver.addEventListener('dropped', onDropped)
      signal.addEventListener('abort', onAbort, { once: true })
      attempt()
    })
  }

  async #withDeadline<T> (what: string, options: RequestOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = AbortSignal.any(options.signal === undefined ? [timeout, this.#leaving.signal] : [options.signal, timeout, this.#leaving.signal])
    try {
      return await fn(signal)
    } catch (err) {
      if (this.#leaving.signal.aborted) throw this.#leaving.signal.reason
      if (options.signal?.aborted === true) throw new AbortedError(`${what} was aborted`, { cause: err })
      if (timeout.aborted) {
        const leader = this.#driver.leader
        if (leader === null) throw new NoLeaderError(`${what}: no leader within ${timeoutMs} ms`, { cause: err })
        throw new TimeoutError(`${what} was not committed within ${timeoutMs} ms (leader ${leader})`, { cause: err })
      }
      throw err
    }
  }

  async #nextLeaderEvent (signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const done = (): void => { this.#driver.removeEventListener('leader', done); signal.removeEventListener('abort', onAbort); resolve() }
      const onAbort = (): void => { this.#driver.removeEventListener('leader', done); reject(signal.reason) }
      this.#driver.addEventListener('leader', done)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  async #pause (signal: AbortSignal): Promise<void> {
    if (this.#driver.leader === null) {
      await Promise.race([this.#nextLeaderEvent(signal), sleep(this.#driver.options.electionMs, signal)])
    } else {
      await sleep(this.#driver.options.heartbeatMs, signal)
    }
  }

  /** SPEC raft R13: the leader feeds the replicated clock that lock leases are measured on. */
  #tickClock (): void {
    if (this.#left || !this.isLeader() || !(this.#driver.machine instanceof BuiltInKv)) return
    this.#ticks++
    if (this.#driver.machine.machine.locks.size > 0 || this.#ticks >= IDLE_CLOCK_TICKS) this.#proposeTime()
  }

  /**
   * SPEC raft R13: propose the monotonic time elapsed since this leader's previous `time` entry (0 for
   * the first of a term: what happened under another leader is that leader's to count). A wall-clock
   * step moves nothing; time this leader loses (a dropped entry) only makes leases last longer.
   */
  #proposeTime (): void {
    if (!(this.#driver.machine instanceof BuiltInKv) || this.#driver.stopped) return
    this.#ticks = 0
    const nowMs = systemClock.nowMs()
    const term = this.#driver.core.term
    const elapsedMs = term === this.#timeProposedTerm ? Math.max(0, Math.round(nowMs - this.#timeProposedAtMs)) : 0
    this.#timeProposedAtMs = nowMs
    this.#timeProposedTerm = term
    this.#driver.proposeUntracked(encodeKvCommand({ op: 'time', elapsedMs }))
  }
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) { reject(signal.reason); return }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(t); reject(signal!.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
