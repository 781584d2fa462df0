// N agent nodes as N OS processes over loopback TCP, each with its own data dir, all joined to
// one raft group: start, call, SIGKILL, restart and partition them (real-node tests, benchmarks).

import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { WorkerCommand, WorkerStatus } from './node-worker.ts'

const WORKER = fileURLToPath(new URL('./node-worker.ts', import.meta.url))
/** How long a worker may take to start its node (the machine may be loaded). */
export const WORKER_START_TIMEOUT_MS = 30_000

/** Options of a process cluster. */
export interface ProcessClusterOptions { nodes: number, group?: string, heartbeatMs?: number, electionMs?: number }

interface Worker { child: ChildProcess | null, peerId: string, addresses: string[], dataDir: string, alive: boolean, calls: Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }> }

/** A cluster of node processes in one raft group. */
export class ProcessCluster {
  readonly group: string
  readonly heartbeatMs: number
  readonly electionMs: number
  readonly workers: Worker[] = []
  readonly #root: string
  #nextCall = 0

  private constructor (root: string, options: ProcessClusterOptions) {
    this.#root = root
    this.group = options.group ?? 'bench'
    this.heartbeatMs = options.heartbeatMs ?? 100
    this.electionMs = options.electionMs ?? 1000
  }

  /** Start `nodes` processes, connect them, and join every one to the group. */
  static async start (options: ProcessClusterOptions): Promise<ProcessCluster> {
    const root = await mkdtemp(join(tmpdir(), 'agentmesh-raft-'))
    const cluster = new ProcessCluster(root, options)
    try {
      for (let i = 0; i < options.nodes; i++) cluster.workers.push({ child: null, peerId: '', addresses: [], dataDir: join(root, `n${i}`), alive: false, calls: new Map() })
      await Promise.all(cluster.workers.map(async (_, i) => cluster.#spawn(i)))
      await Promise.all(cluster.workers.map(async (_, i) => cluster.call(i, { op: 'dial', addrs: cluster.#otherAddresses(i) })))
      await Promise.all(cluster.workers.map(async (_, i) => cluster.#join(i)))
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  get members (): string[] { return this.workers.map((w) => w.peerId) }

  /** Send a command to worker `i` and wait for its reply. */
  async call (i: number, command: WorkerCommand): Promise<any> {
    const w = this.workers[i]!
    if (!w.alive || w.child === null) throw new Error(`worker ${i} is not running`)
    const id = this.#nextCall++
    return new Promise((resolve, reject) => {
      w.calls.set(id, { resolve, reject })
      w.child!.send({ id, command })
    })
  }

  /** Status of the group at every live worker (null for dead ones). */
  async statuses (): Promise<Array<WorkerStatus | null>> {
    return Promise.all(this.workers.map(async (w, i) => w.alive ? this.call(i, { op: 'status', group: this.group }) as Promise<WorkerStatus> : null))
  }

  /** Index of the worker that a majority of live workers agree is leader and that thinks so itself. */
  async waitForLeader (timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const s = await this.statuses()
      const leader = s.findIndex((x) => x?.isLeader === true)
      if (leader >= 0 && s.filter((x) => x?.leader === this.workers[leader]!.peerId).length > this.workers.length / 2) return leader
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error(`no leader within ${timeoutMs} ms`)
  }

  /** kill -9 worker `i`. */
  kill (i: number): void {
    const w = this.workers[i]!
    w.alive = false
    w.child?.kill('SIGKILL')
    for (const c of w.calls.values()) c.reject(new Error(`worker ${i} was killed`))
    w.calls.clear()
  }

  /**
   * SIGSTOP worker `i`: the process and its connections stay, but it answers nothing (a hung
   * host, a long GC pause, a VM frozen). No call goes to it until `resume`.
   */
  pause (i: number): void {
    const w = this.workers[i]!
    w.alive = false
    w.child?.kill('SIGSTOP')
  }

  /** SIGCONT worker `i` after `pause`: it carries on from where it stopped. */
  resume (i: number): void {
    const w = this.workers[i]!
    w.child?.kill('SIGCONT')
    w.alive = w.child !== null && w.child.exitCode === null
  }

  /** Start worker `i` again with its data dir, reconnect it and join the group. */
  async restart (i: number): Promise<void> {
    await this.#spawn(i)
    await this.call(i, { op: 'dial', addrs: this.#otherAddresses(i) })
    await this.#join(i)
  }

  /** Cut every link between the two sides (connection gater + hang up), both directions. */
  async partition (sideA: number[], sideB: number[]): Promise<void> {
    const ids = (side: number[]): string[] => side.map((i) => this.workers[i]!.peerId)
    await Promise.all([
      ...sideA.filter((i) => this.workers[i]!.alive).map(async (i) => this.call(i, { op: 'block', peers: ids(sideB) })),
      ...sideB.filter((i) => this.workers[i]!.alive).map(async (i) => this.call(i, { op: 'block', peers: ids(sideA) }))
    ])
  }

  /** Remove every block and reconnect everyone. */
  async heal (): Promise<void> {
    const live = this.workers.map((w, i) => i).filter((i) => this.workers[i]!.alive)
    await Promise.all(live.map(async (i) => this.call(i, { op: 'unblock' })))
    await Promise.all(live.map(async (i) => this.call(i, { op: 'dial', addrs: this.#otherAddresses(i) })))
  }

  /** Stop every worker and delete the data dirs. */
  async stop (): Promise<void> {
    await Promise.all(this.workers.map(async (w, i) => {
      if (!w.alive) return
      const exited = new Promise((resolve) => w.child!.once('exit', resolve))
      await this.call(i, { op: 'stop' }).catch(() => undefined)
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))])
      this.kill(i)
    }))
    await rm(this.#root, { recursive: true, force: true })
  }

  #otherAddresses (i: number): string[] { return this.workers.filter((_, j) => j !== i && this.workers[j]!.alive).flatMap((w) => w.addresses) }

  async #join (i: number): Promise<void> {
    await this.call(i, { op: 'join', group: this.group, members: this.members, heartbeatMs: this.heartbeatMs, electionMs: this.electionMs })
  }

  async #spawn (i: number): Promise<void> {
    const w = this.workers[i]!
    const child = fork(WORKER, [], { env: { ...process.env, AGENTMESH_WORKER: JSON.stringify({ dataDir: w.dataDir }) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    w.child = child
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`worker ${i} did not start within ${WORKER_START_TIMEOUT_MS} ms`)) }, WORKER_START_TIMEOUT_MS)
      child.on('message', (raw) => {
        const m = raw as { ready?: boolean, peerId: string, addresses: string[], id: number, ok: boolean, result: unknown, error: string }
        if (m.ready === true) {
          clearTimeout(timer)
          w.peerId = m.peerId
          w.addresses = m.addresses
          w.alive = true
          resolve()
          return
        }
        const call = w.calls.get(m.id)
        if (call === undefined) return
        w.calls.delete(m.id)
        if (m.ok) call.resolve(m.result); else call.reject(new Error(m.error))
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        if (w.child !== child) return // an earlier incarnation, already replaced
        if (!w.alive) reject(new Error(`worker ${i} exited with ${String(code)} before it was ready`))
        w.alive = false
        for (const c of w.calls.values()) c.reject(new Error(`worker ${i} exited`))
        w.calls.clear()
      })
    })
  }
}
