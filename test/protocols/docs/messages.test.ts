import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeGossipFrame, decodeSyncFrame, encodeGossipAwareness, encodeGossipUpdate, encodeSyncFrame, checkDocName, docTopic
} from '../../../protocols/docs/messages.ts'
import type { SyncFrame } from '../../../protocols/docs/messages.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'

const bytesArb = fc.uint8Array({ maxLength: 64 })
const frameArb: fc.Arbitrary<SyncFrame> = fc.record({
  doc: fc.constantFrom('notes', 'team/plan', 'a.b_c~d-e'),
  body: fc.oneof(
    fc.record({ kind: fc.constant('step1' as const), stateVector: bytesArb }),
    fc.record({ kind: fc.constant('step2' as const), update: bytesArb }),
    fc.record({ kind: fc.constant('awareness' as const), update: bytesArb }),
    fc.constant({ kind: 'not-open' as const })
  )
})

describe('docs messages', () => {
  it('round-trips sync frames', () => {
    fc.assert(fc.property(frameArb, (frame) => {
      assert.deepEqual(decodeSyncFrame(encodeSyncFrame(frame)), { doc: frame.doc, body: { ...frame.body } })
    }))
  })

  it('round-trips gossip frames', () => {
    fc.assert(fc.property(bytesArb, (update) => {
      assert.deepEqual(decodeGossipFrame(encodeGossipUpdate(update)), { kind: 'update', update })
      assert.deepEqual(decodeGossipFrame(encodeGossipAwareness(update)), { kind: 'awareness', update })
    }))
  })

  it('rejects every truncation of a frame with a DecodeError', () => {
    fc.assert(fc.property(frameArb, (frame) => {
      const bytes = encodeSyncFrame(frame)
      for (let cut = 0; cut < bytes.byteLength; cut++) {
        // A truncated frame carried inside a larger buffer must not read the neighbouring bytes.
        const carrier = new Uint8Array(bytes.byteLength + 8).fill(7)
        carrier.set(bytes.subarray(0, cut))
        const truncated = carrier.subarray(0, cut)
        let decoded: SyncFrame | undefined
        try { decoded = decodeSyncFrame(truncated) } catch (err) { assert.ok(err instanceof DecodeError, String(err)) }
        if (decoded !== undefined) assert.fail(`a truncation to ${cut} of ${bytes.byteLength} bytes decoded`)
      }
    }))
  })

  it('rejects random bytes with typed errors only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      for (const decode of [decodeSyncFrame, decodeGossipFrame]) {
        try { decode(bytes) } catch (err) { assert.ok(err instanceof DecodeError, String(err)) }
      }
    }), { numRuns: 500 })
  })

  it('rejects frames over the limit, trailing bytes and forbidden message types', () => {
    assert.throws(() => decodeGossipFrame(new Uint8Array(65), 64), LimitExceededError)
    assert.throws(() => decodeSyncFrame(new Uint8Array(65), 64), LimitExceededError)
    const frame = encodeSyncFrame({ doc: 'notes', body: { kind: 'not-open' } })
    assert.throws(() => decodeSyncFrame(new Uint8Array([...frame, 0])), /trailing bytes/)
    // sync step 1 on a topic: only updates may be gossiped.
    assert.throws(() => decodeGossipFrame(new Uint8Array([0, 0, 0])), /not allowed on a topic/)
    assert.throws(() => decodeGossipFrame(new Uint8Array([9])), /unknown channel 9/)
  })

  it('validates document names', () => {
    for (const good of ['notes', 'team/plan', 'x'.repeat(128)]) assert.doesNotThrow(() => { checkDocName(good) })
    for (const bad of ['', '/lead', 'trail/', 'a//b', 'with space', 'bang!', 'x'.repeat(129), 42]) assert.throws(() => { checkDocName(bad) }, DecodeError, String(bad))
    assert.equal(docTopic('notes'), 'agentmesh/doc/notes')
  })
})
