// The etcd 3.4 baseline of the Raft scenarios (`--baseline etcd`): an etcd cluster of N members, one
// OS process each on loopback, started here with the same heartbeat and election timings as the
// agentmesh group, its WAL fsynced (etcd's default). Clients talk gRPC through the `etcd3` package,
// one client per member, so a write "through a follower" goes to that member as a user's would.

import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { freePort } from '../harness/free-port.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'

/** How long a fresh cluster gets to elect a leader. */
const ETCD_START_TIMEOUT_MS = 30_000
/** Status probes of a member that is paused or down give up after this long. */
const STATUS_TIMEOUT_MS = 500
/** A live member asked for its term: long enough for a loaded machine, short beside a run. */
const TERM_TIMEOUT_MS = 5_000

export interface EtcdClusterOptions {
  nodes: number
  heartbeatMs: number
  electionMs: number
}

interface Member {
  name: string
  clientPort: number
  peerPort: number
  process: ChildProcess | null
  client: Etcd3
}

/** Why the baseline cannot run here, or null when `etcd` is installed. */
export function etcdMissing (): string | null {
  const which = spawnSync('etcd', ['--version'], { encoding: 'utf8' })
  if (which.error !== undefined || which.status !== 0) return 'etcd not found (Debian: apt-get install -y etcd-server); the etcd baseline was not run'
  return null
}

/** The installed etcd's version line, e.g. "3.4.23". */
export function etcdVersion (): string {
  const out = spawnSync('etcd', ['--version'], { encoding: 'utf8' }).stdout
  return /etcd Version: (\S+)/.exec(out)?.[1] ?? 'unknown'
}

/** An etcd cluster on loopback in a temporary directory, removed on `stop()`. */
export class EtcdCluster {
  readonly #dir: string
  readonly #members: Member[]
  readonly #options: EtcdClusterOptions

  private constructor (dir: string, members: Member[], options: EtcdClusterOptions) {
    this.#dir = dir
    this.#members = members
    this.#options = options
  }

  /** Start N members and wait until one of them leads. */
  static async start (options: EtcdClusterOptions): Promise<EtcdCluster> {
    const missing = etcdMissing()
    if (missing !== null) throw new Error(missing)
    const { Etcd3 } = await import('etcd3')
    const { noop } = await import('cockatiel')
    const dir = mkdtempSync(join(tmpdir(), 'agentmesh-etcd-'))
    const members: Member[] = []
    for (let i = 0; i < options.nodes; i++) {
      const clientPort = await freePort()
      const peerPort = await freePort()
      // no retries in the client: a put that fails is retried (and timed) by the scenario
      const client = new Etcd3({ hosts: `http://127.0.0.1:${clientPort}`, faultHandling: { global: noop, host: () => noop } })
      members.push({ name: `e${i}`, clientPort, peerPort, process: null, client })
    }
    const cluster = new EtcdCluster(dir, members, options)
    for (let i = 0; i < members.length; i++) cluster.#spawn(i)
    try {
      await cluster.waitForLeader(ETCD_START_TIMEOUT_MS)
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  get size (): number { return this.#members.length }

  /** Client URL of member `i` (gRPC and HTTP on one port), for clients in other processes. */
  clientUrl (i: number): string { return `http://127.0.0.1:${this.#members[i]!.clientPort}` }

  /**
   * CPU time (user + system, ms) the running members used so far, from /proc/<pid>/stat (Linux;
   * null elsewhere). Fields 14 and 15 count clock ticks of USER_HZ, which is 100 on Linux.
   */
  cpuMs (): number | null {
    let total = 0
    for (const m of this.#members) {
      const pid = m.process?.pid
      if (pid === undefined) continue
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      } catch {
        return null // no procfs here: the figure is simply not available
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // after "pid (comm) ": field 3 is fields[0]
      total += (Number(fields[11]) + Number(fields[12])) * 10
    }
    return total
  }

  /** WAL fsyncs member `i` has done so far, from its Prometheus metrics (`etcd_disk_wal_fsync_duration_seconds_count`). */
  async walFsyncs (i: number): Promise<number> {
    const text = await (await fetch(`${this.clientUrl(i)}/metrics`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS * 4) })).text()
    const line = /^etcd_disk_wal_fsync_duration_seconds_count (\S+)$/m.exec(text)
    if (line === null) throw new Error(`etcd member ${i} exposes no etcd_disk_wal_fsync_duration_seconds_count metric`)
    return Number(line[1])
  }

  #spawn (i: number): void {
    const m = this.#members[i]!
    const initialCluster = this.#members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',')
    m.process = spawn('etcd', [
      '--name', m.name,
      '--data-dir', join(this.#dir, m.name),
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', String(this.#options.heartbeatMs),
      '--election-timeout', String(this.#options.electionMs),
      '--log-level', 'error'
    ], { stdio: 'ignore' })
  }

  /** The index of the member that leads now, as the members report it (null if none answers as leader). */
  async leader (): Promise<number | null> {
    const statuses = await this.#statuses()
    for (let i = 0; i < statuses.length; i++) {
      const s = statuses[i]
      if (s != null && s.leader === s.header.member_id) return i
    }
    return null
  }

  /**
   * The index of the leader when every member answers and all name the same leader, which says so
   * itself (null otherwise): a member that has just taken over, or one still following an old
   * leader, makes the cluster not settled yet.
   */
  async agreedLeader (): Promise<number | null> {
    const statuses = await this.#statuses()
    if (statuses.some((s) => s == null)) return null
    const leader = statuses[0]!.leader
    if (statuses.some((s) => s!.leader !== leader)) return null
    const i = statuses.findIndex((s) => s!.header.member_id === leader)
    return i >= 0 ? i : null
  }

  /** Member `i`'s raft term (a live member; rejects if it does not answer within TERM_TIMEOUT_MS). */
  async term (i: number): Promise<number> {
    const s = await this.#members[i]!.client.maintenance.status({ deadline: Date.now() + TERM_TIMEOUT_MS })
    return Number(s.raftTerm)
  }

  /** Wait until every member agrees on one leader (see agreedLeader). */
  async waitForAgreedLeader (timeoutMs = ETCD_START_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const l = await this.agreedLeader()
      if (l !== null) return l
      if (Date.now() > deadline) throw new Error(`etcd members did not agree on a leader within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async #statuses (): Promise<Array<Awaited<ReturnType<Etcd3['maintenance']['status']>> | null>> {
    return Promise.all(this.#members.map(async (m) => {
      if (m.process === null) return null
      try {
        return await m.client.maintenance.status({ deadline: Date.now() + STATUS_TIMEOUT_MS })
      } catch {
        return null // paused, down or starting: its status is simply unknown this round
      }
    }))
  }

  async waitForLeader (timeoutMs = ETCD_START_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const l = await this.leader()
      if (l !== null) return l
      if (Date.now() > deadline) throw new Error(`no etcd leader within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** One put through member `i`; rejects if it does not commit within `timeoutMs`. */
  async put (i: number, key: string, value: string, timeoutMs: number): Promise<void> {
    await this.#members[i]!.client.put(key).value(value).options({ deadline: Date.now() + timeoutMs }).exec()
  }

  /** SIGKILL member `i` (the kernel resets its connections). */
  kill (i: number): void {
    const m = this.#members[i]!
    m.process?.kill('SIGKILL')
    m.process = null
  }

  /** Start a killed member again on its data dir. */
  restart (i: number): void {
    if (this.#members[i]!.process === null) this.#spawn(i)
  }

  /** SIGSTOP member `i`: its connections stay open and silent. */
  pause (i: number): void { this.#members[i]!.process?.kill('SIGSTOP') }

  resume (i: number): void { this.#members[i]!.process?.kill('SIGCONT') }

  async stop (): Promise<void> {
    for (const m of this.#members) {
      m.client.close()
      if (m.process !== null) {
        const p = m.process
        const exited = new Promise((resolve) => { p.once('exit', resolve) })
        p.kill('SIGCONT')
        p.kill('SIGKILL')
        await exited
        m.process = null
      }
    }
    rmSync(this.#dir, { recursive: true, force: true })
  }
}
