// Plug-in ops for the partition scenario's events and raft workloads: the protocol calls run
// against the real node, in this process (memory) or inside the node's worker (tcp).

import type { AgentNode } from '../../src/index.ts'
import type { PluginOp } from '../harness/ops.ts'

/** Ids each node's subscription delivered, per topic (per node object, so kill/restart starts afresh). */
const delivered = new WeakMap<AgentNode, Map<string, { ids: Set<string>, duplicates: number, error: string | null }>>()

/** The ops (see sim/harness/ops.ts PluginModule). */
export const ops: Record<string, PluginOp> = {
  /** Subscribe to `topic` and record every delivered id in the background. */
  'pw.events.subscribe': async (node, args) => {
    const { topic } = args as { topic: string }
    let topics = delivered.get(node)
    if (topics === undefined) { topics = new Map(); delivered.set(node, topics) }
    if (topics.has(topic)) return null
    const record: { ids: Set<string>, duplicates: number, error: string | null } = { ids: new Set<string>(), duplicates: 0, error: null }
    topics.set(topic, record)
    const iterable = node.events.subscribe(topic)
    void (async () => {
      for await (const event of iterable) {
        if (record.ids.has(event.id)) record.duplicates++
        record.ids.add(event.id)
      }
    })().catch((err: unknown) => { record.error = (err as Error).message })
    return null
  },
  /** Publish one event; returns its id. */
  'pw.events.publish': async (node, args) => {
    const { topic, type, data } = args as { topic: string, type: string, data: Record<string, string | number> }
    const event = await node.events.publish(topic, { type, data })
    return event.id
  },
  /** Canonical history ids, caught-up flag and what the subscription delivered. */
  'pw.events.view': async (node, args) => {
    const { topic } = args as { topic: string }
    const history = await node.events.history(topic, { limit: 10_000 })
    const status = node.events.status(topic)
    const record = delivered.get(node)?.get(topic)
    return { ids: history.map(e => e.id), caughtUp: status.caughtUp, held: status.held, subscribed: record === undefined ? [] : [...record.ids], duplicates: record?.duplicates ?? 0, subscriptionError: record?.error ?? null }
  },
  /** Join the raft group with the built-in KV. */
  'pw.raft.join': async (node, args) => {
    const { name, members, heartbeatMs, electionMs } = args as { name: string, members: string[], heartbeatMs: number, electionMs: number }
    await node.groups.join(name, { members, heartbeatMs, electionMs })
    return null
  },
  /** Resolve once this member knows a leader; returns it. */
  'pw.raft.leader': async (node, args) => {
    const { name, timeoutMs } = args as { name: string, timeoutMs: number }
    return await node.groups.get(name).waitForLeader({ timeoutMs })
  },
  /** One KV write through this node; returns its commit latency in ms (throws on timeout / no leader). */
  'pw.raft.put': async (node, args) => {
    const { name, key, value, timeoutMs } = args as { name: string, key: string, value: string, timeoutMs: number }
    const started = performance.now()
    await node.groups.get(name).kv.put(key, value, { timeoutMs })
    return performance.now() - started
  },
  /** Linearizable reads of `keys` on this member. */
  'pw.raft.read': async (node, args) => {
    const { name, keys, timeoutMs } = args as { name: string, keys: string[], timeoutMs: number }
    const group = node.groups.get(name)
    const values = await Promise.all(keys.map(async key => await group.kv.get(key, { timeoutMs })))
    return Object.fromEntries(keys.map((key, i) => [key, values[i] ?? null]))
  },
  /** Raft status of this member. */
  'pw.raft.status': async (node, args) => {
    const { name } = args as { name: string }
    return node.groups.get(name).status()
  }
}
