// The node side of the `--exec` bridge: opens the queues a child names through `node.tasks` and
// publishes its events through `node.events`. Thin: it only adapts names and types.

import type { AgentNode } from '../index.ts'
import type { EventData } from '../../protocols/events/messages.ts'
import { AgentMeshError } from '../../protocols/kit/errors.ts'
import type { ExecHost, ExecQueue } from './supervisor.ts'
import { payloadFromJson, payloadToJson } from './json.ts'

/** The worker side of a task queue, as `node.tasks.open(name)` returns it. */
interface WorkerQueue {
  claim (options: { max?: number, waitMs?: number, concurrency?: number, signal?: AbortSignal }): Promise<ReadonlyArray<{ taskId: string, attempt: number, token: number, input: unknown, feedback?: string, leaseMs: number }>>
  renew (taskId: string, token: number): Promise<unknown>
  renewAll (held: Array<{ taskId: string, token: number }>): Promise<{ lost: string[], canceled: string[] }>
  complete (taskId: string, token: number, output: never): Promise<unknown>
  fail (taskId: string, token: number, error: never, options?: { retryable?: boolean }): Promise<unknown>
}

/** A node whose task layer can be worked from outside (`node.tasks.open`). */
interface TaskNode { tasks?: { open (name: string): Promise<WorkerQueue> } }

/** The ExecHost of a running node. */
export function execHostOf (node: AgentNode): ExecHost {
  return {
    async openQueue (name: string): Promise<ExecQueue> {
      const tasks = (node as unknown as TaskNode).tasks
      if (tasks === undefined) throw new AgentMeshError('ERR_NO_TASKS', `cannot open queue ${name} for the --exec worker: this node has no task layer (node.tasks)`)
      const queue = await tasks.open(name)
      return {
        claim: async (options) => (await queue.claim(options)).map(task => ({ ...task, input: payloadToJson(task.input) })),
        renew: async (taskId, token) => await queue.renew(taskId, token),
        renewAll: async (held) => await queue.renewAll(held),
        complete: async (taskId, token, output) => await queue.complete(taskId, token, payloadFromJson(output) as never),
        fail: async (taskId, token, error, options) => await queue.fail(taskId, token, error as never, options)
      }
    },
    publish: async (topic, event) => await node.events.publish(topic, { type: event.type, ...(event.data !== undefined ? { data: payloadFromJson(event.data) as EventData } : {}) })
  }
}
