// The --exec supervisor against real child processes (python3): tasks in and results out, a crash
// retried, spawn errors, a line over the bound, a child deaf to SIGTERM, the crash-loop breaker,
// and no child left after the supervising process is killed with SIGKILL. The queue side is a
// small in-memory board implementing the supervisor's ExecQueue port; the node's real queues are
// exercised through the CLI in test/node/exec.test.ts.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExecWorker } from '../../../src/exec/supervisor.ts'
import type { ExecClaimedTask, ExecEvent, ExecQueue, ExecWorkerOptions } from '../../../src/exec/supervisor.ts'
import { SpawnError } from '../../../src/exec/child.ts'
import type { ExecTaskError } from '../../../src/exec/messages.ts'

const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const PY_WORKER = join(REPO, 'node/examples/python/exec_worker.py')
const MISBEHAVE = join(REPO, 'test/src/exec/fixtures/misbehave.py')
/** Quick restarts so the tests do not wait out the production backoff. */
const FAST_RESTART = { backoff: { initialMs: 50, maxMs: 200 }, crashesMax: 3, windowMs: 60_000 }

/** Wait until `predicate` holds, polling: the events come from other processes. */
async function until (predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** An in-memory queue with retries: the task layer's worker contract, small enough to read. */
class Board implements ExecQueue {
  readonly pending: ExecClaimedTask[] = []
  readonly completed = new Map<string, { output: unknown, attempt: number }>()
  readonly failed: Array<{ taskId: string, error: ExecTaskError, retryable: boolean, attempt: number }> = []
  readonly lost = new Set<string>()
  readonly held = new Map<string, ExecClaimedTask>()
  #token = 1

  add (taskId: string, input: unknown, leaseMs = 60_000): void {
    this.pending.push({ taskId, attempt: 1, token: this.#token++, input, leaseMs })
  }

  async claim ({ max, waitMs, signal }: { max: number, waitMs: number, signal?: AbortSignal }): Promise<ExecClaimedTask[]> {
    const deadline = Date.now() + waitMs
    while (this.pending.length === 0 && Date.now() < deadline && signal?.aborted !== true) await new Promise(resolve => setTimeout(resolve, 10))
    const tasks = this.pending.splice(0, max)
    for (const task of tasks) this.held.set(task.taskId, task)
    return tasks
  }

  async renew (taskId: string, token: number): Promise<void> {
    if (this.lost.has(taskId) || this.held.get(taskId)?.token !== token) throw Object.assign(new Error(`task ${taskId}: stale lease`), { code: 'ERR_STALE_LEASE' })
  }

  async complete (taskId: string, token: number, output: unknown): Promise<void> {
    const task = this.#take(taskId, token)
    this.completed.set(taskId, { output, attempt: task.attempt })
  }

  async fail (taskId: string, token: number, error: ExecTaskError, { retryable }: { retryable: boolean }): Promise<void> {
    const task = this.#take(taskId, token)
    this.failed.push({ taskId, error, retryable, attempt: task.attempt })
    if (retryable) this.pending.push({ ...task, attempt: task.attempt + 1, token: this.#token++ })
  }

  #take (taskId: string, token: number): ExecClaimedTask {
    const task = this.held.get(taskId)
    assert.ok(task !== undefined && task.token === token, `a result for ${taskId} with token ${token} that the board did not hand out`)
    this.held.delete(taskId)
    return task
  }
}

/** A board that renews in batches, as node.tasks' renewAll does; `canceled` tasks come back as such. */
class BatchBoard extends Board {
  readonly batches: string[][] = []
  readonly canceled = new Set<string>()
  async renewAll (held: Array<{ taskId: string, token: number }>): Promise<{ lost: string[], canceled: string[] }> {
    this.batches.push(held.map(h => h.taskId).sort())
    return { lost: [], canceled: held.map(h => h.taskId).filter(id => this.canceled.has(id)) }
  }
}

describe('src/exec ExecWorker (real child processes)', function () {
  this.timeout(120_000)
  let worker: ExecWorker | undefined
  afterEach(async () => { await worker?.stop(); worker = undefined })

  function start (board: Board, options: Partial<ExecWorkerOptions> & Pick<ExecWorkerOptions, 'command'>): { worker: ExecWorker, events: ExecEvent[], log: string[], published: Array<{ topic: string, event: unknown }> } {
    const events: ExecEvent[] = []
    const log: string[] = []
    const published: Array<{ topic: string, event: unknown }> = []
    worker = new ExecWorker({
      host: { openQueue: async () => board, publish: async (topic, event) => { published.push({ topic, event }) } },
      restart: FAST_RESTART,
      shutdown: { graceMs: 2000, termMs: 1000 },
      log: (line) => { log.push(line) },
      onEvent: (event) => { events.push(event) },
      ...options
    })
    return { worker, events, log, published }
  }

  it('runs the Python example: tasks in, results and events out, stderr forwarded with the pid', async () => {
    const board = new Board()
    board.add('t1', { text: 'hello' })
    board.add('t2', { text: 'mesh' })
    board.add('t3', { nope: true })
    const { worker, log, published } = start(board, { command: `python3 ${PY_WORKER} upper` })
    await worker.start()
    await until(() => board.completed.size === 2 && board.failed.length === 1, 'two results and one failure')
    assert.deepEqual(board.completed.get('t1'), { output: { text: 'HELLO' }, attempt: 1 })
    assert.deepEqual(board.completed.get('t2'), { output: { text: 'MESH' }, attempt: 1 })
    assert.deepEqual(board.failed[0], { taskId: 't3', error: { type: 'ValueError', message: 'input must be {"text": "..."}' }, retryable: false, attempt: 1 })
    assert.deepEqual(published.map(p => p.topic), ['exec-demo', 'exec-demo'])
    assert.ok(log.some(l => /^\[exec \d+\] exec_worker: ready for upper$/.test(l)), log.join('\n'))
    assert.equal(worker.stats.progress, 3)
    const pid = worker.pid!
    await worker.stop()
    assert.throws(() => process.kill(pid, 0), /ESRCH/)
    assert.ok(log.some(l => /exec_worker: stdin closed; exiting/.test(l)), 'the child exits on stdin EOF, before any signal')
    assert.ok(!log.some(l => /SIGTERM/.test(l)))
  })

  it('a crash fails the held task as retryable, restarts the child, and the retry completes', async () => {
    const board = new Board()
    board.add('t1', { text: 'again' })
    const { worker, events } = start(board, { command: ['python3', PY_WORKER, 'upper', '--crash-on-attempt', '1'] })
    await worker.start()
    await until(() => board.completed.size === 1, 'the retried task to complete')
    assert.equal(board.failed.length, 1)
    assert.equal(board.failed[0]!.retryable, true)
    assert.equal(board.failed[0]!.error.type, 'WorkerCrashedError')
    assert.match(board.failed[0]!.error.message, /exited with code 3/)
    assert.deepEqual(board.completed.get('t1'), { output: { text: 'AGAIN' }, attempt: 2 })
    const exited = events.find(e => e.kind === 'exited')
    assert.ok(exited?.kind === 'exited' && exited.code === 3 && exited.restartInMs === 50)
    assert.equal(events.filter(e => e.kind === 'spawned').length, 2)
    assert.equal(worker.stats.crashes, 1)
  })

  it('a program that does not exist: SpawnError naming the command (ENOENT)', async () => {
    const { worker } = start(new Board(), { command: './no-such-worker --flag' })
    await assert.rejects(worker.start(), (err: unknown) => err instanceof SpawnError && err.errno === 'ENOENT' &&
      err.message === 'cannot start the --exec command "./no-such-worker --flag": no such program (check its name and PATH, or give a path) (ENOENT)')
  })

  it('a program that is not executable: SpawnError naming the command (EACCES)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'exec-'))
    const file = join(dir, 'worker.sh')
    await writeFile(file, '#!/bin/sh\nexit 0\n')
    await chmod(file, 0o644)
    const { worker } = start(new Board(), { command: [file] })
    await assert.rejects(worker.start(), (err: unknown) => err instanceof SpawnError && err.errno === 'EACCES' && err.message.includes(file) && /chmod \+x/.test(err.message))
  })

  it('a malformed line is logged and counted, and the child keeps running', async () => {
    const board = new Board()
    board.add('t1', 'x')
    const { worker, log } = start(board, { command: ['python3', MISBEHAVE, 'malformed'] })
    await worker.start()
    await until(() => board.completed.size === 1, 'the task to complete')
    assert.equal(worker.stats.linesMalformed, 2)
    assert.equal(worker.stats.spawns, 1)
    assert.ok(log.some(l => /line dropped: not JSON .*"this is not json"/.test(l)), log.join('\n'))
    assert.ok(log.some(l => /line dropped: unknown line type "wat"/.test(l)), log.join('\n'))
  })

  it('a stdout line over 1 MiB: refused, counted, the held task retried, the child restarted', async () => {
    const board = new Board()
    board.add('t1', 'x')
    const { worker, log } = start(board, { command: ['python3', MISBEHAVE, 'overlong'], restart: { ...FAST_RESTART, crashesMax: 2 } })
    await worker.start()
    await until(() => worker.stats.linesOverlong === 1 && worker.stats.spawns === 2, 'the over-long line and a restart')
    assert.equal(board.failed[0]?.retryable, true)
    assert.match(board.failed[0]!.error.message, /longer than 1048576 bytes \(EXEC_LINE_BYTES_MAX\)/)
    assert.ok(log.some(l => /EXEC_LINE_BYTES_MAX/.test(l)))
    await until(() => worker.state === 'gave-up', 'the breaker after the second over-long line')
  })

  it('a child that ignores stdin EOF and SIGTERM is killed with SIGKILL on stop', async () => {
    const { worker, events, log } = start(new Board(), { command: ['python3', MISBEHAVE, 'ignore-term'], shutdown: { graceMs: 300, termMs: 300 } })
    await worker.start()
    await until(() => events.some(e => e.kind === 'ready'), 'ready')
    const pid = worker.pid!
    await worker.stop()
    const exited = events.find(e => e.kind === 'exited')
    assert.ok(exited?.kind === 'exited' && exited.signal === 'SIGKILL', JSON.stringify(events))
    assert.ok(log.some(l => /SIGTERM/.test(l)) && log.some(l => /SIGKILL/.test(l)))
    assert.throws(() => process.kill(-pid, 0), /ESRCH/)
  })

  it('a child that never says ready is stopped (stdin EOF) and restarted', async () => {
    const { worker, log } = start(new Board(), { command: ['python3', MISBEHAVE, 'silent'], readyTimeoutMs: 300 })
    await worker.start()
    await until(() => worker.stats.spawns >= 2, 'a restart')
    assert.ok(log.some(l => /no \{"type":"ready"\} line within 300 ms/.test(l)), log.join('\n'))
    assert.ok(!log.some(l => /SIGTERM/.test(l)), 'it exited on stdin EOF, within the grace period')
  })

  it('the crash-loop breaker stops restarting and says so', async () => {
    const { worker, events, log } = start(new Board(), { command: ['python3', MISBEHAVE, 'exit-at-once'] })
    await worker.start()
    await worker.done
    assert.equal(worker.state, 'gave-up')
    assert.equal(worker.stats.spawns, 3)
    const gaveUp = events.find(e => e.kind === 'gave-up')
    assert.ok(gaveUp?.kind === 'gave-up' && /3 crashes within 60000 ms \(crash-loop breaker/.test(gaveUp.reason), JSON.stringify(events))
    assert.ok(log.some(l => /misbehave: exiting at once/.test(l)))
  })

  it('a lease lost while the child works: the child gets a cancel line', async () => {
    const board = new Board()
    board.add('t1', 'x', 300)
    const { worker, published } = start(board, { command: ['python3', MISBEHAVE, 'hold'] })
    await worker.start()
    await until(() => board.held.has('t1'), 'the claim')
    board.lost.add('t1')
    await until(() => published.length === 1, 'the cancel to reach the child')
    assert.deepEqual(published[0], { topic: 'cancels', event: { type: 'cancel', data: 't1' } })
    assert.equal(worker.stats.leasesLost, 1)
  })

  it('renews all held leases of a queue in one request, and a canceled task is canceled in the child', async () => {
    const board = new BatchBoard()
    board.add('t1', 'x', 300)
    board.add('t2', 'y', 300)
    const { worker, published } = start(board, { command: ['python3', MISBEHAVE, 'hold'], concurrency: 2 })
    await worker.start()
    await until(() => board.batches.some(b => b.length === 2), 'a renewal carrying both leases')
    assert.deepEqual(board.batches.find(b => b.length === 2), ['t1', 't2'])
    board.canceled.add('t2')
    await until(() => published.length === 1, 'the cancel to reach the child')
    assert.deepEqual(published[0], { topic: 'cancels', event: { type: 'cancel', data: 't2' } })
  })

  it('no child is left after the supervising process is killed with SIGKILL', async () => {
    const host = spawn(process.execPath, ['test/src/exec/fixtures/host.ts', 'python3', PY_WORKER, 'upper'], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    host.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    await until(() => out.includes('\n'), 'the child pid')
    const { childPid } = JSON.parse(out.split('\n')[0]!) as { childPid: number }
    process.kill(childPid, 0) // alive
    const hostExit = new Promise(resolve => host.once('exit', resolve))
    host.kill('SIGKILL')
    await hostExit
    await until(() => { try { process.kill(-childPid, 0); return false } catch { return true } }, `process group ${childPid} to be gone`)
  })
})
