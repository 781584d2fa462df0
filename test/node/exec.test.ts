// `--exec` through the real CLI process: usage errors and spawn errors exit 2 naming the flag or
// the command, and a node killed with SIGKILL leaves no worker process behind.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { NodeProcess, REPO } from './api/node-process.ts'
import { parseCommand, UsageError } from '../../node/args.ts'
import { createAgentNode } from '../../src/index.ts'
import type { AgentNode } from '../../src/index.ts'

const PY_WORKER = join(REPO, 'node/examples/python/exec_worker.py')

/** Wait until `predicate` holds, polling: the events come from other processes. */
async function until (predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

function groupGone (pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return false
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
    return true
  }
}

describe('node/args --exec', () => {
  it('keeps the command and its argv, split without a shell', () => {
    const command = parseCommand(['--exec', "python3 -u 'my worker.py' upper"])
    assert.ok(command.kind === 'run')
    assert.deepEqual(command.exec, { command: "python3 -u 'my worker.py' upper", argv: ['python3', '-u', 'my worker.py', 'upper'] })
    const none = parseCommand([])
    assert.ok(none.kind === 'run' && none.exec === undefined)
  })
  const invalid: Array<[string[], RegExp]> = [
    [['--exec'], /--exec: missing value/],
    [['--exec', ''], /--exec: the command is empty/],
    [['--exec', 'a', '--exec', 'b'], /--exec: given more than once/],
    [['--exec', 'python3 "w.py'], /--exec: .*unclosed " quote/],
    [['--exec', 'w.py > log'], /--exec: .*shell operator ">".*sh -c/]
  ]
  for (const [argv, message] of invalid) {
    it(`refuses ${JSON.stringify(argv)}`, () => {
      assert.throws(() => parseCommand(argv), (err: unknown) => err instanceof UsageError && err.flag === '--exec' && message.test(err.message))
    })
  }
})

describe('node/cli --exec', function () {
  this.timeout(120_000)
  const nodes: NodeProcess[] = []
  afterEach(async () => { for (const node of nodes.splice(0)) await node.stop() })
  const start = (args: string[]): NodeProcess => { const node = new NodeProcess(['--listen', '/ip4/127.0.0.1/tcp/0', ...args]); nodes.push(node); return node }

  it('a Python worker that crashes once: the node restarts it and the task is retried and completed once', async () => {
    let host: AgentNode | undefined
    try {
      // The queue lives on a node in this process; the worker node is a real CLI process.
      host = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      const queue = await host.tasks.open('upper', { members: [host.peerId], retry: { initialIntervalMs: 100 } })
      const node = start(['--peer', host.addresses()[0]!, '--exec', `python3 ${PY_WORKER} upper --crash-on-attempt 1`])
      const ready = await node.ready()
      const task = await queue.submit({ text: 'retried' })
      assert.deepEqual(await queue.result(task.id, { timeoutMs: 90_000 }), { text: 'RETRIED' })
      const info = await queue.get(task.id)
      assert.equal(info?.state, 'completed')
      assert.equal(info?.attempt, 2)
      assert.equal(info?.worker, ready.peerId)
      assert.deepEqual(info?.history.map(h => h.state), ['submitted', 'working', 'retrying', 'submitted', 'working', 'completed'])
      const exited = node.lines.find(l => l.event === 'exec:exited')
      assert.equal(exited?.code, 3)
      assert.equal(exited?.restartInMs, 1000)
      assert.equal(node.lines.filter(l => l.event === 'exec:spawned').length, 2)
      assert.match(node.stderr, /crashing on attempt 1 of task/)
    } finally {
      for (const node of nodes.splice(0)) await node.stop()
      await host?.stop()
    }
  })

  it('a program that does not exist: exit 2, the message names the command, no ready line', async () => {
    const node = start(['--exec', './no-such-worker --queue x'])
    const { code } = await node.exited
    assert.equal(code, 2)
    assert.match(node.stderr, /cannot start the --exec command "\.\/no-such-worker --queue x": no such program .*\(ENOENT\)/)
    assert.equal(node.lines.find(l => l.event === 'ready'), undefined)
  })

  it('shell syntax in --exec: exit 2 naming the flag', async () => {
    const node = start(['--exec', 'worker | tee log'])
    const { code } = await node.exited
    assert.equal(code, 2)
    assert.match(node.stderr, /--exec: "worker \| tee log" uses the shell operator "\|"/)
  })

  it('kill -9 of the node: the worker sees stdin EOF and exits; its process group is gone', async () => {
    const node = start(['--exec', `python3 ${PY_WORKER} upper`])
    await node.ready()
    await until(() => node.lines.some(l => l.event === 'exec:ready'), 'the worker\'s ready line')
    const pid = node.lines.find(l => l.event === 'exec:spawned')!.pid as number
    assert.equal(groupGone(pid), false)
    node.child.kill('SIGKILL')
    await node.exited
    await until(() => groupGone(pid), `process group ${pid} to be gone`)
  })

  it('SIGTERM to the node: the worker gets stdin EOF, exits, and the node reports it', async () => {
    const node = start(['--exec', `python3 ${PY_WORKER} upper`])
    await node.ready()
    await until(() => node.lines.some(l => l.event === 'exec:ready'), 'the worker\'s ready line')
    const pid = node.lines.find(l => l.event === 'exec:spawned')!.pid as number
    await node.stop()
    assert.equal((await node.exited).code, 0)
    assert.ok(groupGone(pid))
    assert.deepEqual(node.lines.find(l => l.event === 'exec:exited'), { event: 'exec:exited', pid, code: 0, signal: null })
    assert.match(node.stderr, /exec_worker: stdin closed; exiting/)
  })
})
