// What the A2A gateway needs from the mesh's task queues: reachable queues (the card's skills),
// submit, read, follow and cancel one task. A small port so the gateway does not depend on how a
// node hosts its queues; `tasksPort` (tasks-port.ts) fills it from `node.tasks`.

import type { TaskState } from '../../protocols/tasks/state.ts'

export type { TaskState }

/** A queue the node can reach, offered as an A2A skill. */
export interface QueueSkill {
  /** The queue's name: the skill id a message names in `metadata.skill`. */
  name: string
  /** What the queue does, for the card (defaults to a generic line). */
  description?: string
}

/** One task as the queue's read model holds it, in mesh terms. */
export interface MeshTaskView {
  id: string
  queue: string
  state: TaskState
  attempt: number
  /** The result, once `completed` (JSON; bytes as Uint8Array). */
  output?: unknown
  /** Why it failed, was rejected or canceled. */
  error?: { type: string, message: string }
  /** The question of an `input-required` task. */
  question?: string
}

/** The task queues as the gateway sees them. */
export interface MeshTaskPort {
  /** Queues this node can reach now, in a stable order (the first is the default skill). */
  queues: () => Promise<QueueSkill[]>
  /** Submit `input` to `queue`; the key makes a repeated submit return the same task. */
  submit: (queue: string, input: unknown, options: { idempotencyKey: string }) => Promise<MeshTaskView>
  /** The task now, or undefined if the queue does not know it (purged or never existed). */
  get: (queue: string, taskId: string) => Promise<MeshTaskView | undefined>
  /** The task after each state change, in order; ends after a terminal state or when `signal` aborts. */
  watch: (queue: string, taskId: string, signal: AbortSignal) => AsyncIterable<MeshTaskView>
  /** Ask the queue to cancel the task (a no-op on a terminal one). */
  cancel: (queue: string, taskId: string) => Promise<void>
}
