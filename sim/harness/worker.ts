// Entry of one node worker process for `--transport tcp` simulations: runs a real AgentNode
// on loopback TCP and executes the controller's commands received over IPC.

import { createAgentNode } from '../../src/index.ts'
import type { Payload } from '../../src/index.ts'
import { NodeProbe, createGater, errorShape, loadPlugins } from './ops.ts'
import type { WorkerCommand, WorkerReply, HandlerCall, HandlerAnswer } from './worker-protocol.ts'
import { RemoteOpError } from './ops.ts'

/** Most handler calls waiting on the controller at once; beyond it the request fails. */
const PENDING_CALLS_MAX = 10_000

const send = process.send?.bind(process)
if (send === undefined) throw new Error('sim/harness/worker.ts must be started with an IPC channel (by the simulation harness)')

let probe: NodeProbe | undefined
let nextCall = 1
const pendingCalls = new Map<number, PromiseWithResolvers<Payload>>()

function relay (method: string) {
  return async (payload: Payload, context: { from: string }): Promise<Payload> => {
    if (pendingCalls.size >= PENDING_CALLS_MAX) throw new Error(`worker has ${PENDING_CALLS_MAX} handler calls pending (PENDING_CALLS_MAX)`)
    const call = nextCall++
    const waiter = Promise.withResolvers<Payload>()
    pendingCalls.set(call, waiter)
    const message: HandlerCall = { call, method, payload, from: context.from }
    send!(message)
    return await waiter.promise
  }
}

function live (): NodeProbe {
  if (probe === undefined) throw new RemoteOpError({ name: 'NotRunningError', code: 'ERR_NOT_RUNNING', message: 'worker node not started' })
  return probe
}

async function execute (command: WorkerCommand): Promise<unknown> {
  switch (command.op) {
    case 'start': {
      const a = command.args
      const denied = new Set(a.denied)
      const node = await createAgentNode({ transport: 'tcp', name: a.name, dataDir: a.dataDir, listen: [a.listen], peers: a.peers, connectionGater: createGater(id => denied.has(id)) })
      probe = new NodeProbe(node, { denied, plugins: await loadPlugins(a.plugins) })
      for (const method of a.handlers) node.direct.handle(method, relay(method))
      for (const topic of a.topics) probe.subscribe(topic)
      return { peerId: node.peerId, addresses: node.addresses() }
    }
    case 'stop': await probe?.node.stop(); return null
    case 'handle': live().node.direct.handle(command.args.method, relay(command.args.method)); return null
    case 'request': return await live().node.direct.request(command.args.peer, command.args.method, command.args.payload, { timeoutMs: command.args.timeoutMs })
    case 'snapshot': return live().snapshot()
    case 'subscribe': live().subscribe(command.args.topic); return null
    case 'publish': return await live().publish(command.args.topic, command.args.data)
    case 'drain': return live().drainReceived()
    case 'deny': await live().setDenied(command.args.peerIds); return null
    case 'learn': await live().learn(command.args.peers); return null
    case 'invoke': return await live().invoke(command.args.op, command.args.args)
  }
}

process.on('message', (message: WorkerCommand | HandlerAnswer) => {
  if ('answer' in message) {
    const waiter = pendingCalls.get(message.answer)
    pendingCalls.delete(message.answer)
    if (message.ok) waiter?.resolve(message.value)
    else waiter?.reject(new RemoteOpError(message.error))
    return
  }
  execute(message).then(
    (value) => { const reply: WorkerReply = { id: message.id, ok: true, value }; send(reply) },
    (err: unknown) => { const reply: WorkerReply = { id: message.id, ok: false, error: errorShape(err) }; send(reply) }
  ).finally(() => {
    if (message.op === 'stop') process.disconnect()
  })
})

// The controller went away: stop the node rather than linger as an orphan.
process.on('disconnect', () => {
  const stopping = probe?.node.stop() ?? Promise.resolve()
  stopping.then(() => process.exit(0), () => process.exit(1))
})
