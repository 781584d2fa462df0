// Simulated clients of a raft cluster: KV puts and linearizable reads, lock/unlock with fencing
// tokens, and the leader-proposed clock; each op is recorded as invoke/return for the checker.
// Writes go through the driver's propose (waiters, group commit), reads through its ReadIndex
// path (read contexts, forwarding to the leader, waiting for the apply index).

import { encodeKvCommand } from '../../protocols/raft/kv.ts'
import type { KvCommand, KvResult } from '../../protocols/raft/kv.ts'
import type { ApplyOutcome } from '../../protocols/raft/state-machine.ts'
import type { SimCluster } from './cluster.ts'
import type { Operation } from './linearizability.ts'
import type { KvInput, LockInput, LockOutput } from './models.ts'

/** Time one attempt waits for an answer before trying another node. */
export const ATTEMPT_TIMEOUT_MS = 250
/**
 * A client retries an operation (same request id, so it applies once — SPEC raft R12) until this
 * long after the workload stops; giving up earlier would leave many unknown outcomes, which make
 * the linearizability search exponential.
 */
export const GIVE_UP_AFTER_STOP_MS = 300

/** The recorded histories. */
export interface Histories {
  kv: Array<Operation<KvInput, string | null>>
  lock: Array<Operation<LockInput, LockOutput>>
}

/** Drives the clients of one simulated run. */
export class Workload {
  readonly histories: Histories = { kv: [], lock: [] }
  readonly #cluster: SimCluster
  #logical = 0
  #stopAtMs: number
  #seqOf = new Map<string, number>()
  #clockProposedAtMs = 0
  completed = 0
  gaveUp = 0
  /** Completion latency of each finished op, in virtual ms. */
  readonly latenciesMs: number[] = []

  constructor (cluster: SimCluster, stopAtMs: number) {
    this.#cluster = cluster
    this.#stopAtMs = stopAtMs
  }

  /** Start `kvClients` KV clients, `lockClients` lock clients, one reader per node, and the clock proposer. */
  start (kvClients: number, lockClients: number): void {
    for (let i = 0; i < kvClients; i++) this.#cluster.at(this.#cluster.rng.int(1, 50), () => this.#kvLoop(`kv${i}`))
    for (const id of this.#cluster.nodes.keys()) {
      // a read-only client attached to one node: a stale leader would serve it stale values
      this.#stickyNode.set(`rd-${id}`, id)
      this.#cluster.at(this.#cluster.rng.int(1, 50), () => this.#readerLoop(`rd-${id}`, id))
    }
    for (let i = 0; i < lockClients; i++) this.#cluster.at(this.#cluster.rng.int(1, 50), () => this.#lockLoop(`lk${i}`, 0))
    this.#cluster.at(20, () => this.#clockLoop())
  }

  /** Clients stick to the node that last answered them (as real clients keep a connection). */
  #stickyNode = new Map<string, string>()

  #pickNode (): string {
    const ids = [...this.#cluster.nodes.keys()]
    return ids[this.#cluster.rng.int(0, ids.length - 1)]!
  }

  #nodeFor (client: string): string { return this.#stickyNode.get(client) ?? this.#pickNode() }

  #kvLoop (client: string): void {
    const c = this.#cluster
    if (c.now >= this.#stopAtMs) return
    const key = c.rng.chance(0.5) ? 'x' : 'y'
    const next = (): void => c.at(c.now + c.rng.int(1, 30), () => this.#kvLoop(client))
    if (c.rng.chance(0.5)) {
      const value = `${client}-${c.now}-${c.rng.int(0, 1e6)}`
      const op: Operation<KvInput, string | null> = { client, input: { op: 'put', key, value }, output: undefined, call: ++this.#logical, ret: Infinity }
      this.histories.kv.push(op)
      op.id = this.#write(client, { op: 'put', key, value }, (r) => {
        if (r !== null) { op.output = 'value' in r ? r.value : null; op.ret = ++this.#logical }
        next()
      })
    } else {
      const op: Operation<KvInput, string | null> = { client, input: { op: 'get', key }, output: undefined, call: ++this.#logical, ret: Infinity }
      this.#read(client, key, (v, ok) => {
        if (ok) { op.output = v; op.ret = ++this.#logical; this.histories.kv.push(op) } // a read that never returned has no effect
        next()
      })
    }
  }

  #readerLoop (client: string, home: string): void {
    const c = this.#cluster
    if (c.now >= this.#stopAtMs) return
    const key = c.rng.chance(0.5) ? 'x' : 'y'
    const op: Operation<KvInput, string | null> = { client, input: { op: 'get', key }, output: undefined, call: ++this.#logical, ret: Infinity }
    this.#read(client, key, (v, ok) => {
      if (ok) { op.output = v; op.ret = ++this.#logical; this.histories.kv.push(op) }
      this.#stickyNode.set(client, home)
      c.at(c.now + c.rng.int(5, 40), () => this.#readerLoop(client, home))
    })
  }

  #lockLoop (owner: string, token: number): void {
    const c = this.#cluster
    if (c.now >= this.#stopAtMs) return
    const input: LockInput = token === 0 ? { op: 'lock', owner, ttlMs: c.rng.int(50, 300) } : { op: 'unlock', owner, token }
    const op: Operation<LockInput, LockOutput> = { client: owner, input, output: undefined, call: ++this.#logical, ret: Infinity }
    this.histories.lock.push(op)
    const command: KvCommand = input.op === 'lock' ? { op: 'lock', resource: 'L', owner, ttlMs: input.ttlMs } : { op: 'unlock', resource: 'L', owner, token }
    op.id = this.#write(owner, command, (r) => {
      let nextToken = 0
      if (r !== null && 'granted' in r) {
        op.output = { granted: r.granted, token: r.token }
        op.ret = ++this.#logical
        if (input.op === 'lock' && r.granted) nextToken = r.token
      }
      c.at(c.now + c.rng.int(1, 60), () => this.#lockLoop(owner, nextToken))
    })
  }

  /** SPEC raft R13: lease time is a replicated `time` entry proposed through the leader. */
  #clockLoop (): void {
    const c = this.#cluster
    if (c.now >= this.#stopAtMs) return
    const leader = c.leader()
    const again = (): void => c.at(c.now + 25, () => this.#clockLoop())
    if (leader === undefined) { again(); return }
    const elapsedMs = c.now - this.#clockProposedAtMs // SPEC raft R13: the time since the previous step
    this.#clockProposedAtMs = c.now
    const op: Operation<LockInput, LockOutput> = { client: 'clock', input: { op: 'time', elapsedMs }, output: undefined, call: ++this.#logical, ret: Infinity }
    this.histories.lock.push(op)
    op.id = this.#write('clock', { op: 'time', elapsedMs }, (r) => {
      if (r !== null) { op.output = { granted: true, token: 0 }; op.ret = ++this.#logical }
      again()
    }, leader.id)
  }

  /** Propose `command` with retries (same request id: applied once, SPEC raft R12); `done(null)` if it gave up. */
  #write (client: string, command: KvCommand, done: (r: KvResult | null) => void, firstNode?: string): string {
    const c = this.#cluster
    const seq = (this.#seqOf.get(client) ?? 0) + 1
    this.#seqOf.set(client, seq)
    const key = `${client}/${seq}`
    const data = encodeKvCommand(command)
    const started = c.now
    let finished = false
    const attempt = (n: number, nodeId: string): void => {
      if (finished) return
      if (c.now > this.#stopAtMs + GIVE_UP_AFTER_STOP_MS) { finished = true; this.gaveUp++; done(null); return }
      const node = c.node(nodeId)
      const retry = (): void => {
        node.driver?.forget(client, seq)
        node.dropListeners.delete(key)
        this.#stickyNode.delete(client)
        attempt(n + 1, this.#pickNode())
      }
      const timer = { cancelled: false }
      const driver = node.driver
      if (driver !== null) {
        node.dropListeners.set(key, () => { timer.cancelled = true; c.at(c.now + 10, retry) })
        const onOutcome = (outcome: ApplyOutcome): void => {
          if (finished) return
          finished = true; timer.cancelled = true; this.completed++; this.latenciesMs.push(c.now - started)
          this.#stickyNode.set(client, nodeId)
          done(outcome.ok ? outcome.value as KvResult : { ok: false, error: outcome.error })
        }
        try {
          driver.propose(data, client, seq, onOutcome, () => { timer.cancelled = true; c.at(c.now + 10, retry) })
        } catch (err) {
          c.note(`${client} propose on ${nodeId} refused (the attempt times out): ${(err as Error).message}`)
        }
      }
      c.at(c.now + ATTEMPT_TIMEOUT_MS, () => { if (!timer.cancelled && !finished) retry() })
    }
    attempt(1, firstNode ?? this.#nodeFor(client))
    return key
  }

  /** A ReadIndex read of `key` through the driver's read path, with retries; `done(_, false)` if it gave up. */
  #read (client: string, key: string, done: (v: string | null, ok: boolean) => void): void {
    const c = this.#cluster
    const started = c.now
    let finished = false
    const attempt = (nodeId: string): void => {
      if (finished) return
      if (c.now > this.#stopAtMs + GIVE_UP_AFTER_STOP_MS) { finished = true; this.gaveUp++; done(null, false); return }
      const node = c.node(nodeId)
      const driver = node.driver
      const machine = node.machine
      const abort = new AbortController()
      let retried = false
      const retry = (delayMs: number): void => {
        if (retried || finished) return
        retried = true
        abort.abort(new Error('read attempt timed out'))
        this.#stickyNode.delete(client)
        c.at(c.now + delayMs, () => { attempt(this.#pickNode()) })
      }
      c.at(c.now + ATTEMPT_TIMEOUT_MS, () => { retry(0) })
      if (driver === null || machine === null) return // the node is down: the attempt times out
      driver.readIndex(abort.signal)
        .then(async (index) => { await driver.waitApplied(index, abort.signal) })
        .then(() => {
          if (finished || retried) return
          finished = true; this.completed++; this.latenciesMs.push(c.now - started)
          this.#stickyNode.set(client, nodeId)
          done(machine.read(key), true)
        }, () => { if (!abort.signal.aborted) retry(10) }) // dropped (no leader, leadership lost): try again soon
    }
    attempt(this.#nodeFor(client))
  }

  /** Propose one write after the faults stop and report when it is applied (liveness probe). */
  probe (done: (atMs: number) => void): void {
    this.#write('probe', { op: 'put', key: 'probe', value: String(this.#cluster.now) }, (r) => { if (r !== null) done(this.#cluster.now) }, this.#cluster.leader()?.id)
  }
}
