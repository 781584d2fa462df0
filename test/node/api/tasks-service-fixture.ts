// TEST FIXTURE: an in-memory stand-in for `node.tasks` with the shape the API uses (queues.ts),
// so the HTTP task routes and MCP task tools can be exercised on their own. Leases, tokens and
// retries are simplified; the real queue is protocols/tasks behind node.tasks.

import { AgentMeshError } from '../../../protocols/kit/errors.ts'
import type { Payload } from '../../../protocols/kit/payload.ts'
import type { TaskError } from '../../../protocols/tasks/messages.ts'
import type { TaskState } from '../../../protocols/tasks/state.ts'
import type { ApiTaskQueue, ApiTasksService, QueueClaimedTask, QueueTaskInfo } from '../../../node/api/queues.ts'

const TERMINAL = new Set<TaskState>(['completed', 'failed', 'canceled', 'rejected'])
const LEASE_MS = 30_000

class FixtureQueue implements ApiTaskQueue {
  readonly name: string
  readonly members: string[]
  readonly #tasks = new Map<string, QueueTaskInfo & { token: number, key?: string }>()
  readonly #listeners = new Set<() => void>()
  #seq = 0
  #token = 0

  constructor (name: string, members: string[]) {
    this.name = name
    this.members = members
  }

  #set (task: QueueTaskInfo, state: TaskState): void {
    task.state = state
    task.history.push({ state, atMs: task.history.length })
    for (const listener of [...this.#listeners]) listener()
  }

  async #changed (signal: AbortSignal | undefined, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (changed: boolean): void => { clearTimeout(timer); this.#listeners.delete(listener); signal?.removeEventListener('abort', onAbort); resolve(changed) }
      const listener = (): void => { done(true) }
      const onAbort = (): void => { done(false) }
      const timer = setTimeout(() => { done(false) }, timeoutMs)
      this.#listeners.add(listener)
      signal?.addEventListener('abort', onAbort)
    })
  }

  #task (taskId: string): QueueTaskInfo & { token: number } {
    const task = this.#tasks.get(taskId)
    if (task === undefined) throw new AgentMeshError('ERR_TASK_NOT_FOUND', `fixture: no task ${taskId}`)
    return task
  }

  #lease (taskId: string, token: number): QueueTaskInfo & { token: number } {
    const task = this.#task(taskId)
    if (task.state !== 'working' || task.token !== token) throw new AgentMeshError('ERR_STALE_LEASE', `fixture: token ${token} is not the lease of ${taskId}`)
    return task
  }

  submit = async (input: Payload, options: { idempotencyKey?: string } = {}): Promise<{ id: string, state: TaskState, duplicate: boolean }> => {
    const known = [...this.#tasks.values()].find((t) => options.idempotencyKey !== undefined && t.key === options.idempotencyKey)
    if (known !== undefined) return { id: known.id, state: known.state, duplicate: true }
    const task = { id: String(++this.#seq), state: 'submitted' as TaskState, attempt: 0, priority: 0, input, history: [], token: 0, ...(options.idempotencyKey !== undefined ? { key: options.idempotencyKey } : {}) }
    this.#tasks.set(task.id, task)
    this.#set(task, 'submitted')
    return { id: task.id, state: task.state, duplicate: false }
  }

  get = async (taskId: string): Promise<QueueTaskInfo | undefined> => {
    const task = this.#tasks.get(taskId)
    if (task === undefined) return undefined
    const { token: _token, key: _key, ...info } = task
    return structuredClone(info)
  }

  result = async (taskId: string, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Payload> => {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    for (;;) {
      const task = this.#task(taskId)
      if (task.state === 'completed') return task.result!
      if (TERMINAL.has(task.state)) throw new AgentMeshError('ERR_TASK_FAILED', `fixture: task ${taskId} ended ${task.state}`)
      if (Date.now() >= deadline || !await this.#changed(options.signal, deadline - Date.now())) throw new AgentMeshError('ERR_TIMEOUT', `fixture: task ${taskId} did not end in time`)
    }
  }

  watch = (taskId: string, options: { signal?: AbortSignal } = {}): AsyncIterable<{ taskId: string, state: TaskState, attempt: number, atMs: number }> => {
    const queue = this
    return {
      async * [Symbol.asyncIterator] () {
        // Replays the history first, as node.tasks' watch does.
        let seen = 0
        while (options.signal?.aborted !== true) {
          const task = queue.#task(taskId)
          for (; seen < task.history.length; seen++) {
            yield { taskId, state: task.history[seen]!.state, attempt: task.attempt, atMs: task.history[seen]!.atMs }
            if (TERMINAL.has(task.history[seen]!.state)) return
          }
          await queue.#changed(options.signal, 60_000)
        }
      }
    }
  }

  cancel = async (taskId: string): Promise<void> => {
    const task = this.#task(taskId)
    if (!TERMINAL.has(task.state)) this.#set(task, 'canceled')
  }

  deadLetters = async (options: { limit?: number } = {}): Promise<QueueTaskInfo[]> => {
    const dead = [...this.#tasks.values()].filter((t) => t.state === 'failed').slice(0, options.limit ?? 100)
    return Promise.all(dead.map(async (t) => (await this.get(t.id))!))
  }

  redrive = async (taskId: string): Promise<void> => {
    const task = this.#task(taskId)
    task.attempt = 0
    delete task.error
    this.#set(task, 'submitted')
  }

  claim = async (options: { max?: number, waitMs?: number, signal?: AbortSignal } = {}): Promise<QueueClaimedTask[]> => {
    const deadline = Date.now() + (options.waitMs ?? 0)
    for (;;) {
      const ready = [...this.#tasks.values()].filter((t) => t.state === 'submitted' || t.state === 'retrying').slice(0, options.max ?? 1)
      if (ready.length > 0) {
        return ready.map((task) => {
          task.attempt++
          task.token = ++this.#token
          this.#set(task, 'working')
          return { taskId: task.id, attempt: task.attempt, token: task.token, kind: 'work', input: task.input, leaseMs: LEASE_MS }
        })
      }
      if (Date.now() >= deadline || !await this.#changed(options.signal, deadline - Date.now())) return []
    }
  }

  renew = async (taskId: string, token: number): Promise<void> => { this.#lease(taskId, token) }

  complete = async (taskId: string, token: number, output: Payload): Promise<void> => {
    const task = this.#lease(taskId, token)
    task.result = output
    this.#set(task, 'completed')
  }

  fail = async (taskId: string, token: number, error: TaskError, options: { retryable?: boolean } = {}): Promise<void> => {
    const task = this.#lease(taskId, token)
    task.error = error
    this.#set(task, options.retryable === false ? 'failed' : 'retrying')
  }
}

/** The fixture service: queues exist once opened with members; opening without finds them. */
export class InMemoryTasksServiceFixture implements ApiTasksService {
  readonly #queues = new Map<string, FixtureQueue>()

  open = async (name: string, options: { members?: string[] } = {}): Promise<ApiTaskQueue> => {
    const known = this.#queues.get(name)
    if (known !== undefined) return known
    if (options.members === undefined) throw new AgentMeshError('ERR_QUEUE_NOT_FOUND', `fixture: no queue ${name}`)
    const queue = new FixtureQueue(name, options.members)
    this.#queues.set(name, queue)
    return queue
  }
}
