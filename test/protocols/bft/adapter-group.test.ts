// The group driver's effect ordering on real time (SPEC bft E1, E2, E4): four drivers over an
// in-process frame bus with slow durable writes. No signed message may leave before the state
// covering it is durable, and a member crashed between persist and send never signs twice.

import assert from 'node:assert/strict'
import { openStorage } from '../../../src/storage.ts'
import type { Storage } from '../../../src/storage.ts'
import { GroupDriver } from '../../../protocols/bft/adapter-group.ts'
import type { BftDecision } from '../../../protocols/bft/adapter-group.ts'
import { BftStore } from '../../../protocols/bft/adapter-store.ts'
import { systemClock } from '../../../protocols/kit/clock.ts'
import { randomBytes } from 'node:crypto'
import { isAfterSigned } from '../../../protocols/bft/effects.ts'
import type { PersistedState, SignStep } from '../../../protocols/bft/effects.ts'
import { decodeMessage, signerOf } from '../../../protocols/bft/messages.ts'
import type { SignedMessage } from '../../../protocols/bft/messages.ts'
import { verifyChain } from '../../../protocols/bft/certificate.ts'
import { toHex } from '../../../protocols/kit/bytes.ts'
import { logger } from '@libp2p/logger'
import { testSigner, testVerifier } from './harness.ts'
import { waitFor } from '../../helpers.ts'

const GROUP = 'ordering'
const signers = Array.from({ length: 4 }, (_, i) => testSigner(i))
const members = signers.map(s => s.id).sort()

/** A BftStore whose writes take a few ms and which records what is durable once each write resolved. */
class SlowStore extends BftStore {
  durable: PersistedState['signed'] = null
  override async write (batch: Parameters<BftStore['write']>[0]): Promise<void> {
    await new Promise(resolve => setTimeout(resolve, 1 + Math.floor(Math.random() * 4)))
    await super.write(batch)
    if (batch.state !== null) this.durable = batch.state.signed
  }
}

describe('bft group driver: effect ordering on real time', function () {
  this.timeout(60_000)
  let storage: Storage
  const drivers = new Map<string, GroupDriver>()
  const stores = new Map<string, SlowStore>()
  /** Every signed message each member sent, across restarts. */
  const sent = new Map<string, SignedMessage[]>()
  const violations: string[] = []

  function bus (from: string): (to: string, frame: Uint8Array) => void {
    return (to: string, frame: Uint8Array) => {
      const message = decodeMessage(frame)
      if ((message.type === 'proposal' || message.type === 'prevote' || message.type === 'precommit') && signerOf(message) === from) {
        const step: SignStep = message.type
        // E1: the durable state must already cover (height, round, step) of what we send.
        if (isAfterSigned(stores.get(from)!.durable, { height: message.height, round: message.round, step })) violations.push(`${from.slice(-4)} sent ${step} h=${message.height} r=${message.round} before it was durable`)
        sent.get(from)!.push(message)
      }
      setImmediate(() => { drivers.get(to)?.receive(from, message) })
    }
  }

  async function start (id: string): Promise<GroupDriver> {
    const store = new SlowStore(storage.sublevel(`bft/${GROUP}/${id}`), GROUP, members)
    stores.set(id, store)
    const restored = await store.load()
    // What a restarted member loaded from disk is durable: its re-sent votes are not violations.
    store.durable = restored.state?.signed ?? null
    const signer = signers.find(s => s.id === id)!
    const driver = new GroupDriver({ name: GROUP, self: id, signer, verifier: testVerifier, store, send: bus(id), clock: systemClock, nonce: randomBytes, log: logger('test:bft'), options: { members }, onLeave: () => {} }, restored)
    drivers.set(id, driver)
    return driver
  }

  before(async () => {
    storage = await openStorage({})
    for (const id of members) { sent.set(id, []); await start(id) }
  })

  after(async () => {
    await Promise.all([...drivers.values()].map(async d => { await d.leave() }))
    await storage.close()
  })

  it('never sends a signed message before its state is durable, and resolves proposals after the log write', async () => {
    const decisions: BftDecision[] = await Promise.all(Array.from({ length: 40 }, async (_, i) => await drivers.get(members[i % 4]!)!.propose({ i }, { timeoutMs: 30_000 })))
    const top = Math.max(...decisions.map(d => d.height))
    for (const d of decisions) {
      // E2: when propose() resolves, the decision is already in the proposer's durable log.
      const log = await drivers.get(members[decisions.indexOf(d) % 4]!)!.log({ fromHeight: d.height, limit: 1 })
      assert.equal(log.length, 1)
    }
    await waitFor(() => members.every(id => drivers.get(id)!.status().committedHeight >= top), 'every member to commit')
    assert.deepEqual(violations, [])
  })

  it('a member crashed right after a durable write restarts from it and never signs twice', async () => {
    const victim = members[1]!
    for (let crash = 0; crash < 3; crash++) {
      const load = Array.from({ length: 8 }, async (_, i) => await drivers.get(members[(i % 3) === 1 ? 0 : i % 3]!)!.propose({ crash, i }, { timeoutMs: 30_000 }))
      await new Promise(resolve => setTimeout(resolve, 5 + crash * 7))
      // Crash: no more sends from the old instance; a write already in flight may still land (as after an fsync).
      await drivers.get(victim)!.leave()
      drivers.delete(victim)
      await start(victim)
      await Promise.all(load)
    }
    const top = Math.max(...members.map(id => drivers.get(id)!.status().committedHeight))
    await waitFor(() => members.every(id => drivers.get(id)!.status().committedHeight >= top), 'the restarted member to catch up', 30_000)
    // No two different signed messages by the victim at one (height, round, step).
    const seen = new Map<string, string>()
    for (const m of sent.get(victim)!) {
      const key = `${m.height}/${m.round}/${m.type}`
      const content = m.type === 'proposal' ? toHex(m.signature) : `${m.blockHash === null ? 'nil' : toHex(m.blockHash)}`
      const before = seen.get(key)
      assert.ok(before === undefined || before === content, `victim signed two different ${key}`)
      seen.set(key, content)
    }
    for (const id of members) {
      const log = await drivers.get(id)!.log()
      assert.deepEqual(verifyChain(log.slice(0, top), { groupId: GROUP, members, verifier: testVerifier }), { ok: true })
      for (const e of await drivers.get(id)!.evidence()) assert.notEqual(signerOf(e.first), victim)
    }
    assert.deepEqual(violations, [])
  })

  it('a member down for more heights than the core keeps catches up from the durable log', async () => {
    const victim = members[2]!
    await drivers.get(victim)!.leave()
    drivers.delete(victim)
    const others = members.filter(id => id !== victim)
    let top = 0
    for (let i = 0; i < 80; i++) top = Math.max(top, (await drivers.get(others[i % 3]!)!.propose({ long: i }, { timeoutMs: 30_000 })).height)
    const restarted = await start(victim)
    assert.ok(top - restarted.status().committedHeight > 64, `lag of ${top - restarted.status().committedHeight} heights exceeds what the core keeps`)
    await waitFor(() => restarted.status().committedHeight >= top, `the restarted member to catch up to ${top} (at ${restarted.status().committedHeight})`, 30_000)
    const log = await restarted.log()
    assert.deepEqual(verifyChain(log.slice(0, top), { groupId: GROUP, members, verifier: testVerifier }), { ok: true })
    assert.deepEqual(violations, [])
  })
})
