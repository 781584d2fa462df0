import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  decodeEnvelope, encodeBody, encodeEnvelope, signingBytes, decodeSyncReply, decodeSyncRequest, encodeSyncFrame,
  EVENT_BYTES_MAX, SYNC_BATCH_EVENTS_MAX, TOPIC_WRITERS_MAX
} from '../../../protocols/events/messages.ts'
import type { EventBody } from '../../../protocols/events/messages.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'
import { verifyEnvelope } from '../../../protocols/events/verify.ts'

async function signed (body: Omit<EventBody, 'author'>) {
  const key = await generateKeyPair('Ed25519')
  const author = peerIdFromPrivateKey(key).toString()
  const bodyBytes = encodeBody({ ...body, author })
  const wire = encodeEnvelope(bodyBytes, await key.sign(signingBytes(bodyBytes)))
  return { wire, author }
}

describe('events messages', () => {
  it('round-trips a signed envelope and verifies it', async () => {
    const { wire, author } = await signed({ topic: 't', type: 'created', data: { a: [1, 'x', new Uint8Array([1])] }, hlc: { wallMs: 5, logical: 1 }, seq: 1 })
    const e = decodeEnvelope(wire)
    assert.equal(e.author, author)
    assert.deepEqual(e.data, { a: [1, 'x', new Uint8Array([1])] })
    assert.equal(e.id.length, 64)
    assert.equal(await verifyEnvelope(e), true)
  })

  it('rejects every truncation of a valid envelope with a DecodeError', async () => {
    const { wire } = await signed({ topic: 't', type: 'x', data: 'hello', hlc: { wallMs: 5, logical: 0 }, seq: 3 })
    await fc.assert(fc.property(fc.integer({ min: 0, max: wire.byteLength - 1 }), (n) => {
      assert.throws(() => decodeEnvelope(wire.subarray(0, n)), DecodeError)
    }))
  })

  it('rejects oversized envelopes before decoding', () => {
    assert.throws(() => decodeEnvelope(new Uint8Array(EVENT_BYTES_MAX + 1)), LimitExceededError)
    assert.throws(() => encodeEnvelope(new Uint8Array(EVENT_BYTES_MAX), new Uint8Array(64)), LimitExceededError)
  })

  it('a tampered byte never yields a verified event with the same id', async () => {
    const { wire } = await signed({ topic: 'orders', type: 'placed', data: { n: 42, note: 'abc' }, hlc: { wallMs: 77, logical: 2 }, seq: 9 })
    const original = decodeEnvelope(wire)
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: wire.byteLength - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
      const copy = wire.slice()
      copy[i] = copy[i]! ^ x
      let e
      try { e = decodeEnvelope(copy) } catch (err) {
        assert.ok(err instanceof DecodeError || err instanceof LimitExceededError, String(err))
        return
      }
      const sameBody = e.id === original.id
      // Either the body changed (and the signature no longer matches) or only the signature changed.
      assert.equal(await verifyEnvelope(e), false, `tampered byte ${i} still verified (same body: ${sameBody})`)
    }), { numRuns: 200 })
  })

  it('a parsed (cached) author key still refuses a signature made by another key', async () => {
    const alice = await generateKeyPair('Ed25519')
    const mallory = await generateKeyPair('Ed25519')
    const author = peerIdFromPrivateKey(alice).toString()
    const body = (seq: number): Uint8Array => encodeBody({ topic: 't', type: 'x', data: seq, author, hlc: { wallMs: 5, logical: seq }, seq })
    const genuine = decodeEnvelope(encodeEnvelope(body(1), await alice.sign(signingBytes(body(1)))))
    assert.equal(await verifyEnvelope(genuine), true) // alice's key is now parsed and kept
    const forged = decodeEnvelope(encodeEnvelope(body(2), await mallory.sign(signingBytes(body(2)))))
    assert.equal(await verifyEnvelope(forged), false)
    const short = decodeEnvelope(encodeEnvelope(body(3), (await alice.sign(signingBytes(body(3)))).subarray(0, 63)))
    assert.equal(await verifyEnvelope(short), false)
    assert.equal(await verifyEnvelope(decodeEnvelope(encodeEnvelope(body(4), await alice.sign(signingBytes(body(4)))))), true)
  })

  it('verifies authors with other key types (secp256k1) through libp2p', async () => {
    const key = await generateKeyPair('secp256k1')
    const author = peerIdFromPrivateKey(key).toString()
    const bodyBytes = encodeBody({ topic: 't', type: 'x', data: null, author, hlc: { wallMs: 5, logical: 0 }, seq: 1 })
    assert.equal(await verifyEnvelope(decodeEnvelope(encodeEnvelope(bodyBytes, await key.sign(signingBytes(bodyBytes))))), true)
    const other = await generateKeyPair('secp256k1')
    assert.equal(await verifyEnvelope(decodeEnvelope(encodeEnvelope(bodyBytes, await other.sign(signingBytes(bodyBytes))))), false)
  })

  it('rejects arbitrary bytes without throwing anything but typed errors', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try { decodeEnvelope(bytes) } catch (err) {
        assert.ok(err instanceof DecodeError || err instanceof LimitExceededError, String(err))
      }
    }), { numRuns: 500 })
  })

  it('round-trips sync frames and bounds the batch size', () => {
    const vector = [{ author: 'a', seq: 5, floor: 2 }]
    assert.deepEqual(decodeSyncRequest(encodeSyncFrame({ kind: 'sync', topic: 't', vector })), { kind: 'sync', topic: 't', vector })
    const reply = { kind: 'sync-reply' as const, topic: 't', events: [new Uint8Array([1])], vector, more: true }
    assert.deepEqual(decodeSyncReply(encodeSyncFrame(reply)), reply)
    const tooMany = { ...reply, events: Array.from({ length: SYNC_BATCH_EVENTS_MAX + 1 }, () => new Uint8Array([1])) }
    assert.throws(() => decodeSyncReply(encodeSyncFrame(tooMany)), LimitExceededError)
    assert.throws(() => decodeSyncRequest(encodeSyncFrame({ kind: 'sync', topic: 't', vector: [{ author: 'a', seq: 1, floor: 2 }] })), DecodeError)
  })

  it('round-trips a sync request\'s writer list and bounds it (SPEC E15)', () => {
    const request = { kind: 'sync' as const, topic: 't', vector: [], writers: ['a', 'b'] }
    assert.deepEqual(decodeSyncRequest(encodeSyncFrame(request)), request)
    const tooMany = { ...request, writers: Array.from({ length: TOPIC_WRITERS_MAX + 1 }, (_, i) => `w${i}`) }
    assert.throws(() => decodeSyncRequest(encodeSyncFrame(tooMany)), LimitExceededError)
    assert.throws(() => decodeSyncRequest(encodeSyncFrame({ ...request, writers: [''] })), DecodeError)
  })
})
