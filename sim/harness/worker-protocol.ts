// Messages between the controller and a node worker process (IPC, structured clone), so a
// TCP simulation drives each real node the same way as an in-process one.

import type { Payload } from '../../src/index.ts'
import type { ErrorShape } from './ops.ts'

/** What the worker needs to start its node. */
export interface WorkerStart { name: string, dataDir?: string, listen: string, peers: string[], plugins: string[], denied: string[], handlers: string[], topics: string[] }

/** Controller → worker: an operation to run, answered by a WorkerReply with the same id. */
export type WorkerCommand =
  | { id: number, op: 'start', args: WorkerStart }
  | { id: number, op: 'stop' }
  | { id: number, op: 'handle', args: { method: string } }
  | { id: number, op: 'request', args: { peer: string, method: string, payload: Payload, timeoutMs?: number } }
  | { id: number, op: 'snapshot' }
  | { id: number, op: 'subscribe', args: { topic: string } }
  | { id: number, op: 'publish', args: { topic: string, data: Uint8Array } }
  | { id: number, op: 'drain' }
  | { id: number, op: 'deny', args: { peerIds: string[] } }
  | { id: number, op: 'learn', args: { peers: Array<{ peerId: string, addresses: string[] }> } }
  | { id: number, op: 'invoke', args: { op: string, args: unknown } }

/** Worker → controller: the outcome of one command. */
export type WorkerReply = { id: number, ok: true, value: unknown } | { id: number, ok: false, error: ErrorShape }

/** Worker → controller: an inbound direct request for a handler that lives in the controller. */
export interface HandlerCall { call: number, method: string, payload: Payload, from: string }
/** Controller → worker: the handler's answer. */
export type HandlerAnswer = { answer: number, ok: true, value: Payload } | { answer: number, ok: false, error: ErrorShape }
