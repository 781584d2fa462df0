// TEST FIXTURE: an in-memory stand-in for the mesh's task queues behind the A2A gateway's port.
// It exists only so the gateway's A2A behaviour can be tested on its own; the product port is
// `tasksPort(node)` over node.tasks.

import { randomUUID } from 'node:crypto'
import { AgentMeshError } from '../../../protocols/kit/errors.ts'
import type { MeshTaskPort, MeshTaskView, QueueSkill } from '../../../node/a2a/port.ts'

const TERMINAL = new Set(['completed', 'failed', 'canceled', 'rejected'])

/** A worker function of the fixture: gets the input and an abort signal (task canceled). */
export type FixtureWorker = (input: unknown, signal: AbortSignal) => Promise<unknown>

export class InMemoryTaskQueueFixture implements MeshTaskPort {
  readonly #workers = new Map<string, FixtureWorker>()
  readonly #tasks = new Map<string, MeshTaskView>()
  readonly #aborts = new Map<string, AbortController>()
  readonly #byKey = new Map<string, string>()
  readonly #listeners = new Set<(view: MeshTaskView) => void>()
  /** Every input a worker received, in order. */
  readonly inputs: unknown[] = []

  addQueue (name: string, worker: FixtureWorker): void {
    this.#workers.set(name, worker)
  }

  queues = async (): Promise<QueueSkill[]> => [...this.#workers.keys()].map((name) => ({ name }))

  submit = async (queue: string, input: unknown, options: { idempotencyKey: string }): Promise<MeshTaskView> => {
    const known = this.#byKey.get(`${queue}/${options.idempotencyKey}`)
    if (known !== undefined) return structuredClone(this.#tasks.get(known)!)
    const worker = this.#workers.get(queue)
    if (worker === undefined) throw new AgentMeshError('ERR_QUEUE_NOT_FOUND', `fixture: no queue ${queue}`)
    const view: MeshTaskView = { id: randomUUID(), queue, state: 'submitted', attempt: 0 }
    this.#tasks.set(view.id, view)
    this.#byKey.set(`${queue}/${options.idempotencyKey}`, view.id)
    const abort = new AbortController()
    this.#aborts.set(view.id, abort)
    setImmediate(() => {
      this.#set(view.id, { state: 'working', attempt: 1 })
      this.inputs.push(input)
      worker(input, abort.signal).then(
        (output) => { if (!abort.signal.aborted) this.#set(view.id, { state: 'completed', output }) },
        (err: Error) => { if (!abort.signal.aborted) this.#set(view.id, { state: 'failed', error: { type: 'handler-error', message: err.message } }) }
      )
    })
    return structuredClone(view)
  }

  get = async (_queue: string, taskId: string): Promise<MeshTaskView | undefined> => {
    const view = this.#tasks.get(taskId)
    return view === undefined ? undefined : structuredClone(view)
  }

  watch = (_queue: string, taskId: string, signal: AbortSignal): AsyncIterable<MeshTaskView> => {
    const tasks = this.#tasks
    const listeners = this.#listeners
    return {
      async * [Symbol.asyncIterator] () {
        const pending: MeshTaskView[] = []
        let wake: (() => void) | undefined
        const listener = (view: MeshTaskView): void => {
          if (view.id !== taskId) return
          pending.push(structuredClone(view))
          wake?.()
        }
        listeners.add(listener)
        const onAbort = (): void => { wake?.() }
        signal.addEventListener('abort', onAbort)
        try {
          const now = tasks.get(taskId)
          if (now === undefined) return
          yield structuredClone(now)
          if (TERMINAL.has(now.state)) return
          while (!signal.aborted) {
            if (pending.length === 0) await new Promise<void>((resolve) => { wake = resolve })
            wake = undefined
            while (pending.length > 0) {
              const next = pending.shift()!
              yield next
              if (TERMINAL.has(next.state)) return
            }
          }
        } finally {
          listeners.delete(listener)
          signal.removeEventListener('abort', onAbort)
        }
      }
    }
  }

  cancel = async (_queue: string, taskId: string): Promise<void> => {
    const view = this.#tasks.get(taskId)
    if (view === undefined || TERMINAL.has(view.state)) return
    this.#aborts.get(taskId)?.abort()
    this.#set(taskId, { state: 'canceled', error: { type: 'canceled', message: 'canceled by its submitter' } })
  }

  #set (taskId: string, change: Partial<MeshTaskView>): void {
    const view = this.#tasks.get(taskId)!
    Object.assign(view, change)
    for (const listener of this.#listeners) listener(view)
  }
}
