// `npm run sim -- check docs --seeds N`: drives pure DocReplicas over a seeded network that
// drops, duplicates, reorders and partitions gossip, aborts sync exchanges, and crashes and
// restarts replicas from their persisted logs. Checks convergence and durability (SPEC docs G1-G3).

import * as Y from 'yjs'
import { createRng } from '../../protocols/kit/rng.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import { DocReplica } from '../../protocols/docs/replica.ts'
import type { SyncBody } from '../../protocols/docs/messages.ts'
import { decodeGossipFrame } from '../../protocols/docs/messages.ts'
import type { SimOptions, SimSummary } from '../scenario.ts'

/** Simulated steps per seed before the final heal. */
const STEPS = 300

interface SimNode {
  id: string
  replica: DocReplica | undefined
  /** The persisted log: what survives a crash (SPEC docs P1-P3). */
  disk: Uint8Array[]
  /** Keys this node wrote to the `written` map; each must survive everywhere (durability). */
  written: string[]
}

interface InFlight { from: number, to: number, update: Uint8Array }

function boot (node: SimNode, name: string, rng: Rng): DocReplica {
  // Seeded client ids (Yjs draws them from Math.random), so a seed replays exactly.
  const doc = new Y.Doc()
  doc.clientID = rng.int(1, 0x7fff_ffff)
  const replica = new DocReplica({ name, doc })
  Y.transact(replica.doc, () => { for (const update of node.disk) replica.load(update) }, replica.loadOrigin)
  return replica
}

function fingerprint (replica: DocReplica): string {
  const map = replica.doc.getMap('written').toJSON()
  return JSON.stringify([replica.doc.getText('t').toString(), Object.keys(map).sort()])
}

/** Run a whole y-protocols exchange; with `abortAfter` frames, it breaks off like a dropped stream. */
function exchange (a: SimNode, b: SimNode, abortAfter: number | undefined): void {
  const initiator = a.replica!
  const responder = b.replica!
  const { session, frames } = initiator.beginSync(b.id)
  const server = responder.acceptSync(a.id)
  let toResponder: SyncBody[] = frames
  let sent = 0
  while (toResponder.length > 0 && !(session.done && server.done)) {
    if (abortAfter !== undefined && sent >= abortAfter) break
    sent += toResponder.length
    const toInitiator = toResponder.flatMap(body => server.done ? [] : responder.receiveSync(server, body))
    sent += toInitiator.length
    toResponder = toInitiator.flatMap(body => session.done ? [] : initiator.receiveSync(session, body))
  }
  initiator.failSync(session)
  responder.failSync(server)
}

/** Apply every effect of a replica: persist to its disk, publish to the network. */
function drain (nodes: SimNode[], index: number, network: InFlight[], rng: Rng): void {
  const node = nodes[index]!
  for (const effect of node.replica!.drain()) {
    if (effect.kind === 'persist') node.disk.push(effect.update)
    else if (effect.kind === 'publish') {
      const frame = decodeGossipFrame(effect.frame)
      if (frame.kind !== 'update') continue
      for (let to = 0; to < nodes.length; to++) {
        if (to === index || rng.chance(0.15)) continue // dropped
        network.push({ from: index, to, update: frame.update })
        if (rng.chance(0.1)) network.push({ from: index, to, update: frame.update }) // duplicated
      }
    }
  }
}

/** One seed: a failure description (or undefined) and the final document, for replay checks. */
export function checkSeed (seed: number): { failure: string | undefined, fingerprint: string } {
  let fingerprintText = ''
  const failure = simulate(seed, (f) => { fingerprintText = f })
  return { failure, fingerprint: fingerprintText }
}

function simulate (seed: number, report: (fingerprint: string) => void): string | undefined {
  const rng = createRng(seed)
  const count = rng.int(2, 5)
  const nodes: SimNode[] = Array.from({ length: count }, (_, i) => ({ id: `n${i}`, replica: undefined, disk: [], written: [] }))
  for (const node of nodes) node.replica = boot(node, 'sim', rng)
  const network: InFlight[] = []
  const cut = new Set<string>()
  const linked = (i: number, j: number): boolean => !cut.has(`${Math.min(i, j)}-${Math.max(i, j)}`)
  let edits = 0
  for (let step = 0; step < STEPS; step++) {
    const i = rng.int(0, count - 1)
    const node = nodes[i]!
    const roll = rng.float()
    if (node.replica === undefined) {
      if (roll < 0.3) node.replica = boot(node, 'sim', rng) // restart from disk
      continue
    }
    if (roll < 0.45) {
      const text = node.replica.doc.getText('t')
      if (rng.chance(0.7) || text.length === 0) text.insert(rng.int(0, text.length), `${i}.${edits}|`)
      else text.delete(rng.int(0, text.length - 1), 1)
      const key = `${node.id}-${edits++}`
      node.replica.doc.getMap('written').set(key, true)
      node.written.push(key)
      drain(nodes, i, network, rng)
    } else if (roll < 0.8 && network.length > 0) {
      const k = rng.int(0, network.length - 1) // reorder: any in-flight message may go next
      const message = network.splice(k, 1)[0]!
      const target = nodes[message.to]!
      if (target.replica !== undefined && linked(message.from, message.to)) {
        target.replica.receiveUpdate(nodes[message.from]!.id, message.update)
        drain(nodes, message.to, network, rng)
      }
    } else if (roll < 0.9) {
      const j = rng.int(0, count - 1)
      if (j !== i && nodes[j]!.replica !== undefined && linked(i, j)) {
        exchange(node, nodes[j]!, rng.chance(0.2) ? rng.int(0, 3) : undefined)
        drain(nodes, i, network, rng); drain(nodes, j, network, rng)
      }
    } else if (roll < 0.95) {
      const j = rng.int(0, count - 1)
      const key = `${Math.min(i, j)}-${Math.max(i, j)}`
      if (cut.has(key)) cut.delete(key); else cut.add(key)
    } else {
      node.replica = undefined // crash: memory lost, disk kept
    }
  }
  // Heal: everyone restarts, links return, and each pair runs anti-entropy (SPEC docs S5).
  cut.clear()
  for (const node of nodes) node.replica ??= boot(node, 'sim', rng)
  for (let i = 0; i < count; i++) {
    for (let j = i + 1; j < count; j++) {
      exchange(nodes[i]!, nodes[j]!, undefined)
      drain(nodes, i, network, rng); drain(nodes, j, network, rng)
    }
  }
  for (let i = 0; i < count; i++) {
    for (let j = i + 1; j < count; j++) exchange(nodes[i]!, nodes[j]!, undefined)
  }
  const expected = fingerprint(nodes[0]!.replica!)
  report(expected)
  for (const node of nodes) {
    const replica = node.replica!
    if (fingerprint(replica) !== expected) return `${node.id} differs from n0 after heal and anti-entropy`
    if (!replica.caughtUp()) return `${node.id} is not caught up after syncing with every peer`
    const map = replica.doc.getMap('written')
    for (const other of nodes) {
      for (const key of other.written) if (map.get(key) !== true) return `${node.id} lost ${key}, written by ${other.id} (durability)`
    }
  }
  return undefined
}

/** The deterministic docs check (DESIGN "Simulations"). */
export async function run (options: SimOptions): Promise<SimSummary> {
  const seeds = options.seeds ?? 200
  const failures: string[] = []
  for (let k = 0; k < seeds; k++) {
    const seed = options.seed + k
    const { failure } = checkSeed(seed)
    if (failure !== undefined) failures.push(`seed ${seed}: ${failure} — replay: npm run sim -- check docs --seed ${seed} --seeds 1`)
    options.progress(k + 1, seeds)
  }
  return { scenario: 'check docs', nodes: 0, seed: options.seed, ok: failures.length === 0, failures, metrics: { seeds, failed: failures.length } }
}
