// `node.tasks` on kit ports: queues hosted on this member (host.ts), a client for queues hosted
// elsewhere (requests over the TASKS_PROTOCOL link to a member, identity from the connection),
// the server answering peers, the queue handle (DESIGN "Tasks") and `work()`. libp2p-free: the
// node supplies the link set, the clock, the Raft groups, the DHT directory and the event log.

import type { Logger } from '@libp2p/interface'
import type { Clock, TimerHandle } from '../kit/clock.ts'
import { sleep } from '../kit/clock.ts'
import { decodeCbor } from '../kit/cbor.ts'
import { AbortedError, AgentMeshError, DecodeError, LimitExceededError, NotRunningError, PeerUnreachableError, TimeoutError, describeError } from '../kit/errors.ts'
import type { PeerLinks } from '../kit/peer-link.ts'
import type { Payload } from '../kit/payload.ts'
import { KeyedTokenBuckets } from '../kit/token-bucket.ts'
import type { OpenQueueOptions, TasksService, TasksStats } from './api.ts'
import { QueueNotFoundError, StaleLeaseError, TaskFailedError, TaskRefusedError, TaskRequestRefusedError } from './errors.ts'
import { HostedQueue } from './host.ts'
import type { ClaimedWire, JoinQueueGroup, PublishEvent } from './host.ts'
import type { TaskView } from './machine.ts'
import { NAME_CHARS_MAX, decodeTaskRequest, encodeTaskRequest } from './messages.ts'
import type { TaskRequest } from './messages.ts'
import type { TaskSuccess } from './results.ts'
import { QueueHandle, REQUEST_TIMEOUT_MS_DEFAULT, definedOnly } from './queue.ts'
import type { Backend, CallFrame, StartGate } from './queue.ts'
import { REQUESTS_PER_FRAME_MAX, decodeTasksFrame, encodeTasksFrame } from './wire.ts'
import type { TaskEnd, TaskRead, TasksFrame } from './wire.ts'
import { WorkerImpl } from './worker.ts'

export { encodePayload } from './queue.ts'
export { REQUEST_TIMEOUT_MS_DEFAULT } from './queue.ts'

/**
 * Requests one peer may send per second (burst twice that). A producer sends two per task (submit,
 * result), so this lets one client drive about 4,000 tasks/s. Serving one costs a member about
 * 50 µs of CPU (the `tasks` benchmark: ~0.6 ms of CPU per task for all 8 nodes in one process, ~6
 * requests), so one peer at the limit takes under half a core of a member, not all of it.
 */
export const REQUESTS_PER_PEER_PER_S = 8_000
/** Long-polls (claims, waits) one member serves at once for all peers, and for one peer: each holds a promise and a timer. */
export const SERVING_MAX = 4_096
export const SERVING_PER_PEER_MAX = 1_024
/** Peers tracked by the rate limiter. */
export const RATE_PEERS_MAX = 1_024
/** Calls this node waits on at once over the link (each holds a timer and a promise). */
export const CALLS_PENDING_MAX = 4_096
/** Deadline of one call to a member, beyond its long-poll: past it the next member is tried. */
export const CALL_TIMEOUT_MS = 5_000
/** Deadline of a call to a member this node has no connection to (it may have no known address yet). */
export const UNCONNECTED_CALL_TIMEOUT_MS = 1_000
/** How long `open` without members looks for the queue's DHT record. */
export const OPEN_TIMEOUT_MS_DEFAULT = 10_000
/**
 * How long `result` waits for the end the member that accepted the submit pushes (SPEC "Pushed
 * ends") before it asks for it with a long-poll: a pushed end may be lost (the member forgot it
 * past END_WAITERS_MAX, restored a snapshot, or its link dropped the frame). Losing the member's
 * connection ends the wait at once. A task that runs longer costs one long-poll per WAIT_MS_MAX/2.
 */
export const PUSH_WAIT_MS = 5_000
/** Tasks one remote handle expects a pushed end for, and ends received before `result` asked: each is a map entry; past it the oldest is forgotten (its `result` long-polls). */
export const PUSHED_ENDS_MAX = 8_192
/** Bytes of requests one `reqs` frame carries: a few results of TASK_OUTPUT_BYTES_MAX, far under TASKS_FRAME_BYTES_MAX. */
export const COALESCED_BYTES_MAX = 256 * 1024
/** Requests a remote handle coalesces into `reqs` frames: the ones sent once per task. */
const COALESCED_OPS: ReadonlySet<string> = new Set(['submit', 'complete', 'fail'])
/** Queues one node may open (hosted or remote handles are cached per name). */
export const QUEUES_MAX = 64
/** Key prefix of a queue's directory record: `tasks/<name>` → `{members}`. */
export const DIRECTORY_PREFIX = 'tasks/'

/** An error as the wire carries it (an `err` frame's fields, or one outcome of a `reqs` answer). */
type RemoteErrorFields = Omit<Extract<TasksFrame, { k: 'err' }>, 'k' | 'id'>
/** One outcome in the answer to a `reqs` frame. */
type ManyItem = { v: TaskSuccess } | { e: RemoteErrorFields }

/** The DHT directory port: queue name → members. */
export interface QueueDirectory {
  put (key: string, value: Payload): Promise<void>
  get (key: string): Promise<Payload | undefined>
}

/** What the tasks service uses of its node. */
export interface TasksComponents {
  readonly self: string
  readonly log: Logger
  readonly clock: Clock
  /** The TASKS_PROTOCOL link set (bounded frames, authenticated sender). */
  readonly links: PeerLinks
  readonly joinGroup: JoinQueueGroup
  readonly directory: QueueDirectory
  /** Publishes a task transition on `tasks/<queue>` (the events service), best effort. */
  readonly publish?: PublishEvent
  /** True when this node has an open connection to `peer`: calls go to a connected member first (a frame to a peer with no known address is dropped). */
  readonly connected?: (peer: string) => boolean
  /**
   * Subscribes to the loss of the last connection to a peer; returns the unsubscribe. Calls
   * waiting on that peer fail at once (the caller asks another member) rather than at their
   * deadline, which for a long-poll is its wait plus CALL_TIMEOUT_MS.
   */
  readonly onDisconnect?: (fn: (peer: string) => void) => () => void
  /** Subscribes to health's dead verdicts; returns the unsubscribe. */
  readonly onPeerDead?: (fn: (peer: string) => void) => () => void
}

/** Tunables of the tasks service. */
export interface TasksInit {
  /** The leader's tick interval (ms). */
  tickMs?: number
  /** Bid window of bid queues (ms). */
  bidWindowMs?: number
}

/** Build `node.tasks`. */
export function createTasksService (components: TasksComponents, init: TasksInit = {}): TasksService {
  const { self, log, clock, links } = components
  const hosted = new Map<string, HostedQueue>()
  const handles = new Map<string, QueueHandle>()
  const opening = new Map<string, Promise<QueueHandle>>()
  const buckets = new KeyedTokenBuckets({ capacity: 2 * REQUESTS_PER_PEER_PER_S, refillPerS: REQUESTS_PER_PEER_PER_S }, { keysMax: RATE_PEERS_MAX })
  const counters = { served: 0, rejected: 0, rateLimited: 0, coalesced: 0 }
  const calls = new Map<number, { peer: string, resolve: (v: unknown) => void, reject: (e: Error) => void, onLeader?: (leader: string) => void }>()
  /** Remote queue handles by name: where pushed `end` frames go. */
  const endReceivers = new Map<string, { members: readonly string[], receive: (ends: TaskEnd[]) => void, memberLost: (peer: string) => void }>()
  let nextId = 1
  let running = false
  const workers = new Set<WorkerImpl>()
  let unDead: (() => void) | undefined
  let unDisconnect: (() => void) | undefined

  // ---- client: calls to a member --------------------------------------------------------

  async function call (peer: string, frame: CallFrame, timeoutMs: number, signal?: AbortSignal, onLeader?: (leader: string) => void): Promise<unknown> {
    if (!running) throw new NotRunningError('The tasks service is stopped')
    if (calls.size >= CALLS_PENDING_MAX) throw new LimitExceededError(`Cannot call queue member: ${CALLS_PENDING_MAX} calls already pending (CALLS_PENDING_MAX)`)
    const id = nextId++
    return new Promise((resolve, reject) => {
      // a member we are not connected to may have no known address yet (the frame is then dropped): try the next one soon
      const limitMs = components.connected !== undefined && !components.connected(peer) ? Math.min(timeoutMs, UNCONNECTED_CALL_TIMEOUT_MS) : timeoutMs
      const timer = clock.setTimeout(() => { done(); links.send(peer, encodeTasksFrame({ k: 'cancel', id })); reject(new TimeoutError(`Queue member ${peer} did not answer within ${limitMs} ms`)) }, limitMs)
      const onAbort = (): void => { done(); links.send(peer, encodeTasksFrame({ k: 'cancel', id })); reject(new AbortedError('Queue request was aborted')) }
      const done = (): void => { calls.delete(id); timer.cancel(); signal?.removeEventListener('abort', onAbort) }
      signal?.addEventListener('abort', onAbort, { once: true })
      calls.set(id, { peer, resolve: (v) => { done(); resolve(v) }, reject: (e) => { done(); reject(e) }, onLeader })
      links.send(peer, encodeTasksFrame({ ...frame, id } as TasksFrame))
    })
  }

  function remoteError (f: RemoteErrorFields): Error {
    switch (f.name) {
      case 'StaleLeaseError': return new StaleLeaseError(f.msg, { reason: (f.reason ?? 'not-leased') as never, taskId: f.t ?? '' })
      case 'TaskRefusedError': return new TaskRefusedError(f.code, f.msg)
      case 'QueueNotFoundError': return new QueueNotFoundError('', f.msg)
      case 'LimitExceededError': return new LimitExceededError(f.msg)
      case 'DecodeError': return new DecodeError(f.msg)
      default: return new TaskRequestRefusedError(f.code, f.msg)
    }
  }

  /** Errors worth another member: the member is gone, slow, or not hosting (yet). */
  function retryable (err: unknown): boolean {
    return err instanceof TimeoutError || err instanceof NotRunningError || err instanceof PeerUnreachableError || (err instanceof AgentMeshError && ['ERR_NOT_RUNNING', 'ERR_TIMEOUT', 'ERR_NO_LEADER', 'ERR_QUEUE_NOT_FOUND'].includes(err.code)) || (err instanceof TaskRequestRefusedError && ['unavailable', 'ERR_NOT_RUNNING', 'ERR_NO_LEADER', 'ERR_TIMEOUT'].includes(err.refusal))
  }

  function remoteBackend (queue: string, members: string[]): Backend {
    // start at a member we are connected to (spread over them), else any
    const connected = members.filter((m) => components.connected?.(m) === true)
    const pool = connected.length > 0 ? connected : members
    let preferred = pool[Math.floor(Math.random() * pool.length)] ?? members[0]!
    // a member that is not the leader names it in its answer: later calls go to the leader itself
    let hinted: string | undefined
    const onLeader = (leader: string): void => { if (members.includes(leader)) hinted = leader }
    const attempt = async <T>(frame: CallFrame, waitMs: number, options: { signal?: AbortSignal, timeoutMs?: number }, answered?: (peer: string, v: T) => void): Promise<T> => {
      const deadline = clock.nowMs() + (options.timeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT) + waitMs
      let last: unknown
      for (let i = 0; ; i++) {
        const peer = preferred
        const left = deadline - clock.nowMs()
        if (left <= 0) throw last instanceof Error ? last : new TimeoutError(`No member of queue "${queue}" answered in time`)
        try {
          const v = await call(peer, frame, Math.min(left, waitMs + CALL_TIMEOUT_MS), options.signal, onLeader)
          preferred = hinted ?? peer
          hinted = undefined
          answered?.(peer, v as T)
          return v as T
        } catch (err) {
          if (!retryable(err) || options.signal?.aborted === true) throw err
          last = err
          if (peer === preferred) {
            const others = members.filter((m) => m !== peer)
            preferred = others.find((m) => components.connected?.(m) === true) ?? members[(members.indexOf(peer) + 1) % members.length]!
          }
          await sleep(clock, Math.min(100 * (i + 1), 1000), options.signal)
        }
      }
    }
    // Pushed ends (SPEC "Pushed ends"): a submit asks the member that accepts it to push the
    // task's end; `result` then needs no request of its own. Tasks expected, by id → that member.
    const expected = new Map<string, { member: string, wake?: (end: TaskEnd | undefined) => void }>()
    const received = new Map<string, TaskEnd>()
    const forgetOldest = (m: Map<string, unknown>): void => { while (m.size > PUSHED_ENDS_MAX) m.delete(m.keys().next().value!) }
    endReceivers.set(queue, {
      members,
      receive: (ends) => {
        for (const e of ends) {
          const x = expected.get(e.t)
          if (x === undefined) continue // not ours, or already given up on
          expected.delete(e.t)
          if (x.wake !== undefined) x.wake(e)
          else { received.set(e.t, e); forgetOldest(received) }
        }
      },
      memberLost: (peer) => {
        for (const [id, x] of [...expected]) if (x.member === peer) { expected.delete(id); x.wake?.(undefined) }
      }
    })
    const submitted = (peer: string, v: TaskSuccess): void => {
      if (v.op !== 'submit') return
      expected.set(v.taskId, { member: peer })
      forgetOldest(expected)
    }
    const single = async (request: TaskRequest, options: { signal?: AbortSignal, timeoutMs?: number }, bytes = encodeTaskRequest(request)): Promise<TaskSuccess> => request.op === 'submit'
      ? attempt<TaskSuccess>({ k: 'req', q: queue, r: bytes, n: true }, 0, options, submitted)
      : attempt<TaskSuccess>({ k: 'req', q: queue, r: bytes }, 0, options)
    // Submits and results made within one timer turn leave in one `reqs` frame (a worker's handlers
    // finishing together, a producer answering a pushed batch of ends): one frame and one answer
    // for all; each is still its own command, with its own outcome.
    let coalesced: Array<{ request: TaskRequest, bytes: Uint8Array, resolve: (v: TaskSuccess) => void, reject: (e: Error) => void }> = []
    let coalescedBytes = 0
    let flushTimer: TimerHandle | undefined
    const flush = (): void => {
      flushTimer?.cancel()
      flushTimer = undefined
      const batch = coalesced
      coalesced = []
      coalescedBytes = 0
      if (batch.length === 0) return
      if (batch.length === 1) { const b = batch[0]!; single(b.request, {}, b.bytes).then(b.resolve, b.reject); return }
      let answeredBy = ''
      const frame: CallFrame = { k: 'reqs', q: queue, rs: batch.map((b) => b.bytes) }
      if (batch.some((b) => b.request.op === 'submit')) frame.n = true
      attempt<ManyItem[]>(frame, 0, {}, (peer) => { answeredBy = peer }).then((items) => {
        if (!Array.isArray(items) || items.length !== batch.length) throw new DecodeError(`Cannot read a tasks requests answer: ${Array.isArray(items) ? items.length : 'no'} outcomes for ${batch.length} requests`)
        batch.forEach((b, i) => {
          const item = items[i] as Partial<{ v: TaskSuccess, e: RemoteErrorFields }> | undefined
          if (item?.v !== undefined) {
            submitted(answeredBy, item.v)
            b.resolve(item.v)
            return
          }
          const err = item?.e !== undefined ? remoteError(item.e) : new DecodeError('Cannot read a tasks requests answer: an outcome is neither a value nor an error')
          // refused for a reason another member (or a moment later) may not have: asked again on its own
          if (retryable(err)) single(b.request, {}, b.bytes).then(b.resolve, b.reject)
          else b.reject(err)
        })
      }).catch((err: unknown) => { for (const b of batch) b.reject(err as Error) })
    }
    const coalesce = async (request: TaskRequest): Promise<TaskSuccess> => new Promise((resolve, reject) => {
      const bytes = encodeTaskRequest(request)
      if (coalesced.length >= REQUESTS_PER_FRAME_MAX || coalescedBytes + bytes.byteLength > COALESCED_BYTES_MAX) flush()
      coalesced.push({ request, bytes, resolve, reject })
      coalescedBytes += bytes.byteLength
      flushTimer ??= clock.setTimeout(flush, 0)
    })
    return {
      request: async (request, options = {}) => (COALESCED_OPS.has(request.op) && options.signal === undefined && options.timeoutMs === undefined)
        ? coalesce(request)
        : single(request, options),
      ended: async (taskId, options = {}) => {
        const got = received.get(taskId)
        if (got !== undefined) { received.delete(taskId); return got }
        const x = expected.get(taskId)
        if (x === undefined || x.wake !== undefined || options.signal?.aborted === true) return undefined
        return new Promise<TaskEnd | undefined>((resolve) => {
          const timer = clock.setTimeout(() => { finish(undefined) }, Math.min(PUSH_WAIT_MS, options.timeoutMs ?? PUSH_WAIT_MS))
          const onAbort = (): void => { finish(undefined) }
          const finish = (end: TaskEnd | undefined): void => {
            timer.cancel()
            options.signal?.removeEventListener('abort', onAbort)
            if (expected.get(taskId) === x) expected.delete(taskId)
            resolve(end)
          }
          x.wake = finish
          options.signal?.addEventListener('abort', onAbort, { once: true })
        })
      },
      // results waiting to be coalesced leave first: the member applies them before the claim (their slots free up)
      claim: async (request, waitMs, signal) => { flush(); return attempt<ClaimedWire[]>({ k: 'req', q: queue, r: encodeTaskRequest(request), w: waitMs }, waitMs, { signal }) },
      read: async (read, options = {}) => attempt({ k: 'read', q: queue, read }, read.op === 'wait' ? read.waitMs : 0, options)
    }
  }

  function localBackend (h: HostedQueue): Backend {
    return {
      request: async (request, options = {}) => h.request(self, request, options.signal),
      claim: async (request, waitMs, signal) => h.claim(self, request, waitMs, signal),
      read: async (read, options = {}) => serveRead(h, read, options.signal)
    }
  }

  async function serveRead (h: HostedQueue, read: TaskRead, signal?: AbortSignal): Promise<unknown> {
    switch (read.op) {
      case 'get': return (await h.get(read.taskId, { signal })) ?? null
      case 'wait': return (await h.wait(read.taskId, read.sig, read.waitMs, signal, read.end === true)) ?? null
      case 'dead': await h.get('-', { signal }); return h.deadLetters(read.limit)
      case 'workers': await h.get('-', { signal }); return h.machine.workers()
    }
  }

  // ---- server: requests from peers ---------------------------------------------------------

  /** Long-polls served for peers, by `<peer>/<id>`, so a `cancel` frame can end them. */
  const serving = new Map<string, AbortController>()
  const servingPerPeer = new Map<string, number>()

  function answer (peer: string, id: number, work: Promise<unknown>, controller?: AbortController, h?: HostedQueue): void {
    const key = `${peer}/${id}`
    if (controller !== undefined) { serving.set(key, controller); servingPerPeer.set(peer, (servingPerPeer.get(peer) ?? 0) + 1) }
    work.finally(() => {
      if (controller === undefined) return
      serving.delete(key)
      const n = (servingPerPeer.get(peer) ?? 1) - 1
      if (n <= 0) servingPerPeer.delete(peer)
      else servingPerPeer.set(peer, n)
    }).catch(() => undefined) // the outcome (and any error) is answered by the `then` below
    work.then((v) => {
      counters.served++
      const frame: Extract<TasksFrame, { k: 'ok' }> = { k: 'ok', id, v }
      const leader = h?.group.leader()
      if (leader !== undefined && leader !== null && leader !== self) frame.l = leader
      links.send(peer, encodeTasksFrame(frame))
    }, (err: unknown) => {
      links.send(peer, encodeTasksFrame({ k: 'err', id, ...errorFields(err) }))
    })
  }

  /** An error as an `err` frame (or a `reqs` answer item) carries it. */
  function errorFields (err: unknown): RemoteErrorFields {
    const e = err instanceof Error ? err : new Error(String(err))
    const fields: RemoteErrorFields = { name: e.name.slice(0, NAME_CHARS_MAX) || 'Error', code: ((e as AgentMeshError).code ?? 'ERR_UNKNOWN').slice(0, NAME_CHARS_MAX), msg: e.message.slice(0, 1024) }
    if (e instanceof StaleLeaseError) { fields.reason = e.reason; fields.t = e.taskId }
    if (e instanceof NotRunningError) fields.code = 'ERR_NOT_RUNNING'
    return fields
  }

  /** A `reqs` frame: each request rate-limited, decoded and proposed on its own; one answer with every outcome in order. */
  function serveMany (from: string, frame: Extract<TasksFrame, { k: 'reqs' }>, h: HostedQueue): void {
    counters.coalesced += frame.rs.length
    const work = Promise.all(frame.rs.map(async (bytes, i): Promise<ManyItem> => {
      try {
        // the frame took one token; each further request takes its own
        if (i > 0 && !buckets.take(from, clock.nowMs())) { counters.rateLimited++; throw new TaskRequestRefusedError('rate-limited', `Refused: more than REQUESTS_PER_PEER_PER_S (${REQUESTS_PER_PEER_PER_S}) requests per second from ${from}`) }
        let request: TaskRequest
        try {
          request = decodeTaskRequest(bytes)
          if (request.op === 'claim') throw new DecodeError('Cannot decode tasks requests frame: a claim long-polls and goes in its own req frame')
        } catch (err) {
          counters.rejected++
          log('refused a request in a tasks frame from %s: %s', from, describeError(err))
          throw new TaskRequestRefusedError(err instanceof LimitExceededError ? 'limit-exceeded' : 'malformed', `Refused a task request: ${describeError(err)}`)
        }
        const r = await h.request(from, request)
        if (frame.n === true && r.op === 'submit') h.notifyEnd(r.taskId, from)
        return { v: r }
      } catch (err) {
        return { e: errorFields(err) }
      }
    }))
    answer(from, frame.id, work, undefined, h)
  }

  function refuse (peer: string, id: number | undefined, code: string, message: string): void {
    counters.rejected++
    log('refused a tasks frame from %s: %s', peer, message)
    if (id !== undefined) links.send(peer, encodeTasksFrame({ k: 'err', id, name: 'TaskRequestRefusedError', code, msg: message }))
  }

  function onFrame (from: string, bytes: Uint8Array): void {
    let frame: TasksFrame
    try {
      frame = decodeTasksFrame(bytes)
    } catch (err) {
      // answer with the reason when the id is readable, so the sender learns what was wrong
      let id: number | undefined
      try { const v = decodeCbor(bytes, { bytesMax: bytes.byteLength, what: 'tasks frame' }) as { id?: unknown }; if (typeof v?.id === 'number' && Number.isSafeInteger(v.id)) id = v.id } catch (inner) { log('tasks frame from %s unreadable: %s', from, describeError(inner)) }
      refuse(from, id, err instanceof LimitExceededError ? 'limit-exceeded' : 'malformed', `Refused a tasks frame: ${describeError(err)}`)
      return
    }
    if (frame.k === 'ok' || frame.k === 'err') {
      const c = calls.get(frame.id)
      if (c === undefined || c.peer !== from) { counters.rejected++; return } // late, or not from whom we asked
      if (frame.k === 'ok') { if (frame.l !== undefined) c.onLeader?.(frame.l); c.resolve(frame.v) }
      else c.reject(remoteError(frame))
      return
    }
    if (frame.k === 'cfb') { onCallForBids(from, frame); return }
    if (frame.k === 'end') {
      const r = endReceivers.get(frame.q)
      if (r === undefined || !r.members.includes(from)) { counters.rejected++; return } // only a member of the queue pushes ends
      r.receive(frame.e)
      return
    }
    if (frame.k === 'cancel') { serving.get(`${from}/${frame.id}`)?.abort(); return }
    if (!buckets.take(from, clock.nowMs())) { counters.rateLimited++; refuse(from, frame.id, 'rate-limited', `Refused: more than REQUESTS_PER_PEER_PER_S (${REQUESTS_PER_PEER_PER_S}) requests per second from ${from}`); return }
    const h = hosted.get(frame.q)
    if (h === undefined) { refuse(from, frame.id, 'unavailable', `Queue "${frame.q}" is not hosted on ${self}`); return }
    const longPoll = (frame.k === 'read' && frame.read.op === 'wait') || (frame.k === 'req' && (frame.w ?? 0) > 0)
    if (longPoll && (serving.size >= SERVING_MAX || (servingPerPeer.get(from) ?? 0) >= SERVING_PER_PEER_MAX)) {
      refuse(from, frame.id, 'unavailable', `Refused a long-poll: ${serving.size >= SERVING_MAX ? `this member serves SERVING_MAX (${SERVING_MAX})` : `${from} has SERVING_PER_PEER_MAX (${SERVING_PER_PEER_MAX})`} long-polls already`)
      return
    }
    if (frame.k === 'reqs') { serveMany(from, frame, h); return }
    if (frame.k === 'read') { const c = new AbortController(); answer(from, frame.id, serveRead(h, frame.read, c.signal), c, h); return }
    let request: TaskRequest
    try {
      request = decodeTaskRequest(frame.r)
    } catch (err) {
      refuse(from, frame.id, err instanceof LimitExceededError ? 'limit-exceeded' : 'malformed', `Refused a task request: ${describeError(err)}`)
      return
    }
    if (request.op === 'claim') { const c = new AbortController(); answer(from, frame.id, h.claim(from, request, frame.w ?? 0, c.signal), c, h) }
    else if (request.op === 'submit' && frame.n === true) answer(from, frame.id, h.request(from, request).then((r) => { if (r.op === 'submit') h.notifyEnd(r.taskId, from); return r }), undefined, h)
    else answer(from, frame.id, h.request(from, request), undefined, h)
  }

  function onCallForBids (from: string, f: Extract<TasksFrame, { k: 'cfb' }>): void {
    const handle = handles.get(f.q)
    if (handle === undefined || !handle.members.includes(from)) { counters.rejected++; return } // only a member calls for bids
    for (const w of workers) if (w.queue === handle) w.onCallForBids(f.t, f.a, f.in)
  }

  /** Resubmit a forwarded task on its fallback queue, with the same input, capability and priority. */
  async function forwardTask (fallback: string, task: TaskView, idempotencyKey: string): Promise<void> {
    const q = await open(fallback)
    const request = { op: 'submit', input: task.input, priority: task.priority, idempotencyKey } as Extract<TaskRequest, { op: 'submit' }>
    if (task.capability !== undefined) request.capability = task.capability
    await q.backend.request(request)
  }

  // ---- open ---------------------------------------------------------------------------------

  async function open (name: string, options: OpenQueueOptions = {}): Promise<QueueHandle> {
    if (!running) throw new NotRunningError('The tasks service is stopped')
    if (typeof name !== 'string' || name.length === 0 || name.length > NAME_CHARS_MAX || name.includes('!')) throw new DecodeError(`Invalid queue name: 1..${NAME_CHARS_MAX} characters without "!"`)
    const known = handles.get(name)
    if (known !== undefined) return known
    const ongoing = opening.get(name)
    if (ongoing !== undefined) return ongoing
    if (handles.size >= QUEUES_MAX) throw new LimitExceededError(`Cannot open queue "${name}": ${QUEUES_MAX} queues open (QUEUES_MAX)`)
    const p = (async () => {
      let members = options.members
      if (members === undefined) {
        const deadline = clock.nowMs() + (options.timeoutMs ?? OPEN_TIMEOUT_MS_DEFAULT)
        for (;;) {
          const record = await components.directory.get(`${DIRECTORY_PREFIX}${name}`).catch((err: unknown) => { log('directory read of queue %s failed: %s', name, describeError(err)); return undefined })
          const list = (record as { members?: unknown } | undefined)?.members
          if (Array.isArray(list) && list.length > 0 && list.every((m) => typeof m === 'string')) {
            members = list as string[]
            // a member reopening by name (a restart) must run the same policy as the other replicas
            const recorded = (record as { policy?: unknown }).policy
            if (members.includes(self) && typeof recorded === 'object' && recorded !== null) options = { ...(recorded as OpenQueueOptions), ...options }
            break
          }
          if (clock.nowMs() >= deadline) throw new QueueNotFoundError(name, `Queue "${name}" not found: no DHT record ${DIRECTORY_PREFIX}${name} names its members (open it with { members } first)`)
          await sleep(clock, 250)
        }
      }
      let backend: Backend
      if (members.includes(self)) {
        const { heartbeatMs, electionMs, timeoutMs, ...policy } = options
        const sendCallForBids = (worker: string, c: { queue: string, taskId: string, attempt: number, input: Uint8Array }): void => {
          const frame: Extract<TasksFrame, { k: 'cfb' }> = { k: 'cfb', q: c.queue, t: c.taskId, a: c.attempt, in: c.input }
          if (worker === self) onCallForBids(self, frame)
          else links.send(worker, encodeTasksFrame(frame))
        }
        const pushEnds = (peer: string, ends: TaskEnd[]): void => { links.send(peer, encodeTasksFrame({ k: 'end', q: name, e: ends })) }
        const h = new HostedQueue({ name, self, options: { ...policy, members }, clock, log: log.newScope(name), tickMs: init.tickMs, bidWindowMs: init.bidWindowMs, sendCallForBids, publish: components.publish, forward: forwardTask, pushEnds })
        const group = await components.joinGroup(`tasks/${name}`, { members, apply: h.apply, snapshot: h.snapshotHooks, heartbeatMs, electionMs })
        h.start(group)
        hosted.set(name, h)
        links.keepAlive([...new Set([...hosted.values()].flatMap((q) => q.members))].filter((m) => m !== self))
        backend = localBackend(h)
        components.directory.put(`${DIRECTORY_PREFIX}${name}`, { members, policy: definedOnly(policy) as Payload }).catch((err: unknown) => { log.error('could not record queue %s in the DHT: %s', name, describeError(err)) })
      } else {
        backend = remoteBackend(name, members)
      }
      const handle = new QueueHandle({ name, members, backend, startGate })
      handles.set(name, handle)
      return handle
    })()
    opening.set(name, p)
    try { return await p } finally { opening.delete(name) }
  }

  const startGate: StartGate = (queue, fn, gateOptions) => {
    const worker = service.work(queue, async () => null, { concurrency: gateOptions.concurrency ?? 1 }) as WorkerImpl
    worker.validator = fn
    return worker
  }

  const service: TasksService = {
    open,
    work (queue, handler, options = {}) {
      const w = new WorkerImpl(typeof queue === 'string' ? open(queue) : Promise.resolve(queue as QueueHandle), handler, options, clock, log.newScope('worker'))
      workers.add(w)
      w.onStop = () => { workers.delete(w) }
      w.start()
      return w
    },
    async all (queue, inputs, options = {}) {
      const q = typeof queue === 'string' ? await open(queue) : queue
      const min = options.min ?? inputs.length
      if (!(Number.isInteger(min) && min >= 0 && min <= inputs.length)) throw new RangeError(`Invalid min ${String(options.min)}: expected an integer in [0, ${inputs.length}]`)
      const submitted = await Promise.all(inputs.map(async (input) => q.submit(input, options.submit)))
      const results: Array<Payload | undefined> = inputs.map(() => undefined)
      // every task settles (completed, failed, or its wait timed out); fewer than min results is a failure
      const settled = await Promise.allSettled(submitted.map(async (s) => q.result(s.id, { signal: options.signal, timeoutMs: options.timeoutMs })))
      let ok = 0
      settled.forEach((r, i) => {
        if (r.status === 'fulfilled') { results[i] = r.value; ok++ } else if (!(r.reason instanceof TaskFailedError)) log('fork-join: task %s: %s', submitted[i]!.id, describeError(r.reason))
      })
      if (ok < min) throw new TaskFailedError(`fork-join of ${inputs.length} on "${q.name}"`, { state: `with ${ok} results, fewer than min ${min}` })
      return results
    },
    stats (): TasksStats {
      let proposals = 0; let commands = 0; let published = 0; let publishDropped = 0; let endsPushed = 0
      for (const h of hosted.values()) { proposals += h.counters.proposals; commands += h.counters.commands; published += h.counters.published; publishDropped += h.counters.publishDropped; endsPushed += h.counters.endsPushed }
      const counts = [...hosted.values()].map((h) => {
        const breakers = { closed: 0, open: 0, 'half-open': 0 }
        for (const w of h.machine.workers()) breakers[w.breaker]++
        return { name: h.name, ...h.machine.counts(), leaseExpiries: h.counters.leaseExpiries, breakers }
      })
      return { ...counters, proposals, commands, published, publishDropped, endsPushed, hosted: counts }
    },
    async start () {
      if (running) return
      running = true
      links.onFrame(onFrame)
      await links.start()
      unDead = components.onPeerDead?.((peer) => { for (const h of hosted.values()) h.workerDead(peer) })
      unDisconnect = components.onDisconnect?.((peer) => {
        for (const c of [...calls.values()]) if (c.peer === peer) c.reject(new PeerUnreachableError(`Queue member ${peer} disconnected before answering`))
        for (const r of endReceivers.values()) r.memberLost(peer) // its pushed ends will not come: results ask another member
      })
    },
    async stop () {
      if (!running) return
      await Promise.all([...workers].map(async (w) => { await w.stop() }))
      running = false
      unDead?.()
      unDisconnect?.()
      for (const c of [...calls.values()]) c.reject(new NotRunningError('The tasks service stopped'))
      await Promise.all([...hosted.values()].map(async (h) => { await h.stop() }))
      hosted.clear(); handles.clear(); endReceivers.clear()
      await links.stop()
    }
  }
  return service
}
