// The group driver on the simulator's clock and disk: a core that throws stops its group cleanly
// (waiters fail with a clear error, the process carries on, the others keep agreeing), and a
// decision verifies only for the group that made it, even against a group with the same members.

import assert from 'node:assert/strict'
import { GroupDriver } from '../../../protocols/bft/adapter-group.ts'
import type { BftDecision, BftLog } from '../../../protocols/bft/adapter-group.ts'
import { BftStore } from '../../../protocols/bft/adapter-store.ts'
import { decodeMessage } from '../../../protocols/bft/messages.ts'
import type { Signer } from '../../../protocols/bft/signing.ts'
import { NotRunningError } from '../../../protocols/kit/errors.ts'
import { createRng } from '../../../protocols/kit/rng.ts'
import { SimClock } from '../../../sim/kit/sim-clock.ts'
import { SimDisk } from '../../../sim/kit/sim-disk.ts'
import { testSigner, testVerifier } from './harness.ts'

/** Four drivers of group `name` on one virtual clock, frames delivered after 1 ms. */
async function startGroup (clock: SimClock, name: string, signers: Signer[], errors: string[]): Promise<Map<string, GroupDriver>> {
  const members = signers.map(s => s.id).sort()
  const drivers = new Map<string, GroupDriver>()
  for (const [i, signer] of signers.entries()) {
    const view = clock.view()
    const rng = createRng(i + 1)
    const store = new BftStore(new SimDisk({ clock: view, rng: rng.fork() }), name, members)
    const restored = await store.load()
    const log: BftLog = Object.assign(() => {}, { error: (format: string, ...args: unknown[]) => { errors.push(`${format} ${args.map(String).join(' ')}`) } })
    drivers.set(signer.id, new GroupDriver({
      name, self: signer.id, signer, verifier: testVerifier, store, clock: view, log,
      send: (to, frame) => { view.setTimeout(() => { drivers.get(to)?.receive(signer.id, decodeMessage(frame)) }, 1) },
      nonce: (bytes) => Uint8Array.from({ length: bytes }, () => rng.int(0, 255)),
      options: { members },
      onLeave: () => {}
    }, restored))
  }
  return drivers
}

/** Run virtual time until `promise` settles (or 10 virtual seconds pass). */
async function settleOn<T> (clock: SimClock, promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  let result: PromiseSettledResult<T> | undefined
  promise.then(value => { result = { status: 'fulfilled', value } }, (reason: unknown) => { result = { status: 'rejected', reason } })
  await clock.runUntil(clock.nowMs() + 10_000, () => result !== undefined)
  assert.ok(result !== undefined, 'settled within 10 virtual seconds')
  return result
}

describe('bft group driver on the simulator', function () {
  this.timeout(60_000)

  it('stops the group when its core throws: waiters fail with NotRunningError naming the cause; the others carry on', async () => {
    const clock = new SimClock()
    let broken = false
    const real = testSigner(0)
    // A signer that fails mid-run (a key on a device that went away): the core throws from tick/step.
    const failing: Signer = { id: real.id, sign: (bytes) => { if (broken) throw new Error('signing key unavailable'); return real.sign(bytes) } }
    const signers = [failing, testSigner(1), testSigner(2), testSigner(3)]
    const errors: string[] = []
    const drivers = await startGroup(clock, 'fails', signers, errors)
    const victim = drivers.get(real.id)!
    const first = await settleOn(clock, victim.propose({ n: 1 }))
    assert.equal(first.status, 'fulfilled')

    broken = true
    const waiting = await settleOn(clock, victim.propose({ n: 2 }, { timeoutMs: 60_000 }))
    assert.equal(waiting.status, 'rejected')
    const reason = (waiting as PromiseRejectedResult).reason as Error
    assert.ok(reason instanceof NotRunningError, String(reason))
    assert.match(reason.message, /bft group "fails" stopped: its core threw on .*signing key unavailable/)
    assert.ok(errors.some(e => /stopped/.test(e) && /signing key unavailable/.test(e)), errors.join('\n'))
    await assert.rejects(victim.propose({ n: 3 }), NotRunningError)
    const stoppedAt = victim.status()
    await clock.runUntil(clock.nowMs() + 500)
    assert.deepEqual(victim.status(), stoppedAt, 'a stopped group no longer ticks')

    // n = 4 tolerates the one stopped member: the others still commit.
    const other = drivers.get(signers[1]!.id)!
    const after = await settleOn(clock, other.propose({ n: 4 }))
    assert.equal(after.status, 'fulfilled')
  })

  it('verifies a decision only for the group that made it, not another group with the same members', async () => {
    const clock = new SimClock()
    const signers = [0, 1, 2, 3].map(testSigner)
    const alpha = await startGroup(clock, 'alpha', signers, [])
    const beta = await startGroup(clock, 'beta', signers, [])
    const result = await settleOn(clock, alpha.get(signers[0]!.id)!.propose({ pay: 1 }))
    assert.equal(result.status, 'fulfilled')
    const decision = (result as PromiseFulfilledResult<BftDecision>).value
    assert.equal(alpha.get(signers[1]!.id)!.verify(decision), true)
    assert.equal(beta.get(signers[1]!.id)!.verify(decision), false, 'same members, other group')
    // Relabelling it does not help: the certificate signs the group name.
    assert.equal(beta.get(signers[1]!.id)!.verify({ ...decision, groupId: 'beta' }), false)
  })
})
