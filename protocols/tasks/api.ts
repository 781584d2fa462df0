// The public shape of `node.tasks` (DESIGN "Tasks"): the queue handle, the low-level worker API
// (claim / renew / complete / fail, what the HTTP API and other-language workers build on), and
// `work()`. Inputs and outputs are payloads (JSON-shaped values or bytes), CBOR-encoded into the
// machine's bytes; TASK_INPUT_BYTES_MAX / TASK_OUTPUT_BYTES_MAX bound the encoded size.

import type { Payload } from '../kit/payload.ts'
import type { LeaseKind, RetryPolicy, TaskError } from './messages.ts'
import type { QueueOptions } from './policy.ts'
import type { TaskState } from './state.ts'

export type { LeaseKind, RetryPolicy, TaskError } from './messages.ts'
export type { QueueOptions, DispatchMode, BreakerPolicy, DeadLetterPolicy } from './policy.ts'
export type { TaskState } from './state.ts'

/** Options of `node.tasks.open`: the queue policy (with members: create or join) and Raft timing. */
export interface OpenQueueOptions extends QueueOptions {
  /** Peer ids of the queue's replicas (3 or 5). With them the queue is created/joined; without, found by name in the DHT. */
  members?: string[]
  /** Raft heartbeat of the queue's group (default 100 ms). */
  heartbeatMs?: number
  /** Raft election timeout of the queue's group (default 1000 ms). */
  electionMs?: number
  /** How long `open` without members looks for the queue's record before QueueNotFoundError (default 10 000 ms). */
  timeoutMs?: number
}

/** Options of `queue.submit`. */
export interface SubmitOptions {
  capability?: string
  /** 0…1000, higher first. */
  priority?: number
  /** A repeated submit with the same key (within the queue's dedup window) returns the first task. */
  idempotencyKey?: string
  /** Schedule-to-close: the whole task, retries included. */
  timeoutMs?: number
  scheduleToStartMs?: number
  startToCloseMs?: number
  retry?: Partial<RetryPolicy>
  signal?: AbortSignal
}

/** What `queue.submit` returns. */
export interface SubmittedTask {
  id: string
  state: TaskState | 'purged'
  /** True when an earlier submit with the same idempotency key made this task. */
  duplicate: boolean
}

/** A task as `queue.get` shows it (DESIGN): input and result decoded. */
export interface TaskInfo {
  id: string
  state: TaskState
  attempt: number
  priority: number
  capability?: string
  /** Holder of the latest work lease. */
  worker?: string
  lease?: { worker: string, token: number, expiresAtMs: number, kind: LeaseKind }
  bids: Array<{ worker: string, cost: number, etaMs: number }>
  input: Payload
  result?: Payload
  error?: TaskError
  feedback?: string
  question?: string
  forwardedTo?: string
  /** Transitions on the queue's replicated clock (ms). */
  history: Array<{ state: TaskState, atMs: number }>
}

/** One change of a task's state, as `watch` yields it (in order). */
export interface TaskUpdateInfo { taskId: string, state: TaskState, attempt: number, atMs: number }

/** Deadline and cancellation of a wait. */
export interface WaitOptions { signal?: AbortSignal, timeoutMs?: number }

/** Options of `queue.claim` (low-level worker API). */
export interface ClaimOptions {
  /** Tasks to lease at most (1…CLAIM_TASKS_MAX, default 1). */
  max?: number
  /** Long-poll: wait up to this long for a task when none is ready (default 0). */
  waitMs?: number
  /** Capability (or capabilities) this worker serves; tasks without one are served by everyone. */
  capability?: string | string[]
  /** `validate` leases results waiting for the quality gate. */
  kind?: LeaseKind
  /**
   * Leases this node may hold at once on the queue (the machine's `concurrency`: one peer id is
   * one worker). Default: the sum of this node's running workers' concurrency on the queue, or
   * INFLIGHT_PER_WORKER_MAX (256) when none runs (then each claim's `max` is the bound).
   */
  concurrency?: number
  signal?: AbortSignal
}

/** A leased task: `token` (fencing) and `attempt` are the keys for idempotent side effects. */
export interface ClaimedTask {
  taskId: string
  attempt: number
  token: number
  kind: LeaseKind
  input: Payload
  /** Gate feedback or an answer from the previous attempt. */
  feedback?: string
  /** For `validate` leases: the result to judge. */
  output?: Payload
  /** Lease length: renew well within it (work() renews every leaseMs/3). */
  leaseMs: number
}

/** What one batched renewal says about the leases it listed. */
export interface RenewResult {
  /** Task ids whose lease is no longer this worker's (expired, taken over). */
  lost: string[]
  /** Task ids canceled meanwhile. */
  canceled: string[]
  /** Every lease the queue holds for this worker after the renewal, listed or not (a claim's answer lost with a member leaves leases the worker never saw). */
  leases?: Array<{ taskId: string, attempt: number, token: number, kind: LeaseKind }>
}

/** Options of `queue.fail`. */
export interface FailOptions { retryable?: boolean }

/** The quality gate: true accepts; `{reject}` sends the task back with feedback; `{reject, final: true}` ends it `rejected`. */
export type GateFunction = (result: Payload, task: TaskInfo) => boolean | { reject: string, final?: boolean } | Promise<boolean | { reject: string, final?: boolean }>

/** A worker as the queue knows it. */
export interface QueueWorkerInfo { id: string, capabilities: string[], concurrency: number, inFlight: number, breaker: 'closed' | 'open' | 'half-open', lastSeenMs: number }

/** A handle on one queue (DESIGN `node.tasks.open`). */
export interface TaskQueue {
  readonly name: string
  /** Peer ids of the queue's replicas. */
  readonly members: readonly string[]
  submit (input: Payload, options?: SubmitOptions): Promise<SubmittedTask>
  /** The task, or undefined when unknown (never submitted, or purged). */
  get (taskId: string, options?: WaitOptions): Promise<TaskInfo | undefined>
  /** The result once completed; TaskFailedError once failed, rejected or canceled. */
  result (taskId: string, options?: WaitOptions): Promise<Payload>
  /** Every state change of the task, in order, until it ends. */
  watch (taskId: string, options?: { signal?: AbortSignal }): AsyncIterable<TaskUpdateInfo>
  cancel (taskId: string): Promise<void>
  deadLetters (options?: { limit?: number }): Promise<TaskInfo[]>
  redrive (taskId: string): Promise<void>
  /** Workers the queue knows (registered by claim, renew or bid), with their load and breaker state. */
  workers (): Promise<QueueWorkerInfo[]>
  /** Judge results before they complete; validation is leased like work. Returns a stop function. */
  gate (fn: GateFunction, options?: { concurrency?: number }): { stop: () => Promise<void> }
  // ---- low-level worker API (the HTTP API and `--exec` workers build on it) ----
  claim (options?: ClaimOptions): Promise<ClaimedTask[]>
  /** Renew one lease; StaleLeaseError when it is lost or the task was canceled. */
  renew (taskId: string, token: number): Promise<void>
  /** Renew every listed lease of this node in one request. */
  renewAll (held: Array<{ taskId: string, token: number }>): Promise<RenewResult>
  complete (taskId: string, token: number, output: Payload): Promise<void>
  fail (taskId: string, token: number, error: TaskError | Error, options?: FailOptions): Promise<void>
  /** Give a verdict on a `validate` lease. */
  verdict (taskId: string, token: number, verdict: { accept: boolean, feedback?: string, final?: boolean }): Promise<void>
  /** Close this handle (stops its gates; the queue and its group stay). */
  close (): Promise<void>
}

/** What a handler gets besides the input. */
export interface WorkContext {
  taskId: string
  attempt: number
  /** The fencing token: only grows; pass it to whatever the side effect writes. */
  token: number
  feedback?: string
  /** Aborts when the lease is lost or the task canceled. */
  signal: AbortSignal
  /** Report liveness (and an optional note for logs); renewals happen anyway while the handler runs. */
  progress: (note?: string) => void
}

/** A worker's handler: its return value is the task's result; a throw fails the attempt. */
export type WorkHandler = (input: Payload, ctx: WorkContext) => Payload | Promise<Payload>

/** A bid for a task (contract-net): lower cost wins; undefined refuses. */
export type BidFunction = (input: Payload) => { cost: number, etaMs: number } | undefined | Promise<{ cost: number, etaMs: number } | undefined>

/** Options of `node.tasks.work`. */
export interface WorkOptions {
  /** Tasks run at once (default 1). */
  concurrency?: number
  capability?: string | string[]
  /** Answers calls for bids on bid queues. */
  bid?: BidFunction
  /** Error names (error.name) that fail the task without retry, besides the queue's nonRetryableErrors. */
  nonRetryableErrors?: string[]
  /** How long one claim long-polls (default 5000 ms). */
  pollMs?: number
}

/** A running worker. */
export interface WorkerHandle {
  /** Resolves once the queue is open and the worker claims; rejects with QueueNotFoundError (the worker then stops). */
  readonly ready: Promise<void>
  /** Stop claiming; waits for running handlers (their signal aborts). */
  stop (): Promise<void>
  /** Tasks this worker completed, failed, and lost. */
  stats (): { completed: number, failed: number, lost: number, running: number }
}

/** The `node.tasks` API. */
export interface TasksService {
  open (name: string, options?: OpenQueueOptions): Promise<TaskQueue>
  work (queue: string | TaskQueue, handler: WorkHandler, options?: WorkOptions): WorkerHandle
  /** Fork-join: submit all, wait for the results (or at least `min` of them). Failed ones are undefined. */
  all (queue: string | TaskQueue, inputs: Payload[], options?: { min?: number, submit?: SubmitOptions } & WaitOptions): Promise<Array<Payload | undefined>>
  stats (): TasksStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Counters of the tasks service. */
export interface TasksStats {
  /** Requests served for remote peers, refused as malformed or oversized, rate-limited. */
  served: number
  rejected: number
  rateLimited: number
  /** Raft proposals made (a batch counts once) and commands they carried. */
  proposals: number
  commands: number
  /** Transitions published on `tasks/<queue>` by this node while leader, and dropped (overflow or a failed publish). */
  published: number
  publishDropped: number
  /** Requests served for remote peers that arrived several to a frame (`reqs`). */
  coalesced: number
  /** Ended tasks this node pushed to their submitters as a member (SPEC "Pushed ends"). */
  endsPushed: number
  /**
   * Queues this node hosts as a member, with the tasks its replica holds in each state and its
   * dead letters. A follower's replica may trail the leader's by the entries not yet applied.
   */
  hosted: HostedQueueCounts[]
}

/** One hosted queue's task counts (TasksStats.hosted). */
export interface HostedQueueCounts {
  name: string
  byState: Partial<Record<TaskState, number>>
  deadLetters: number
  /** Attempts ended because their lease ran out, applied on this replica since the node started. */
  leaseExpiries: number
  /** Workers the queue knows, by circuit-breaker state. */
  breakers: Record<'closed' | 'open' | 'half-open', number>
}
