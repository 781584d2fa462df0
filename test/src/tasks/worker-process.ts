// A worker in its own OS process for the kill -9 test: joins the mesh through a given peer,
// works a queue, and tells its parent (IPC) when a task starts. Its handler never finishes on its
// own, so the parent can kill it mid-task.

import { createAgentNode } from '../../../src/index.ts'

const config = JSON.parse(process.env.AGENTMESH_TASK_WORKER ?? '{}') as { peer: string, queue: string, members: string[] }
const node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [config.peer] })
await node.tasks.open(config.queue, { members: config.members })
node.tasks.work(config.queue, async (input, ctx) => {
  process.send?.({ started: ctx.taskId, attempt: ctx.attempt, input })
  await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve) })
  return 'from the killed process'
}, { pollMs: 500 })
process.send?.({ ready: node.peerId })
