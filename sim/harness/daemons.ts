// Nodes as users run them: each an `npm run node` daemon (node/cli.ts) in its own OS process with a
// data dir, loopback TCP and the HTTP API, read from the outside through /proc (Linux), so a
// figure per node is one real process's CPU time and RSS, not a share of a simulator process.

import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const CLI_PATH = fileURLToPath(new URL('../../node/cli.ts', import.meta.url))
/** How long a daemon may take to print its `ready` line (libp2p load on 2 busy cores). */
export const DAEMON_READY_TIMEOUT_MS = 60_000
/** How long a daemon gets to exit after SIGTERM before it is killed. */
const DAEMON_STOP_TIMEOUT_MS = 10_000
const MB = 1024 * 1024

/** What /proc says about one process: CPU time so far (user + system) and resident memory. */
export interface ProcSample { cpuMs: number, rssBytes: number }

/** Why daemons cannot be measured here, or null on Linux with /proc. */
export function procMissing (): string | null {
  try { readFileSync('/proc/self/stat', 'utf8'); return null } catch { return 'the daemons mode reads /proc (Linux only)' }
}

const clockTicksPerS = ((): number => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const n = Number(out.stdout?.trim())
  return Number.isInteger(n) && n > 0 ? n : 100 // 100 Hz is Linux's USER_HZ on every common build
})()

/** CPU time and RSS of process `pid` from /proc. */
export function procSample (pid: number): ProcSample {
  // the command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat)
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  return { cpuMs: ticks * 1000 / clockTicksPerS, rssBytes: rssKb * 1024 }
}

/** RSS of a Node.js process of the same binary that loaded nothing: what any daemon costs before agentmesh. */
export async function emptyProcessRssBytes (): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1 << 30)'], { stdio: ['ignore', 'pipe', 'ignore'] })
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject)
      child.stdout.once('data', () => { resolve() })
    })
    await new Promise((resolve) => setTimeout(resolve, 500))
    return procSample(child.pid!).rssBytes
  } finally {
    child.kill('SIGKILL')
  }
}

/** One running daemon. */
export interface Daemon {
  pid: number
  peerId: string
  addresses: string[]
  api: string
  token: string
}

/** N daemons: the first listens, the others join it with `--peer`. */
export class DaemonMesh {
  readonly daemons: Daemon[] = []
  readonly #children: ChildProcess[] = []
  readonly #dir = mkdtempSync(join(tmpdir(), 'agentmesh-daemons-'))

  async start (count: number, onReady: (i: number) => void): Promise<void> {
    for (let i = 0; i < count; i++) {
      const dataDir = join(this.#dir, `n${i}`)
      const peer = i === 0 ? [] : ['--peer', this.daemons[0]!.addresses[0]!]
      const child = spawn(process.execPath, [CLI_PATH, '--data-dir', dataDir, '--name', `n${i}`, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--json', ...peer], { stdio: ['ignore', 'pipe', 'pipe'] })
      this.#children.push(child)
      let stderr = ''
      child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000) })
      const ready = await new Promise<{ peerId: string, addresses: string[], api: string }>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`daemon n${i} printed no ready line within ${DAEMON_READY_TIMEOUT_MS} ms; stderr: ${stderr}`)) }, DAEMON_READY_TIMEOUT_MS)
        child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon n${i} exited with ${String(code)} before ready; stderr: ${stderr}`)) })
        createInterface({ input: child.stdout! }).on('line', (line) => {
          let event: { event?: string, peerId?: string, addresses?: string[], api?: string }
          try { event = JSON.parse(line) } catch { return } // not an NDJSON line: not the one awaited
          if (event.event === 'ready') { clearTimeout(timer); resolve({ peerId: event.peerId!, addresses: event.addresses!, api: event.api! }) }
        })
      })
      const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim()
      this.daemons.push({ pid: child.pid!, ...ready, token })
      onReady(i)
    }
  }

  /** Peers each daemon reports alive (its `getNode` through the HTTP API). */
  async alivePeers (): Promise<number[]> {
    return await Promise.all(this.daemons.map(async (d) => {
      const res = await fetch(`${d.api}/v1/node`, { headers: { authorization: `Bearer ${d.token}` } })
      if (!res.ok) throw new Error(`getNode on ${d.peerId} answered ${res.status}`)
      const body = await res.json() as { peers: Array<{ status: string }> }
      return body.peers.filter((p) => p.status === 'alive').length
    }))
  }

  /** SIGTERM every daemon (clean shutdown), SIGKILL the ones still up after a grace period. */
  async stop (): Promise<void> {
    await Promise.all(this.#children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => { child.once('exit', resolve) })
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, DAEMON_STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }))
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

export const toMb = (bytes: number): number => Math.round(100 * bytes / MB) / 100
