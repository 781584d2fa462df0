// The `--exec` walkthrough: a node hosting the queue "upper", three tasks submitted and their
// results printed, worked by the Python worker in node/examples/python/exec_worker.py.
//
//   node node/examples/exec_demo.ts               # the worker runs here, through node.tasks.work(queue, { exec })
//   node node/examples/exec_demo.ts --no-worker   # prints the --exec command for another node, then waits

import { fileURLToPath } from 'node:url'
import { createAgentNode } from '../../src/index.ts'

const QUEUE = 'upper'
const WORKER = fileURLToPath(new URL('./python/exec_worker.py', import.meta.url))
const separate = process.argv.includes('--no-worker')

const node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
const queue = await node.tasks.open(QUEUE, { members: [node.peerId] })
const worker = separate ? undefined : node.tasks.work(QUEUE, { exec: ['python3', WORKER, QUEUE] })
if (separate) {
  console.log('Start the worker in another terminal:')
  console.log(`  npm run node -- --peer ${node.addresses()[0]} --exec "python3 ${WORKER} ${QUEUE}"`)
}
const tasks = await Promise.all(['hello', 'mesh', 'workers'].map(async (text) => await queue.submit({ text })))
for (const task of tasks) {
  const result = await queue.result(task.id)
  const info = await queue.get(task.id)
  console.log(JSON.stringify({ task: task.id, result, attempt: info?.attempt, worker: info?.worker }))
}
await worker?.stop()
await node.stop()
