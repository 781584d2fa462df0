// The gateway's task port over the node's task queues: the skills are the queues opened on this
// node's API (openQueue, delegate_task, or a message naming one), read through the same handles.

import { AgentMeshError } from '../../protocols/kit/errors.ts'
import type { Payload } from '../../protocols/kit/payload.ts'
import type { QueueTable, QueueTaskInfo } from '../api/queues.ts'
import type { MeshTaskPort, MeshTaskView } from './port.ts'

const TERMINAL = new Set(['completed', 'failed', 'canceled', 'rejected'])

function viewOf (queue: string, info: QueueTaskInfo): MeshTaskView {
  return {
    id: info.id,
    queue,
    state: info.state,
    attempt: info.attempt,
    ...(info.result !== undefined ? { output: info.result } : {}),
    ...(info.error !== undefined ? { error: { type: info.error.type, message: info.error.message } } : {}),
    ...(info.question !== undefined ? { question: info.question } : {})
  }
}

/** The port of the queues in `queues`. */
export function tasksPort (queues: QueueTable): MeshTaskPort {
  const read = async (queue: string, taskId: string): Promise<MeshTaskView | undefined> => {
    const info = await (await queues.open(queue)).get(taskId)
    return info === undefined ? undefined : viewOf(queue, info)
  }
  return {
    queues: async () => queues.names().map((name) => ({ name })),
    submit: async (queue, input, options) => {
      const handle = await queues.open(queue)
      const submitted = await handle.submit(input as Payload, { idempotencyKey: options.idempotencyKey })
      const view = await read(queue, submitted.id)
      if (view === undefined) throw new AgentMeshError('ERR_TASK_NOT_FOUND', `Task ${submitted.id} on queue "${queue}" (the one submitted with key ${options.idempotencyKey}) is gone: it ended and was purged`)
      return view
    },
    get: read,
    watch: (queue, taskId, signal) => ({
      async * [Symbol.asyncIterator] () {
        const handle = await queues.open(queue)
        for await (const update of handle.watch(taskId, { signal })) {
          // An outcome carries the result or the error: read the whole task for it.
          if (TERMINAL.has(update.state)) {
            yield (await read(queue, taskId)) ?? { id: taskId, queue, state: update.state, attempt: update.attempt }
            return
          }
          yield { id: taskId, queue, state: update.state, attempt: update.attempt }
        }
      }
    }),
    cancel: async (queue, taskId) => {
      const handle = await queues.open(queue)
      try {
        await handle.cancel(taskId)
      } catch (err) {
        // The port's contract: cancelling a task that already ended is a no-op (the SDK may ask twice).
        if ((err as { code?: unknown }).code === 'ERR_TASK_REFUSED' && TERMINAL.has((await handle.get(taskId))?.state ?? '')) return
        throw err
      }
    }
  }
}
