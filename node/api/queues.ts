// Task queue handles the API, the MCP tools and the A2A gateway share: a stateless call names a
// queue, and its handle is opened once (found by name in the DHT, or created with members by
// openQueue) and kept.

import type { AgentNode } from '../../src/index.ts'
import type { ClaimedTask, OpenQueueOptions, TaskInfo, TaskQueue, TasksService } from '../../protocols/tasks/api.ts'
import { ApiError } from './errors.ts'

/** Queue handles kept at once: each holds a Raft group client; 64 queues per local node is plenty. */
export const API_QUEUES_MAX = 64

/** A task as the queue shows it (protocols/tasks/api.ts). */
export type QueueTaskInfo = TaskInfo
/** A leased task. */
export type QueueClaimedTask = ClaimedTask
/** One queue handle of `node.tasks`. */
export type ApiTaskQueue = TaskQueue
/** Options of opening a queue through the API. */
export type ApiOpenOptions = OpenQueueOptions
/** What the API uses of `node.tasks`. */
export type ApiTasksService = Pick<TasksService, 'open'>

/** The node's task service, when it has one. */
export function tasksOf (node: AgentNode): ApiTasksService | undefined {
  return (node as unknown as { tasks?: ApiTasksService }).tasks
}

/** Open queue handles by name. */
export class QueueTable {
  readonly #node: AgentNode
  readonly #service: ApiTasksService | undefined
  readonly #queues = new Map<string, Promise<ApiTaskQueue>>()

  /** `service` replaces the node's own task service (embedders hosting queues elsewhere). */
  constructor (node: AgentNode, service?: ApiTasksService) {
    this.#node = node
    this.#service = service
  }

  /** Names of the queues opened here, in the order they were opened. */
  names (): string[] {
    return [...this.#queues.keys()]
  }

  /** Open (or create, with members) a queue and keep its handle. */
  async open (name: string, options: ApiOpenOptions = {}): Promise<ApiTaskQueue> {
    const known = this.#queues.get(name)
    if (known !== undefined) return known
    const tasks = this.#service ?? tasksOf(this.#node)
    if (tasks === undefined) throw new ApiError(503, 'ERR_NOT_RUNNING', `This node has no task service (node.tasks), so queue "${name}" cannot be opened`)
    if (this.#queues.size >= API_QUEUES_MAX) throw new ApiError(409, 'ERR_TOO_MANY_QUEUES', `${this.#queues.size} queues are open through the API; at most API_QUEUES_MAX (${API_QUEUES_MAX})`)
    const opening = tasks.open(name, options)
    this.#queues.set(name, opening)
    // A failed open is not kept: the next call tries again (the queue may exist by then).
    opening.catch(() => { this.#queues.delete(name) })
    return opening
  }
}
