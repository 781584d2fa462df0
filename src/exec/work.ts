// `node.tasks.work(queue, { exec })`: the `--exec` bridge for embedders. The worker program runs
// as a supervised child (supervisor.ts); the usual worker handle stops it.

import type { TaskQueue, TasksService, WorkerHandle, WorkHandler, WorkOptions } from '../../protocols/tasks/api.ts'
import { execHostOf } from './host.ts'
import type { ExecNode } from './host.ts'
import { ExecWorker } from './supervisor.ts'
import type { ExecWorkerOptions } from './supervisor.ts'

/** Options of `node.tasks.work(queue, { exec, … })`. */
export interface ExecWorkOptions extends Omit<ExecWorkerOptions, 'command' | 'host' | 'queues'> {
  /** The worker program: one string (split without a shell) or an argv. */
  exec: string | readonly string[]
}

/** The handle of an exec worker: the usual one, plus the child's start and its supervisor. */
export interface ExecWorkerHandle extends WorkerHandle {
  /** Resolves once the program runs; rejects with SpawnError when it cannot be started. */
  readonly started: Promise<void>
  readonly supervisor: ExecWorker
}

/** `node.tasks` with the `{ exec }` form of `work`. */
export interface NodeTasksService extends TasksService {
  work (queue: string | TaskQueue, handler: WorkHandler, options?: WorkOptions): WorkerHandle
  work (queue: string | TaskQueue, exec: ExecWorkOptions): ExecWorkerHandle
}

/** Work `queue` with a worker program fed over NDJSON. */
export function execWork (node: ExecNode, queue: string, options: ExecWorkOptions): ExecWorkerHandle {
  const { exec, ...rest } = options
  const supervisor = new ExecWorker({ ...rest, command: exec, host: execHostOf(node), queues: [queue] })
  const started = supervisor.start()
  // Handled here as well, so a caller that never awaits `started` still gets the error in the log.
  started.catch((err: unknown) => { supervisor.log(`exec: ${(err as Error).message}`) })
  return {
    started,
    // The program runs and the supervisor works the queue for it from its ready line on.
    ready: started,
    supervisor,
    stop: async () => { await supervisor.stop() },
    stats: () => ({
      completed: supervisor.stats.results,
      failed: supervisor.stats.fails,
      lost: supervisor.stats.tasksLostToCrash + supervisor.stats.leasesLost,
      running: supervisor.running
    })
  }
}

/** Give a TasksService the `{ exec }` form of `work` (the handler form is unchanged). */
export function withExecWork (service: TasksService, events: ExecNode['events']): NodeTasksService {
  const work = service.work.bind(service)
  const node: ExecNode = { tasks: service, ...(events !== undefined ? { events } : {}) }
  function overloaded (queue: string | TaskQueue, handler: WorkHandler, options?: WorkOptions): WorkerHandle
  function overloaded (queue: string | TaskQueue, exec: ExecWorkOptions): ExecWorkerHandle
  function overloaded (queue: string | TaskQueue, handler: WorkHandler | ExecWorkOptions, options?: WorkOptions): WorkerHandle {
    if (typeof handler === 'function') return work(queue, handler, options)
    return execWork(node, typeof queue === 'string' ? queue : queue.name, handler)
  }
  return Object.assign(service, { work: overloaded })
}
