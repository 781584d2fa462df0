// node.tasks.work(queue, { exec }) on a real node: the Python example works a real queue, and a
// program that cannot start rejects `started` with SpawnError.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { SpawnError } from '../../../src/exec/child.ts'

const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const PY_WORKER = join(REPO, 'node/examples/python/exec_worker.py')

describe('src/exec node.tasks.work(queue, { exec })', function () {
  this.timeout(120_000)
  let node: AgentNode | undefined
  afterEach(async () => { await node?.stop(); node = undefined })

  it('the Python worker completes tasks of a real queue; stop() ends the child', async () => {
    node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const queue = await node.tasks.open('upper', { members: [node.peerId] })
    const log: string[] = []
    const worker = node.tasks.work('upper', { exec: ['python3', PY_WORKER, 'upper'], log: (line) => { log.push(line) } })
    await worker.started
    const tasks = await Promise.all(['a', 'b', 'c'].map(async (text) => await queue.submit({ text })))
    const results = await Promise.all(tasks.map(async (t) => await queue.result(t.id, { timeoutMs: 60_000 })))
    assert.deepEqual(results, [{ text: 'A' }, { text: 'B' }, { text: 'C' }])
    assert.deepEqual(worker.stats(), { completed: 3, failed: 0, lost: 0, running: 0 })
    const events = await node.events.history('exec-demo')
    assert.equal(events.length, 3, 'the child\'s publish lines became events')
    await worker.stop()
    assert.equal(worker.supervisor.state, 'stopped')
    assert.ok(log.some(l => /stdin closed; exiting/.test(l)))
  })

  it('a program that cannot start: `started` rejects with SpawnError naming it', async () => {
    node = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const worker = node.tasks.work('upper', { exec: './nowhere/worker', log: () => {} })
    await assert.rejects(worker.started, (err: unknown) => err instanceof SpawnError && /"\.\/nowhere\/worker".*ENOENT/.test(err.message))
  })
})
