import assert from 'node:assert/strict'
import fc from 'fast-check'
import { CBOR_DEPTH_MAX, cborBytesBound, decodeCbor, encodeCbor } from '../../../protocols/kit/cbor.ts'
import { DecodeError } from '../../../protocols/kit/errors.ts'

function nested (depth: number, wrap: (inner: unknown) => unknown): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = wrap(v)
  return v
}

const options = { bytesMax: 1 << 20, what: 'test frame' }

describe('bounded CBOR', () => {
  it(`decodes nesting up to CBOR_DEPTH_MAX (${CBOR_DEPTH_MAX}) and rejects one level more, naming the limit`, () => {
    for (const wrap of [(x: unknown) => [x], (x: unknown) => ({ k: x })]) {
      const deepest = nested(CBOR_DEPTH_MAX, wrap)
      assert.deepEqual(decodeCbor(encodeCbor(deepest), options), deepest)
      assert.throws(() => decodeCbor(encodeCbor(nested(CBOR_DEPTH_MAX + 1, wrap)), options),
        (err: Error) => err instanceof DecodeError && err.message.includes('CBOR_DEPTH_MAX') && err.message.includes('test frame'))
    }
  })

  it('rejects 200 000 nested one-element arrays with a DecodeError, not a stack overflow', () => {
    const bytes = new Uint8Array(200_000).fill(0x81) // 0x81 = array of one item, over and over
    assert.throws(() => decodeCbor(bytes, options), (err: Error) => err instanceof DecodeError && err.message.includes('CBOR_DEPTH_MAX'))
  })

  it('property: any JSON-like value round-trips, and its depth decides acceptance', () => {
    const depthOf = (v: unknown): number => typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: CBOR_DEPTH_MAX + 4 }), (value, wraps) => {
      const v = nested(wraps, x => [x, value])
      const bytes = encodeCbor(v)
      if (depthOf(v) <= CBOR_DEPTH_MAX) assert.deepEqual(decodeCbor(bytes, options), decodeCbor(encodeCbor(v), options))
      else assert.throws(() => decodeCbor(bytes, options), DecodeError)
    }), { numRuns: 300 })
  })

  it('property: cborBytesBound is never below the encoded size', () => {
    const value = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.uint8Array({ maxLength: 300 }), fc.record({ b: fc.uint8Array(), s: fc.string({ unit: 'grapheme' }), n: fc.double({ noNaN: true }), big: fc.integer() }))
    fc.assert(fc.property(value, (v) => { assert.ok(cborBytesBound(v) >= encodeCbor(v).byteLength) }), { numRuns: 500 })
  })
})
