// Every wire decoder, fuzzed: whatever bytes a peer sends, a decoder returns a value or throws
// one of agentmesh's typed errors (DecodeError, LimitExceededError), never a TypeError, a
// RangeError or a hang. Three input shapes per decoder, 10,000 cases each by default:
// arbitrary bytes, arbitrary CBOR values (to get past the CBOR layer into field checks), and
// valid frames with bytes flipped, cut or appended.

import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as cborg from 'cborg'
import { AgentMeshError } from '../../../protocols/kit/errors.ts'
import type { Hlc } from '../../../protocols/kit/hlc.ts'
import * as raft from '../../../protocols/raft/messages.ts'
import * as bft from '../../../protocols/bft/messages.ts'
import * as direct from '../../../protocols/direct/messages.ts'
import * as docs from '../../../protocols/docs/messages.ts'
import * as events from '../../../protocols/events/messages.ts'
import * as health from '../../../protocols/health/messages.ts'
import * as state from '../../../protocols/state/messages.ts'

/** Cases per decoder and input shape; `FUZZ_RUNS` raises it for a longer local run. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000)

/** One decoder and a valid frame of its kind to mutate. */
interface Codec { name: string, decode: (bytes: Uint8Array) => unknown, valid: Uint8Array }

const peer = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
const hlc: Hlc = { wallMs: 1_700_000_000_000, logical: 0 }
const codecs: Codec[] = [
  {
    name: 'raft message',
    decode: (b) => raft.decodeMessage(b),
    valid: raft.encodeMessage({ type: 'app', from: peer, to: peer, term: 3, logTerm: 2, index: 7, commit: 6, reject: false, hintIndex: 0, hintTerm: 0, entries: [{ term: 3, index: 8, kind: 'normal', data: new Uint8Array([1, 2]), client: 'c', seq: 1 }], snapshot: null, context: '', force: false } as never)
  },
  { name: 'raft conf change', decode: (b) => raft.decodeConfChange(b), valid: raft.encodeConfChange({ op: 'add', node: peer }) },
  {
    name: 'bft message',
    decode: (b) => bft.decodeMessage(b),
    valid: bft.encodeMessage({ type: 'prevote', groupId: 'g', height: 1, round: 0, blockHash: new Uint8Array(32), voter: peer, signature: new Uint8Array(64) })
  },
  { name: 'direct request', decode: (b) => direct.decodeRequest(b, 1 << 20), valid: direct.encodeRequest({ version: 1, kind: 'request', method: 'm', payload: { a: [1, 'x'] } }) },
  { name: 'direct response', decode: (b) => direct.decodeResponse(b, 1 << 20), valid: direct.encodeResponse({ kind: 'reply', payload: 'x' }) },
  { name: 'docs gossip frame', decode: (b) => docs.decodeGossipFrame(b), valid: docs.encodeGossipUpdate(new Uint8Array([0, 0])) },
  { name: 'docs sync frame', decode: (b) => docs.decodeSyncFrame(b), valid: docs.encodeSyncFrame({ doc: 'plan', body: { kind: 'step1', stateVector: new Uint8Array([0]) } }) },
  {
    name: 'events envelope',
    decode: (b) => events.decodeEnvelope(b),
    valid: events.encodeEnvelope(events.encodeBody({ topic: 't', type: 'x', data: 1, author: peer, hlc, seq: 1 }), new Uint8Array(64))
  },
  { name: 'events sync request', decode: (b) => events.decodeSyncRequest(b), valid: events.encodeSyncFrame({ kind: 'sync', topic: 't', vector: [{ author: peer, seq: 2, floor: 0 }] }) },
  { name: 'events sync reply', decode: (b) => events.decodeSyncReply(b), valid: events.encodeSyncFrame({ kind: 'sync-reply', topic: 't', events: [], vector: [], more: false }) },
  {
    name: 'health message',
    decode: (b) => health.decodeHealthMessage(b),
    valid: health.encodeHealthMessage({ kind: 'announce', peerId: peer, intervalMs: 1000, incarnation: 1, seq: 1, name: 'a', capabilities: ['x'], version: '0.1.0', addresses: ['/ip4/127.0.0.1/tcp/1'] })
  },
  { name: 'signed health frame', decode: (b) => health.decodeSignedHealthFrame(b), valid: health.encodeSignedHealthFrame({ body: new Uint8Array([1]), signature: new Uint8Array(64) }) },
  { name: 'state value', decode: (b) => state.decodeValue(b), valid: state.encodeValue({ model: 'small' }) },
  {
    name: 'state record',
    decode: (b) => state.decodeRecord(b),
    valid: state.encodeRecord({ key: 'jobs/42', value: state.encodeValue(1), author: peer, version: 1, hlc, expiresAtMs: 1_800_000_000_000, signature: new Uint8Array(64) })
  },
  { name: 'state read request', decode: (b) => state.decodeReadRequest(b), valid: state.encodeReadRequest('jobs/42') },
  { name: 'state read response', decode: (b) => state.decodeReadResponse(b), valid: state.encodeReadResponse(new Uint8Array([1, 2, 3])) }
]

/** CBOR values of every major type, nested a few levels, with keys the decoders look for. */
const key = fc.constantFrom('type', 'from', 'to', 'term', 'index', 'entries', 'id', 'method', 'payload', 'topic', 'events', 'vector', 'seq', 'body', 'signature', 'key', 'value', 'author', 'hlc', 'group', 'height', 'doc', 'ok', 'data', 'kind', 'snapshot', 'voters')
const leaf = fc.oneof(
  fc.integer(), fc.constantFrom(0, -1, 2 ** 53 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.double({ noNaN: true }),
  fc.string({ maxLength: 40 }), fc.constantFrom('app', 'vote', 'req', 'reply', 'proposal', 'prevote', 'step1', 'step2', 'update', 'ping', peer, ''),
  fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 80 })
)
const cborValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('value'), { maxLength: 5 }), fc.dictionary(key, tie('value'), { maxKeys: 8 }))
})).value

function mutate (valid: Uint8Array, edits: Array<{ at: number, byte: number }>, cut: number, extra: Uint8Array): Uint8Array {
  const bytes = Uint8Array.from(valid.subarray(0, Math.max(0, valid.byteLength - cut)))
  for (const e of edits) if (bytes.byteLength > 0) bytes[e.at % bytes.byteLength] = e.byte
  const out = new Uint8Array(bytes.byteLength + extra.byteLength)
  out.set(bytes); out.set(extra, bytes.byteLength)
  return out
}

function decodesOrThrowsTyped (codec: Codec, bytes: Uint8Array): void {
  try {
    codec.decode(bytes)
  } catch (err) {
    assert.ok(err instanceof AgentMeshError, `${codec.name}: ${bytes.byteLength} bytes threw ${(err as Error)?.name}: ${(err as Error)?.message}`)
  }
}

describe('every codec, fuzzed (fast-check)', function () {
  this.timeout(10 * 60_000)
  for (const codec of codecs) {
    describe(codec.name, () => {
      it('the valid frame used as the mutation seed decodes', () => {
        // a seed frame a decoder rejects would leave the mutations fuzzing only its first check
        codec.decode(codec.valid)
      })
      it(`arbitrary bytes: a value or a typed error (${RUNS} cases)`, () => {
        fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => { decodesOrThrowsTyped(codec, bytes) }), { numRuns: RUNS, seed: 1 })
      })
      it(`arbitrary CBOR values: a value or a typed error (${RUNS} cases)`, () => {
        fc.assert(fc.property(cborValue, (value) => { decodesOrThrowsTyped(codec, cborg.encode(value)) }), { numRuns: RUNS, seed: 2 })
      })
      it(`a valid frame flipped, cut or extended: a value or a typed error (${RUNS} cases)`, () => {
        const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) })
        fc.assert(fc.property(fc.array(edit, { maxLength: 4 }), fc.nat({ max: 8 }), fc.uint8Array({ maxLength: 8 }), (edits, cut, extra) => {
          decodesOrThrowsTyped(codec, mutate(codec.valid, edits, cut, extra))
        }), { numRuns: RUNS, seed: 3 })
      })
    })
  }
})
