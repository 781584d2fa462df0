// The A2A executor over the task queue: a message becomes a task on the queue its
// `metadata.skill` names (or the first skill), and the queue's state changes come back as A2A
// status updates until the task ends; a completed task's output is the `result` artifact. The
// SDK's request handler settles the event bus when execute() returns.

import { AgentEvent } from '@a2a-js/sdk/server'
import type { AgentExecutor, ExecutionEventBus, RequestContext } from '@a2a-js/sdk/server'
import { TaskState as A2aState } from '@a2a-js/sdk'
import { AgentMeshError, describeError } from '../../protocols/kit/errors.ts'
import { A2A_TERMINAL, a2aState, agentMessage, inputOf, meshMetadata, resultArtifact, statusOf, textPart } from './convert.ts'
import type { MeshTaskPort, MeshTaskView } from './port.ts'
import type { MeshTaskStore } from './store.ts'

/** The skill a message asks for: `metadata.skill` on the message, else on the request. */
function requestedSkill (context: RequestContext): string | undefined {
  const fromMessage = context.userMessage.metadata?.skill
  if (typeof fromMessage === 'string') return fromMessage
  const fromRequest = context.request.metadata?.skill
  return typeof fromRequest === 'string' ? fromRequest : undefined
}

/**
 * Tasks followed at once (one queue watch each). A client that gives up on a blocking send does
 * not stop its watch, so without a bound abandoned sends would pile up watches; past this, a new
 * task is answered as submitted and not followed (tasks/get still reads it from the queue).
 */
export const A2A_FOLLOWED_MAX = 256

export class MeshExecutor implements AgentExecutor {
  #following = 0
  readonly #port: MeshTaskPort
  readonly #store: MeshTaskStore
  /** Ends every watch when the server closes. */
  readonly #closing: AbortSignal

  constructor (port: MeshTaskPort, store: MeshTaskStore, closing: AbortSignal) {
    this.#port = port
    this.#store = store
    this.#closing = closing
  }

  execute = async (context: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    const { taskId, contextId } = context
    const now = (): string => new Date().toISOString()
    const skills = await this.#port.queues()
    const asked = requestedSkill(context)
    const queue = asked ?? skills[0]?.name
    const base = { id: taskId, contextId, artifacts: [], history: [context.userMessage] }
    const reject = (why: string): void => {
      bus.publish(AgentEvent.task({ ...base, status: { state: A2aState.TASK_STATE_REJECTED, message: agentMessage(taskId, contextId, [textPart(why)]), timestamp: now() }, metadata: undefined }))
    }
    if (queue === undefined) {
      reject('this node reaches no task queue: open one (openQueue, or name one in metadata.skill) before sending messages')
      return
    }
    let submitted: MeshTaskView
    try {
      // A skill the card does not list yet may still be reachable: submit opens it by name.
      // The A2A task id is the idempotency key: a retried message/send for the same task submits once.
      submitted = await this.#port.submit(queue, inputOf(context.userMessage), { idempotencyKey: taskId })
    } catch (err) {
      if (!(err instanceof AgentMeshError) || err.code !== 'ERR_QUEUE_NOT_FOUND') throw err
      reject(`no queue "${queue}" is reachable from this node (${err.message}); the skills are: ${skills.map((s) => s.name).join(', ')}`)
      return
    }
    this.#store.link(taskId, { queue, meshTaskId: submitted.id })
    bus.publish(AgentEvent.task({ ...base, status: statusOf(submitted, taskId, contextId, now()), metadata: meshMetadata(submitted) }))
    if (this.#following >= A2A_FOLLOWED_MAX) return
    this.#following++
    this.#store.followed(taskId, true)
    let last: A2aState = a2aState(submitted.state)
    let view: MeshTaskView = submitted
    try {
      if (!A2A_TERMINAL.has(last)) {
        for await (const next of this.#port.watch(queue, submitted.id, this.#closing)) {
          view = next
          const state = a2aState(next.state)
          if (A2A_TERMINAL.has(state)) break
          if (state !== last) bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: statusOf(next, taskId, contextId, now()), metadata: meshMetadata(next) }))
          last = state
          // input-required ends this execution: the SDK closes the stream there.
          if (state === A2aState.TASK_STATE_INPUT_REQUIRED) return
        }
      }
      if (!A2A_TERMINAL.has(a2aState(view.state))) {
        // The watch ended early (server closing): the task goes on in the mesh; tasks/get follows it.
        return
      }
      if (view.state === 'completed') bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: resultArtifact(view), append: false, lastChunk: true, metadata: undefined }))
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: statusOf(view, taskId, contextId, now()), metadata: meshMetadata(view) }))
    } catch (err) {
      // Following the task failed (the queue unreachable for now), not the task: it may still
      // finish, so the A2A task stays live and tasks/get reads its outcome from the queue later.
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state: a2aState(view.state), message: agentMessage(taskId, contextId, [textPart(`stopped following mesh task ${view.id} on queue ${queue} (${describeError(err)}); tasks/get reads its state from the queue`)]), timestamp: now() }, metadata: meshMetadata(view) }))
    } finally {
      this.#following--
      this.#store.followed(taskId, false)
    }
  }

  cancelTask = async (taskId: string, bus: ExecutionEventBus): Promise<void> => {
    const link = this.#store.linkOf(taskId)
    if (link === undefined) {
      // Not submitted yet (or rejected before submit): nothing on the mesh to cancel.
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: { state: A2aState.TASK_STATE_CANCELED, message: undefined, timestamp: new Date().toISOString() }, metadata: undefined }))
      return
    }
    // The running execute() sees `canceled` through its watch and publishes it.
    await this.#port.cancel(link.queue, link.meshTaskId)
  }
}
