// Shared test helpers: start real nodes, wait for conditions without fixed sleeps.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgentNode } from '../src/index.ts'
import type { AgentNode, AgentNodeOptions } from '../src/index.ts'

/** Poll `condition` every 25 ms until it holds, or fail after `timeoutMs` naming `what`. */
export async function waitFor (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir (prefix = 'agentmesh-test-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Start `count` nodes on loopback TCP, each joining through the first. */
export async function startMesh (count: number, options: AgentNodeOptions = {}): Promise<AgentNode[]> {
  const first = await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], ...options })
  const nodes = [first]
  for (let i = 1; i < count; i++) {
    nodes.push(await createAgentNode({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [first.addresses()[0]!], ...options }))
  }
  return nodes
}

/** Stop every node, whatever state it is in. */
export async function stopAll (nodes: AgentNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => { await n.stop() }))
}
