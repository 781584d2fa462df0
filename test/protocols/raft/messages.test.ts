// Codec property tests: round trip, truncated, oversized and tampered input.
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { AgentMeshError } from '../../../protocols/kit/errors.ts'
import { decodeConfChange, decodeMessage, describeMessage, encodeConfChange, encodeMessage, ENTRIES_MAX, ENTRY_BYTES_MAX, message } from '../../../protocols/raft/messages.ts'
import type { Entry, Message, MessageType } from '../../../protocols/raft/messages.ts'

const types: MessageType[] = ['app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp', 'snap', 'timeoutNow', 'prop', 'readIndex', 'readIndexResp']
const id = fc.string({ minLength: 1, maxLength: 20 })
const count = fc.nat({ max: 2 ** 40 })

const entries = fc.tuple(fc.nat({ max: 1000 }), fc.array(fc.record({
  term: count,
  kind: fc.constantFrom('normal' as const, 'noop' as const, 'conf' as const),
  data: fc.uint8Array({ maxLength: 64 }),
  client: fc.string({ maxLength: 10 }),
  seq: count
}), { maxLength: 5 })).map(([start, list]) => list.map((e, i): Entry => ({ ...e, index: start + 1 + i })))

const messages: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...types),
  from: id,
  to: id,
  term: count,
  logTerm: count,
  index: count,
  commit: count,
  reject: fc.boolean(),
  hintIndex: count,
  hintTerm: count,
  entries,
  snapshot: fc.option(fc.record({ index: count, term: count, voters: fc.array(id, { minLength: 1, maxLength: 5 }), data: fc.uint8Array({ maxLength: 64 }) }), { nil: null }),
  context: fc.string({ maxLength: 20 }),
  force: fc.boolean()
}).map((m) => m.type !== 'app' ? m : { ...m, logTerm: 0, entries: m.entries.map((e, i) => ({ ...e, index: m.index + 1 + i, term: m.term })) }) // SPEC raft R4: an append's entries follow its previous entry

function isTypedError (err: unknown): boolean { return err instanceof AgentMeshError }

describe('raft messages codec', () => {
  it('round-trips every valid message', () => {
    fc.assert(fc.property(messages, (m) => {
      assert.deepEqual(decodeMessage(encodeMessage(m)), structuredClone({ ...m, entries: m.entries.map((e) => ({ ...e })), snapshot: m.snapshot === null ? null : { ...m.snapshot } }))
      assert.equal(typeof describeMessage(m), 'string')
    }))
  })

  it('rejects every truncation with a typed error', () => {
    fc.assert(fc.property(messages, fc.nat(), (m, cut) => {
      const bytes = encodeMessage(m)
      const truncated = bytes.subarray(0, cut % bytes.byteLength)
      assert.throws(() => decodeMessage(truncated), isTypedError)
    }))
  })

  it('tampered bytes either decode to a valid message or fail with a typed error', () => {
    fc.assert(fc.property(messages, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, xor) => {
      const bytes = encodeMessage(m).slice()
      bytes[at % bytes.byteLength]! ^= xor
      try {
        const decoded = decodeMessage(bytes)
        assert.equal(typeof decoded.type, 'string')
      } catch (err) {
        assert.ok(isTypedError(err), String(err))
      }
    }))
  })

  it('rejects oversized input: frames, entry counts, entry bytes', () => {
    const m = message({ type: 'app', from: 'a', to: 'b', term: 1 })
    assert.throws(() => decodeMessage(encodeMessage(m), 10), /exceeds limit/)
    const many = Array.from({ length: ENTRIES_MAX + 1 }, (_, i): Entry => ({ term: 1, index: i + 1, kind: 'normal', data: new Uint8Array(0), client: '', seq: 0 }))
    assert.throws(() => decodeMessage(encodeCbor({ ...m, entries: many })), /exceeds ENTRIES_MAX/)
    const big: Entry = { term: 1, index: 1, kind: 'normal', data: new Uint8Array(ENTRY_BYTES_MAX + 1), client: '', seq: 0 }
    assert.throws(() => decodeMessage(encodeCbor({ ...m, entries: [big] })), /exceeds ENTRY_BYTES_MAX/)
    assert.throws(() => encodeMessage({ ...m, entries: [big] }), /exceeds ENTRY_BYTES_MAX/)
  })

  it('rejects wrong shapes with messages that name the field', () => {
    const m = message({ type: 'app', from: 'a', to: 'b', term: 1 })
    assert.throws(() => decodeMessage(encodeCbor({ ...m, type: 'bogus' })), /unknown type bogus/)
    assert.throws(() => decodeMessage(encodeCbor({ ...m, term: -1 })), /term is not a non-negative integer/)
    assert.throws(() => decodeMessage(encodeCbor({ ...m, from: '' })), /from is empty/)
    assert.throws(() => decodeMessage(encodeCbor([1, 2])), /not a map/)
    const gap: Entry[] = [{ term: 1, index: 1, kind: 'normal', data: new Uint8Array(0), client: '', seq: 0 }, { term: 1, index: 3, kind: 'normal', data: new Uint8Array(0), client: '', seq: 0 }]
    assert.throws(() => decodeMessage(encodeCbor({ ...m, entries: gap })), /entry 3 does not follow 1/)
  })

  it('rejects an append whose entries do not follow its previous entry (SPEC raft R4)', () => {
    const e = (term: number, index: number): Entry => ({ term, index, kind: 'normal', data: new Uint8Array(0), client: '', seq: 0 })
    const app = (fields: Partial<Message>): Uint8Array => encodeCbor(message({ type: 'app', from: 'a', to: 'b', term: 3, index: 4, logTerm: 2, ...fields }))
    assert.equal(decodeMessage(app({ entries: [e(2, 5), e(3, 6)] })).entries.length, 2)
    assert.throws(() => decodeMessage(app({ entries: [e(2, 6)] })), /entry 6 does not follow 4/)
    assert.throws(() => decodeMessage(app({ entries: [e(2, 5), e(2, 5)] })), /entry 5 does not follow 5/)
    assert.throws(() => decodeMessage(app({ entries: [e(3, 5), e(2, 6)] })), /term 2, outside 3\.\.3/)
    assert.throws(() => decodeMessage(app({ entries: [e(1, 5)] })), /term 1, outside 2\.\.3/)
    assert.throws(() => decodeMessage(app({ entries: [e(4, 5)] })), /term 4, outside 2\.\.3/)
  })

  it('conf changes round-trip and are validated', () => {
    assert.deepEqual(decodeConfChange(encodeConfChange({ op: 'add', node: 'n4' })), { op: 'add', node: 'n4' })
    assert.throws(() => decodeConfChange(encodeCbor({ op: 'swap', node: 'x' })), /op must be add or remove/)
  })
})
