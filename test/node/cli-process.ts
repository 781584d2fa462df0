// A real `node node/cli.ts` process (Node 24, the test runner's own binary) whose stdout,
// stderr and exit are collected as they arrive, for end-to-end CLI tests.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
/** Slack for a node to start on a busy 2-core machine (module loading dominates). */
export const START_MS = 30_000

/** One JSON line a `--json` CLI printed. */
export type Line = { event: string, peerId?: string, addresses?: string[], [key: string]: unknown }

/** A running CLI process with its output collected as it arrives. */
export class CliProcess {
  readonly child: ChildProcess
  readonly lines: Line[] = []
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly #waiters = new Set<() => void>()

  constructor (args: string[]) {
    this.child = spawn(process.execPath, ['node/cli.ts', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
    let partial = ''
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk
      partial += chunk
      const complete = partial.split('\n')
      partial = complete.pop()!
      // --json promises that stdout holds only JSON lines: JSON.parse throws (and the test fails) otherwise.
      if (args.includes('--json')) for (const line of complete) if (line !== '') this.lines.push(JSON.parse(line) as Line)
      this.#wake()
    })
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; this.#wake() })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => { this.#wake(); resolve({ code, signal }) })
    })
  }

  #wake (): void {
    for (const waiter of this.#waiters) waiter()
  }

  /** Resolve once `condition` holds over the output so far; fail after `timeoutMs` naming `what`. */
  async until<T> (condition: () => T | undefined, what: string, timeoutMs = START_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const value = condition()
        if (value === undefined) {
          if (this.child.exitCode !== null || this.child.signalCode !== null) finish(new Error(`the CLI exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr:\n${this.stderr}`))
          return
        }
        finish(undefined, value)
      }
      const finish = (err: Error | undefined, value?: T): void => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        if (err !== undefined) reject(err); else resolve(value as T)
      }
      const timer = setTimeout(() => { finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`)) }, timeoutMs)
      this.#waiters.add(check)
      check()
    })
  }

  /** The `ready` line. */
  async ready (): Promise<Line> {
    return this.until(() => this.lines.find(l => l.event === 'ready'), 'the ready line')
  }

  /** Kill it if it still runs (after hooks: whatever happened in the test). */
  kill (): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }
}
