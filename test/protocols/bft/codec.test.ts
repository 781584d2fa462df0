// Codec properties (SPEC bft "Messages", "Limits"): round trip, truncated, oversized and
// tampered input always ends in a typed error or a well-formed message, never a crash.

import assert from 'node:assert/strict'
import fc from 'fast-check'
import { BATCH_ITEMS_MAX, BFT_FRAME_BYTES_MAX, ITEM_BYTES_MAX, ROUND_MAX, decodeMessage, describeMessage, encodeMessage, type BftMessage, type Vote } from '../../../protocols/bft/messages.ts'
import { describeEffect, type BftEffect } from '../../../protocols/bft/effects.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'

const peer = fc.constantFrom('12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7', '12D3KooWBCXuKSqqYKKp6CA994r9iFr9oWiQ8kBZkvd86r99oGLY')
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
const height = fc.integer({ min: 1, max: 1e9 })
const round = fc.integer({ min: 0, max: 1000 })
const items = fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 })
const block = fc.record({ height: fc.constant(0), prevHash: bytes(32), items })
const vote = fc.record({ type: fc.constantFrom('prevote' as const, 'precommit' as const), groupId: fc.string({ minLength: 1, maxLength: 20 }), height, round, blockHash: fc.option(bytes(32), { nil: null }), voter: peer, signature: bytes(64) })
const proposal = fc.record({ groupId: fc.string({ minLength: 1, maxLength: 20 }), height, round: fc.integer({ min: 1, max: 1000 }), block, proposer: peer, signature: bytes(64), votes: fc.array(vote, { maxLength: 3 }) })
  .map(p => ({ type: 'proposal' as const, groupId: p.groupId, height: p.height, round: p.round, polRound: p.votes.length > 0 ? p.round - 1 : -1, block: { ...p.block, height: p.height }, proposer: p.proposer, signature: p.signature, polPrevotes: p.votes.map(v => ({ ...v, type: 'prevote' as const })) }))
const decision = fc.record({ groupId: fc.string({ minLength: 1, maxLength: 20 }), block: block.map(b => ({ ...b, height: 1 })), round, signers: fc.array(peer, { maxLength: 4 }) })
  .map(d => ({ groupId: d.groupId, block: d.block, certificate: { round: d.round, signers: d.signers, signatures: d.signers.map(() => new Uint8Array(64)) } }))
const message: fc.Arbitrary<BftMessage> = fc.oneof(
  vote,
  proposal,
  fc.record({ a: vote, b: vote }).map(({ a, b }) => ({ type: 'evidence' as const, first: a, second: b })),
  fc.record({ groupId: fc.string({ minLength: 1, maxLength: 20 }), items }).map(s => ({ type: 'submit' as const, ...s })),
  fc.record({ groupId: fc.string({ minLength: 1, maxLength: 20 }), decisions: fc.array(decision, { maxLength: 3 }) }).map(s => ({ type: 'decision' as const, ...s })),
  fc.record({ groupId: fc.string({ minLength: 1, maxLength: 20 }), height }).map(s => ({ type: 'status' as const, ...s }))
)

const typed = (err: unknown): boolean => err instanceof DecodeError || err instanceof LimitExceededError

describe('bft codec', () => {
  it('round-trips every message and describes it in one line', () => {
    fc.assert(fc.property(message, (m) => {
      const encoded = encodeMessage(m)
      const decoded = decodeMessage(encoded)
      assert.deepEqual(encodeMessage(decoded), encoded) // deterministic CBOR: same message, same bytes
      assert.equal(decoded.type, m.type)
      const line = describeMessage(decoded)
      assert.ok(line.length > 0 && !line.includes('\n'))
    }), { numRuns: 300 })
  })

  it('rejects every truncation with a typed error', () => {
    fc.assert(fc.property(message, fc.nat(), (m, cut) => {
      const encoded = encodeMessage(m)
      const truncated = encoded.subarray(0, cut % encoded.byteLength)
      assert.throws(() => decodeMessage(truncated), typed)
    }), { numRuns: 300 })
  })

  it('tampered bytes give a typed error or a well-formed message', () => {
    fc.assert(fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, xor) => {
      const encoded = encodeMessage(m).slice()
      encoded[at % encoded.byteLength]! ^= xor
      try {
        const decoded = decodeMessage(encoded)
        assert.doesNotThrow(() => encodeMessage(decoded))
      } catch (err) {
        assert.ok(typed(err), String(err))
      }
    }), { numRuns: 500 })
  })

  it('refuses oversized frames before decoding', () => {
    assert.throws(() => decodeMessage(new Uint8Array(BFT_FRAME_BYTES_MAX + 1)), LimitExceededError)
    assert.throws(() => decodeMessage(new Uint8Array(100), 50), /100 bytes exceeds limit of 50/)
  })

  it('names the broken bound for over-limit fields', () => {
    const base = { type: 'submit', groupId: 'g' }
    assert.throws(() => decodeMessage(encodeCbor({ ...base, items: [new Uint8Array(ITEM_BYTES_MAX + 1)] })), /ITEM_BYTES_MAX/)
    const tooMany = Array.from({ length: BATCH_ITEMS_MAX + 1 }, () => Uint8Array.from([1]))
    const p = { type: 'proposal', groupId: 'g', height: 1, round: 0, polRound: -1, block: { height: 1, prevHash: new Uint8Array(32), items: tooMany }, proposer: 'p', signature: new Uint8Array(64), polPrevotes: [] }
    assert.throws(() => decodeMessage(encodeCbor(p)), /block.items: 257 entries exceeds limit of 256/)
    const v: Vote = { type: 'prevote', groupId: 'g', height: 1, round: ROUND_MAX + 1, blockHash: null, voter: 'p', signature: new Uint8Array(64) }
    assert.throws(() => decodeMessage(encodeCbor(v)), /ROUND_MAX/)
    assert.throws(() => decodeMessage(encodeCbor({ ...v, round: 0, height: 0 })), /vote.height: must be an integer ≥ 1/)
    assert.throws(() => decodeMessage(encodeCbor({ ...v, round: 0, signature: new Uint8Array(63) })), /vote.signature: must be 64 bytes/)
    assert.throws(() => decodeMessage(encodeCbor({ ...v, round: 0, extra: 1 })), /unexpected fields \(extra\)/)
    assert.throws(() => decodeMessage(encodeCbor({ ...p, block: { ...p.block, items: [], height: 2 } })), /block height 2 differs from proposal height 1/)
    assert.throws(() => decodeMessage(encodeCbor({ ...p, polRound: 0, block: { ...p.block, items: [] } })), /polRound 0 must be -1 or in \[0, round 0\)/)
    assert.throws(() => decodeMessage(encodeCbor({ type: 'hello' })), /unknown type/)
  })

  it('describes every effect in one stable line', () => {
    const v: Vote = { type: 'precommit', groupId: 'g', height: 3, round: 1, blockHash: Uint8Array.from(Array(32).fill(0xab)), voter: '12D3KooWabcdefgh', signature: new Uint8Array(64) }
    const effects: Array<[BftEffect, string]> = [
      [{ type: 'persist', state: { signed: { height: 3, round: 1, step: 'precommit' }, signedMessages: [v], lockedRound: 1, lockedBlock: null, validRound: 1, validBlock: null } }, 'persist signed=3/1/precommit locked=1'],
      [{ type: 'broadcast', message: v }, 'broadcast precommit h=3 r=1 block=abababab from=…cdefgh'],
      [{ type: 'send', to: '12D3KooWzyxwvu', message: { type: 'status', groupId: 'g', height: 2 } }, 'send to=…yxwvu status h=2'.replace('…yxwvu', '…zyxwvu')],
      [{ type: 'evidence', evidence: { type: 'evidence', first: v, second: { ...v, blockHash: null } } }, 'evidence precommit h=3 r=1 by=…cdefgh'],
      [{ type: 'reject', from: '12D3KooWabcdefgh', reason: 'bad signature' }, 'reject from=…cdefgh: bad signature']
    ]
    for (const [effect, line] of effects) assert.equal(describeEffect(effect), line)
  })
})
