// A simulated node in its own OS process on loopback TCP (`--transport tcp`), driven over IPC.
// Direct-message handlers stay in the controller: the worker relays each inbound request.

import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Payload } from '../../src/index.ts'
import { NotRunningError, TimeoutError } from '../../protocols/kit/errors.ts'
import { RemoteOpError, errorShape } from './ops.ts'
import type { NodeSnapshot, ReceivedMessage } from './ops.ts'
import type { SimHandler, SimNode, SimNodeSpec } from './sim-node.ts'
import type { HandlerAnswer, HandlerCall, WorkerCommand, WorkerReply } from './worker-protocol.ts'

const WORKER_PATH = fileURLToPath(new URL('./worker.ts', import.meta.url))
/** How long a worker may take to load libp2p and start listening (2 busy cores, many workers). */
export const WORKER_START_TIMEOUT_MS = 60_000
/** Upper bound for any other command; requests add their own timeout on top. */
export const WORKER_COMMAND_TIMEOUT_MS = 60_000

type Command = WorkerCommand extends infer C ? C extends { id: number } ? Omit<C, 'id'> : never : never

/** One worker process; restartable on the same data dir and TCP port. */
export class ProcessSimNode implements SimNode {
  readonly index: number
  readonly name: string
  readonly local = undefined
  readonly #spec: SimNodeSpec
  readonly #handlers = new Map<string, SimHandler>()
  readonly #topics = new Set<string>()
  #denied: string[] = []
  #child: ChildProcess | undefined
  #pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  #nextId = 1
  #peerId = ''
  #addresses: string[] = []
  #listen = '/ip4/127.0.0.1/tcp/0'

  constructor (spec: SimNodeSpec) {
    this.#spec = spec
    this.index = spec.index
    this.name = spec.name
  }

  get peerId (): string { return this.#peerId }
  get running (): boolean { return this.#child !== undefined }
  addresses (): string[] { return this.running ? this.#addresses : [] }

  async start (): Promise<void> {
    if (this.#child !== undefined) return
    const child = fork(WORKER_PATH, [], { execPath: process.execPath, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child = child
    child.on('message', (message: WorkerReply | HandlerCall) => { this.#onMessage(message) })
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined
      const error = new NotRunningError(`Simulated node ${this.name} exited (${signal ?? `code ${String(code)}`})`)
      for (const entry of this.#pending.values()) { clearTimeout(entry.timer); entry.reject(error) }
      this.#pending.clear()
    })
    const started = await this.#command({ op: 'start', args: { name: this.name, dataDir: this.#spec.dataDir, listen: this.#listen, peers: this.#spec.peers, plugins: this.#spec.plugins, denied: this.#denied, handlers: [...this.#handlers.keys()], topics: [...this.#topics] } }, WORKER_START_TIMEOUT_MS) as { peerId: string, addresses: string[] }
    this.#peerId = started.peerId
    this.#addresses = started.addresses.filter(a => a.startsWith('/ip4/127.0.0.1/'))
    if (this.#addresses.length === 0) this.#addresses = started.addresses
    // Keep the port so a restarted node is found again at the address others bootstrap from.
    const port = /\/tcp\/(\d+)/.exec(this.#addresses[0] ?? '')?.[1]
    if (port !== undefined) this.#listen = `/ip4/127.0.0.1/tcp/${port}`
  }

  async stop (): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    await this.#command({ op: 'stop' }).catch(() => { child.kill('SIGKILL') })
    await exited
  }

  async kill (): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  handle (method: string, handler: SimHandler): void {
    this.#handlers.set(method, handler)
    if (this.running) {
      this.#command({ op: 'handle', args: { method } }).catch((err: unknown) => { process.stderr.write(`sim: could not register handler "${method}" on ${this.name}: ${errorShape(err).message}\n`) })
    }
  }

  async request (peer: string, method: string, payload: Payload, options: { timeoutMs?: number } = {}): Promise<Payload> {
    return await this.#command({ op: 'request', args: { peer, method, payload, timeoutMs: options.timeoutMs } }, WORKER_COMMAND_TIMEOUT_MS + (options.timeoutMs ?? 30_000)) as Payload
  }

  async snapshot (): Promise<NodeSnapshot> { return await this.#command({ op: 'snapshot' }) as NodeSnapshot }
  async subscribe (topic: string): Promise<void> {
    this.#topics.add(topic)
    if (this.running) await this.#command({ op: 'subscribe', args: { topic } })
  }

  async publish (topic: string, data: Uint8Array): Promise<number> { return await this.#command({ op: 'publish', args: { topic, data } }) as number }
  async drainReceived (): Promise<{ messages: ReceivedMessage[], dropped: number }> {
    if (!this.running) return { messages: [], dropped: 0 }
    return await this.#command({ op: 'drain' }) as { messages: ReceivedMessage[], dropped: number }
  }

  async setDenied (peerIds: readonly string[]): Promise<void> {
    this.#denied = [...peerIds]
    if (this.running) await this.#command({ op: 'deny', args: { peerIds: this.#denied } })
  }

  async learn (peers: ReadonlyArray<{ peerId: string, addresses: string[] }>): Promise<void> { await this.#command({ op: 'learn', args: { peers: [...peers] } }) }

  async invoke (op: string, args: unknown): Promise<unknown> { return await this.#command({ op: 'invoke', args: { op, args } }) }

  #onMessage (message: WorkerReply | HandlerCall): void {
    if ('call' in message) { void this.#answer(message); return }
    const entry = this.#pending.get(message.id)
    if (entry === undefined) return
    this.#pending.delete(message.id)
    clearTimeout(entry.timer)
    if (message.ok) entry.resolve(message.value)
    else entry.reject(new RemoteOpError(message.error))
  }

  async #answer (call: HandlerCall): Promise<void> {
    let answer: HandlerAnswer
    try {
      const handler = this.#handlers.get(call.method)
      if (handler === undefined) throw new Error(`no controller handler for "${call.method}"`)
      answer = { answer: call.call, ok: true, value: (await handler(call.payload, call.from)) ?? null }
    } catch (err) {
      answer = { answer: call.call, ok: false, error: errorShape(err) }
    }
    // the worker may have been killed while the handler ran; then nobody waits for the answer
    if (this.#child?.connected === true) this.#child.send(answer)
  }

  async #command (command: Command, timeoutMs = WORKER_COMMAND_TIMEOUT_MS): Promise<unknown> {
    const child = this.#child
    if (child === undefined || !child.connected) throw new NotRunningError(`Simulated node ${this.name} is not running (killed or stopped)`)
    const id = this.#nextId++
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new TimeoutError(`Worker of ${this.name} did not answer "${command.op}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, { resolve, reject, timer })
      child.send({ id, ...command } as WorkerCommand)
    })
  }
}
