// Property and table tests for the health codec: round trips, truncated, oversized and
// tampered input never crash and only ever fail with typed errors.

import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  encodeHealthMessage, decodeHealthMessage, describeHealthMessage,
  ANNOUNCE_BYTES_MAX, ANNOUNCE_INTERVAL_MS_MAX, CAPABILITIES_MAX, CAPABILITY_CHARS_MAX, ADDRESSES_MAX, NAME_CHARS_MAX
} from '../../../protocols/health/messages.ts'
import type { Announce, Goodbye, HealthMessage } from '../../../protocols/health/messages.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../../../protocols/kit/errors.ts'

const counter = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const address = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(65535)).map(([a, b, port]) => `/ip4/10.${a}.${b}.1/tcp/${port}`),
  fc.stringMatching(/^[a-zA-Z0-9]{1,40}$/).map(name => `/memory/${name}`),
  fc.nat(65535).map(port => `/ip6/::1/tcp/${port}`)
)
const announceArb: fc.Arbitrary<Announce> = fc.record({
  kind: fc.constant('announce' as const),
  peerId: fc.string({ minLength: 1, maxLength: 60 }),
  intervalMs: fc.integer({ min: 1, max: ANNOUNCE_INTERVAL_MS_MAX }),
  incarnation: counter,
  seq: counter,
  name: fc.string({ maxLength: NAME_CHARS_MAX }),
  capabilities: fc.array(fc.string({ minLength: 1, maxLength: CAPABILITY_CHARS_MAX }), { maxLength: CAPABILITIES_MAX }),
  version: fc.string({ maxLength: 20 }),
  addresses: fc.array(address, { maxLength: ADDRESSES_MAX })
})
const goodbyeArb: fc.Arbitrary<Goodbye> = fc.record({ kind: fc.constant('goodbye' as const), peerId: fc.string({ minLength: 1, maxLength: 60 }), incarnation: counter, seq: counter })
const messageArb: fc.Arbitrary<HealthMessage> = fc.oneof(announceArb, goodbyeArb)

function isTyped (err: unknown): boolean { return err instanceof DecodeError || err instanceof LimitExceededError }

const sample: Announce = { kind: 'announce', peerId: '12D3KooWexample', intervalMs: 1000, incarnation: 3, seq: 17, name: 'planner', capabilities: ['plan', 'code'], version: '0.1.0', addresses: ['/ip4/127.0.0.1/tcp/4001'] }

describe('health messages: codec', () => {
  it('round-trips every valid message byte for byte', () => {
    fc.assert(fc.property(messageArb, (message) => {
      const bytes = encodeHealthMessage(message)
      assert.ok(bytes.byteLength <= ANNOUNCE_BYTES_MAX)
      const decoded = decodeHealthMessage(bytes)
      assert.deepEqual(decoded, { ...message })
      assert.deepEqual(encodeHealthMessage(decoded), bytes)
    }), { numRuns: 300 })
  })

  it('rejects every strict prefix with a typed error', () => {
    fc.assert(fc.property(messageArb, fc.double({ min: 0, max: 1, noNaN: true }), (message, fraction) => {
      const bytes = encodeHealthMessage(message)
      const cut = Math.floor(fraction * (bytes.byteLength - 1))
      assert.throws(() => decodeHealthMessage(bytes.subarray(0, cut)), isTyped)
    }), { numRuns: 300 })
  })

  it('tampered bytes either fail with a typed error or decode to a valid message', () => {
    fc.assert(fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }), (message, flips) => {
      const bytes = encodeHealthMessage(message).slice()
      for (const [at, value] of flips) bytes[at % bytes.byteLength] = value
      let decoded: HealthMessage
      try {
        decoded = decodeHealthMessage(bytes)
      } catch (err) {
        assert.ok(isTyped(err), `untyped error: ${String(err)}`)
        return
      }
      assert.deepEqual(decodeHealthMessage(encodeHealthMessage(decoded)), decoded)
    }), { numRuns: 5000 })
  })

  it('random bytes never crash the decoder', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      try {
        decodeHealthMessage(bytes)
      } catch (err) {
        assert.ok(isTyped(err), `untyped error: ${String(err)}`)
      }
    }), { numRuns: 1000 })
  })

  it('rejects input over ANNOUNCE_BYTES_MAX before decoding it', () => {
    const bytes = encodeCbor({ ...sample, name: 'x'.repeat(ANNOUNCE_BYTES_MAX) })
    assert.throws(() => decodeHealthMessage(bytes), (err: unknown) => err instanceof LimitExceededError && /exceeds limit of 16384/.test(err.message))
  })

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['too many capabilities', { ...sample, capabilities: Array.from({ length: CAPABILITIES_MAX + 1 }, (_, i) => `c${i}`) }, /33 items exceeds CAPABILITIES_MAX \(32\)/],
    ['a capability too long', { ...sample, capabilities: ['x'.repeat(CAPABILITY_CHARS_MAX + 1)] }, /CAPABILITY_CHARS_MAX/],
    ['an empty capability', { ...sample, capabilities: [''] }, /capability: must not be empty/],
    ['a name too long', { ...sample, name: 'n'.repeat(NAME_CHARS_MAX + 1) }, /NAME_CHARS_MAX/],
    ['too many addresses', { ...sample, addresses: Array.from({ length: ADDRESSES_MAX + 1 }, (_, i) => `/ip4/127.0.0.1/tcp/${i + 1}`) }, /ADDRESSES_MAX/],
    ['an address that is not a multiaddr', { ...sample, addresses: ['not an address'] }, /Invalid health announce address "not an address"/],
    ['an address naming another peer', { ...sample, addresses: ['/ip4/1.2.3.4/tcp/1/p2p/12D3KooWGzBh6T2dx5wnW4Be6aAnFYgJcKUfyZ7WZSH4Ae4hP3pV'] }, /must not name a peer/],
    ['a negative seq', { ...sample, seq: -1 }, /seq: expected a non-negative safe integer/],
    ['a zero interval', { ...sample, intervalMs: 0 }, /intervalMs: 0 is outside 1..ANNOUNCE_INTERVAL_MS_MAX/],
    ['an interval over the maximum', { ...sample, intervalMs: ANNOUNCE_INTERVAL_MS_MAX + 1 }, /ANNOUNCE_INTERVAL_MS_MAX/],
    ['a fractional incarnation', { ...sample, incarnation: 1.5 }, /incarnation: expected a non-negative safe integer/],
    ['an empty peer id', { ...sample, peerId: '' }, /peerId: must not be empty/],
    ['capabilities not a list', { ...sample, capabilities: 'plan' }, /capabilities: expected a list/],
    ['a kind that decodes as a BigInt (found by the tamper property)', { ...sample, kind: 2n ** 63n }, /unknown kind 9223372036854775808n/],
    ['a seq beyond safe integers', { ...sample, seq: 2n ** 60n }, /seq: expected a non-negative safe integer, got 1152921504606846976n/],
    ['an unknown kind', { ...sample, kind: 'hello' }, /unknown kind "hello"/],
    ['a missing field', { kind: 'announce', peerId: 'p', incarnation: 1, seq: 1 }, /missing field "intervalMs"/],
    ['an unexpected field', { ...sample, admin: true }, /unexpected field "admin"/]
  ]
  for (const [what, value, pattern] of bad) {
    it(`rejects ${what} with a DecodeError naming the problem`, () => {
      assert.throws(() => decodeHealthMessage(encodeCbor(value)), (err: unknown) => err instanceof DecodeError && pattern.test(err.message))
    })
  }

  it('refuses to encode our own oversized announce with a LimitExceededError', () => {
    assert.throws(() => encodeHealthMessage({ ...sample, capabilities: Array.from({ length: 40 }, (_, i) => `c${i}`) }), LimitExceededError)
  })

  it('describes a message in one stable line', () => {
    assert.equal(describeHealthMessage(sample), 'announce 12D3KooWexample inc=3 seq=17 every=1000ms name="planner" version=0.1.0 caps=[plan,code] addrs=1')
    assert.equal(describeHealthMessage({ kind: 'goodbye', peerId: 'p', incarnation: 1, seq: 2 }), 'goodbye p inc=1 seq=2')
  })
})
