// A real `node node/cli.ts --json` process for API tests: its NDJSON lines, its stderr, and
// waiting for a line without fixed sleeps.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const REPO = fileURLToPath(new URL('../../../', import.meta.url))
/** Slack for a node to start on a busy 2-core machine (module loading dominates). */
export const START_MS = 30_000

/** One JSON line the CLI printed. */
export type Line = { event: string, [key: string]: unknown }

/** A running CLI process started with --json. */
export class NodeProcess {
  readonly child: ChildProcess
  readonly lines: Line[] = []
  stderr = ''
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (args: string[]) {
    this.child = spawn(process.execPath, ['node/cli.ts', '--json', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
    let partial = ''
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk
      const complete = partial.split('\n')
      partial = complete.pop()!
      for (const line of complete) if (line !== '') this.lines.push(JSON.parse(line) as Line)
    })
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
    this.exited = new Promise((resolve) => { this.child.once('exit', (code, signal) => { resolve({ code, signal }) }) })
  }

  /** The ready line, once printed. */
  async ready (): Promise<Line> {
    const deadline = Date.now() + START_MS
    for (;;) {
      const ready = this.lines.find(l => l.event === 'ready')
      if (ready !== undefined) return ready
      if (this.child.exitCode !== null) throw new Error(`the node exited (${this.child.exitCode}) before its ready line; stderr:\n${this.stderr}`)
      if (Date.now() > deadline) throw new Error(`no ready line within ${START_MS} ms; stderr:\n${this.stderr}`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  }

  /** Stop it with SIGTERM and wait for the exit. */
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    await this.exited
  }
}
