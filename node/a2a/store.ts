// The A2A TaskStore over the task queue's read model. The SDK saves its view of each task (history,
// status, artifacts); every load of a task linked to a mesh task asks the queue, so tasks/get shows
// the queue's outcome even when no executor is following the task any more.

import type { ServerCallContext, TaskStore } from '@a2a-js/sdk/server'
import type { ListTasksRequest, ListTasksResponse, Task } from '@a2a-js/sdk'
import { TaskState as A2aState } from '@a2a-js/sdk'
import { A2A_TERMINAL, meshMetadata, resultArtifact, statusOf } from './convert.ts'
import type { MeshTaskPort } from './port.ts'

/**
 * A2A tasks remembered (least recently used forgotten first): the queue itself keeps at most
 * QUEUE_TASKS_MAX (4096) tasks, so a gateway remembering more would only point at purged ones.
 */
export const A2A_TASKS_MAX = 4096
/** Tasks one tasks/list page holds at most (the A2A default page size is 50). */
export const A2A_LIST_PAGE_MAX = 100

/** Where an A2A task lives on the mesh. */
export interface MeshLink { queue: string, meshTaskId: string }

interface Entry { task: Task, link?: MeshLink, followed?: boolean }

/** TaskStore of the gateway (one principal: the API token; tenants are not used). */
export class MeshTaskStore implements TaskStore {
  readonly #port: MeshTaskPort
  readonly #entries = new Map<string, Entry>()

  constructor (port: MeshTaskPort) {
    this.#port = port
  }

  /** Record that A2A task `a2aTaskId` is mesh task `link`. */
  link (a2aTaskId: string, link: MeshLink): void {
    const entry = this.#entries.get(a2aTaskId)
    if (entry !== undefined) entry.link = link
    else this.#remember(a2aTaskId, { task: { id: a2aTaskId, contextId: '', status: undefined, artifacts: [], history: [], metadata: undefined }, link })
  }

  linkOf (a2aTaskId: string): MeshLink | undefined {
    return this.#entries.get(a2aTaskId)?.link
  }

  /** An executor follows the task and publishes its changes in order (or stopped doing so). */
  followed (a2aTaskId: string, followed: boolean): void {
    const entry = this.#entries.get(a2aTaskId)
    if (entry !== undefined) entry.followed = followed
  }

  async save (task: Task, _context: ServerCallContext): Promise<void> {
    const previous = this.#entries.get(task.id)
    const wasTerminal = previous?.task.status !== undefined && A2A_TERMINAL.has(previous.task.status.state)
    this.#remember(task.id, { ...previous, task: structuredClone(task) })
    // The SDK cancels a task no executor follows by saving it `canceled`: carry that to the queue,
    // or the mesh would go on working a task its A2A client sees as canceled.
    if (task.status?.state === A2aState.TASK_STATE_CANCELED && !wasTerminal && previous?.link !== undefined) {
      await this.#port.cancel(previous.link.queue, previous.link.meshTaskId)
    }
  }

  async load (taskId: string, _context: ServerCallContext): Promise<Task | undefined> {
    return this.#load(taskId, true)
  }

  async #load (taskId: string, touch: boolean): Promise<Task | undefined> {
    const entry = this.#entries.get(taskId)
    if (entry === undefined) return undefined
    if (touch) this.#remember(taskId, entry)
    const task = structuredClone(entry.task)
    // A followed task gets every change from its executor, in order; reading ahead of it would
    // make the SDK see a live update after the outcome.
    if (entry.link === undefined || entry.followed === true || (task.status !== undefined && A2A_TERMINAL.has(task.status.state))) return task
    const view = await this.#port.get(entry.link.queue, entry.link.meshTaskId)
    if (view === undefined) return task
    task.metadata = { ...(task.metadata ?? {}), ...meshMetadata(view) }
    const status = statusOf(view, task.id, task.contextId, new Date().toISOString())
    // Only an outcome overrides what the SDK saved: a live state it has may be newer than the
    // queue's answer was by the time it arrived, and an outcome never changes.
    if (A2A_TERMINAL.has(status.state)) {
      task.status = status
      if (view.state === 'completed' && !task.artifacts.some((a) => a.artifactId === resultArtifact(view).artifactId)) task.artifacts.push(resultArtifact(view))
    }
    return task
  }

  async list (params: ListTasksRequest, _context: ServerCallContext): Promise<ListTasksResponse> {
    const pageSize = Math.min(params.pageSize ?? 50, A2A_LIST_PAGE_MAX)
    const ids = [...this.#entries.keys()].reverse() // newest first
    const start = params.pageToken !== '' ? Math.max(0, ids.indexOf(params.pageToken)) : 0
    const tasks: Task[] = []
    let next = ''
    for (let i = start; i < ids.length; i++) {
      const task = await this.#load(ids[i]!, false)
      if (task === undefined || task.status === undefined) continue
      if (params.contextId !== '' && task.contextId !== params.contextId) continue
      if (params.status !== A2aState.TASK_STATE_UNSPECIFIED && task.status.state !== params.status) continue
      if (tasks.length === pageSize) { next = ids[i]!; break }
      if (params.includeArtifacts !== true) task.artifacts = []
      tasks.push(task)
    }
    return { tasks, nextPageToken: next, pageSize, totalSize: this.#entries.size }
  }

  /** Insert or refresh as most recently used; forget the least recently used beyond A2A_TASKS_MAX. */
  #remember (id: string, entry: Entry): void {
    this.#entries.delete(id)
    this.#entries.set(id, entry)
    while (this.#entries.size > A2A_TASKS_MAX) this.#entries.delete(this.#entries.keys().next().value!)
  }
}
