// One `--exec` child process: spawned without a shell in its own process group, NDJSON on its
// stdin/stdout, stderr forwarded line by line to the node's log, and a shutdown that leaves no
// process behind. Decides nothing: the supervisor says when to start, stop and restart.

import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { AgentMeshError } from '../../protocols/kit/errors.ts'
import type { Clock } from '../../protocols/kit/clock.ts'
import { LineSplitter } from './lines.ts'
import type { LineEvent } from './lines.ts'
import type { ShutdownTimings } from './policy.ts'

/** Longest stderr line forwarded whole: a stack trace line is far shorter; the rest is cut, not buffered. */
export const STDERR_LINE_BYTES_MAX = 16 * 1024

/** The `--exec` program could not be started (ENOENT, EACCES, …); the message names the command. */
export class SpawnError extends AgentMeshError {
  override name = 'SpawnError'
  /** The errno code (ENOENT, EACCES, EMFILE, …), when the OS gave one. */
  readonly errno: string | undefined
  constructor (message: string, errno: string | undefined, options?: ErrorOptions) {
    super('ERR_SPAWN', message, options)
    this.errno = errno
  }
}

/** How a child ended. */
export interface ChildExit { code: number | null, signal: NodeJS.Signals | null }

/** What a child needs from its supervisor. */
export interface ChildOptions {
  /** The command as the user wrote it, for messages. */
  command: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  clock: Clock
  /** One stdout event: a line, or a line over the bound. */
  onStdout: (event: LineEvent) => void
  /** The node's log (stderr lines arrive here prefixed). */
  log: (line: string) => void
}

/** A running child; `exited` resolves once the process is gone and its pipes are closed. */
export class ExecChild {
  readonly pid: number
  readonly exited: Promise<ChildExit>
  readonly #process: ChildProcessByStdio<Writable, Readable, Readable>
  readonly #options: ChildOptions
  #exit: ChildExit | undefined
  #stdinClosed = false

  private constructor (child: ChildProcessByStdio<Writable, Readable, Readable>, options: ChildOptions) {
    this.#process = child
    this.#options = options
    this.pid = child.pid!
    const prefix = `[exec ${this.pid}] `
    const stdout = new LineSplitter()
    child.stdout.on('data', (chunk: Buffer) => { for (const event of stdout.push(chunk)) options.onStdout(event) })
    child.stdout.on('end', () => { for (const event of stdout.end()) options.onStdout(event) })
    const stderr = new LineSplitter(STDERR_LINE_BYTES_MAX)
    const forward = (event: LineEvent): void => {
      options.log(event.kind === 'line' ? `${prefix}${event.text}` : `${prefix}(a stderr line over ${STDERR_LINE_BYTES_MAX} bytes was cut: STDERR_LINE_BYTES_MAX)`)
    }
    child.stderr.on('data', (chunk: Buffer) => { for (const event of stderr.push(chunk)) forward(event) })
    child.stderr.on('end', () => { for (const event of stderr.end()) forward(event) })
    // EPIPE when the child has gone: its exit is handled below; writes after it are dropped.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => { options.log(`${prefix}stdin closed (${err.code ?? err.message})`) })
    child.on('exit', (code, signal) => {
      this.#exit = { code, signal }
      // Anything the child left in its process group is an orphan now: no process is left behind.
      this.#signalGroup('SIGKILL')
    })
    this.exited = new Promise((resolve) => {
      // 'close' (not 'exit'): the pipes are drained too, so no line of the child's is lost.
      child.on('close', (code, signal) => { resolve(this.#exit ?? { code, signal }) })
    })
  }

  /** Spawn `argv` in its own process group; rejects with SpawnError naming the command. */
  static async spawn (argv: readonly string[], options: ChildOptions): Promise<ExecChild> {
    const [program, ...args] = argv
    let child: ChildProcessByStdio<Writable, Readable, Readable>
    try {
      child = spawn(program!, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group: signals go to the child and everything it started, and a Ctrl-C
        // on the node's terminal reaches the node only, which then shuts the child down in order.
        detached: true
      })
    } catch (err) {
      throw spawnError(options.command, err)
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { child.off('spawn', onSpawn); reject(spawnError(options.command, err)) }
      const onSpawn = (): void => { child.off('error', onError); resolve() }
      child.once('error', onError)
      child.once('spawn', onSpawn)
    })
    child.on('error', (err) => { options.log(`[exec ${child.pid}] process error: ${err.message}`) })
    return new ExecChild(child, options)
  }

  /** Write one line (with its newline); false once stdin is closed. */
  write (line: string): boolean {
    if (this.#stdinClosed || this.#exit !== undefined || !this.#process.stdin.writable) return false
    this.#process.stdin.write(line)
    return true
  }

  /** True until the process has exited. */
  get running (): boolean { return this.#exit === undefined }

  /** Close stdin: the child's cue to finish and exit. */
  closeStdin (): void {
    if (this.#stdinClosed) return
    this.#stdinClosed = true
    this.#process.stdin.end()
  }

  /** Stdin EOF, then SIGTERM to the group after `graceMs`, then SIGKILL after `termMs`; resolves on exit. */
  async stop (timings: ShutdownTimings): Promise<ChildExit> {
    this.closeStdin()
    const { clock } = this.#options
    const term = clock.setTimeout(() => {
      if (this.#exit !== undefined) return
      this.#options.log(`[exec ${this.pid}] still running ${timings.graceMs} ms after stdin closed: SIGTERM`)
      this.#signalGroup('SIGTERM')
    }, timings.graceMs)
    const kill = clock.setTimeout(() => {
      if (this.#exit !== undefined) return
      this.#options.log(`[exec ${this.pid}] still running ${timings.termMs} ms after SIGTERM: SIGKILL`)
      this.#signalGroup('SIGKILL')
    }, timings.graceMs + timings.termMs)
    try {
      return await this.exited
    } finally {
      term.cancel()
      kill.cancel()
    }
  }

  /** Signal the whole process group (the child is its leader); gone already is fine. */
  #signalGroup (signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') this.#options.log(`[exec ${this.pid}] could not send ${signal} to its process group: ${(err as Error).message}`)
    }
  }
}

/** A spawn failure as a SpawnError whose message names the command and suggests the fix. */
function spawnError (command: string, err: unknown): SpawnError {
  const errno = (err as NodeJS.ErrnoException).code
  const hint = errno === 'ENOENT'
    ? 'no such program (check its name and PATH, or give a path)'
    : errno === 'EACCES'
      ? 'permission denied (is it executable? chmod +x)'
      : errno === 'EMFILE' || errno === 'ENFILE'
        ? 'too many open files'
        : (err instanceof Error ? err.message : String(err))
  return new SpawnError(`cannot start the --exec command "${command}": ${hint}${errno !== undefined ? ` (${errno})` : ''}`, errno, { cause: err })
}
