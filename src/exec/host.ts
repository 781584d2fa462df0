// The node side of the `--exec` bridge: opens the queues a child names through `node.tasks` and
// publishes its events through `node.events`. Thin: it only adapts names and payloads.

import type { EventsService } from '../../protocols/events/adapter.ts'
import type { EventData } from '../../protocols/events/messages.ts'
import { AgentMeshError } from '../../protocols/kit/errors.ts'
import type { TasksService } from '../../protocols/tasks/api.ts'
import type { ExecHost, ExecQueue } from './supervisor.ts'
import { payloadFromJson, payloadToJson } from './json.ts'

/** What the bridge uses of a node: its task queues, and its events for `publish` lines. */
export interface ExecNode {
  readonly tasks: Pick<TasksService, 'open'>
  readonly events?: Pick<EventsService, 'publish'>
}

/** The ExecHost of a running node. */
export function execHostOf (node: ExecNode): ExecHost {
  return {
    async openQueue (name: string): Promise<ExecQueue> {
      const queue = await node.tasks.open(name)
      return {
        claim: async (options) => (await queue.claim(options)).map(task => ({ ...task, input: payloadToJson(task.input) })),
        renew: async (taskId, token) => { await queue.renew(taskId, token) },
        renewAll: async (held) => await queue.renewAll(held),
        complete: async (taskId, token, output) => { await queue.complete(taskId, token, payloadFromJson(output)) },
        fail: async (taskId, token, error, options) => { await queue.fail(taskId, token, error, options) }
      }
    },
    async publish (topic, event) {
      if (node.events === undefined) throw new AgentMeshError('ERR_NO_EVENTS', `cannot publish to ${topic} for the --exec worker: this node has no events service`)
      return await node.events.publish(topic, { type: event.type, ...(event.data !== undefined ? { data: payloadFromJson(event.data) as EventData } : {}) })
    }
  }
}
