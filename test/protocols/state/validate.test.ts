import assert from 'node:assert/strict'
import { validateRecord, requiredOwner } from '../../../protocols/state/validate.ts'
import { dhtKeyOf, encodeRecord, VALUE_BYTES_MAX, RECORD_BYTES_MAX, TTL_MS_MAX, encodeValue, checkKey, KEY_BYTES_MAX } from '../../../protocols/state/messages.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { RecordRejectedError } from '../../../protocols/state/errors.ts'
import { identity, makeRecord } from './fixtures.ts'
import type { Identity } from './fixtures.ts'

const NOW = 1_800_000_000_000

describe('state validator', () => {
  let alice: Identity
  let mallory: Identity
  before(async () => { alice = await identity(); mallory = await identity() })

  // Each row: a DHT key and record bytes, and the reject reason expected (undefined = valid).
  const cases: Array<{ name: string, build: () => Promise<{ dhtKey: Uint8Array, bytes: Uint8Array }>, reason?: string }> = [
    {
      name: 'a valid shared record',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord(await makeRecord(alice, { nowMs: NOW })) })
    },
    {
      name: 'the owner writing agents/<own id>/card',
      build: async () => ({ dhtKey: dhtKeyOf(`agents/${alice.id}/card`), bytes: encodeRecord(await makeRecord(alice, { key: `agents/${alice.id}/card`, nowMs: NOW })) })
    },
    {
      name: 'a forged signature (signed by mallory, claims alice)',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord(await makeRecord(mallory, { author: alice.id, nowMs: NOW })) }),
      reason: 'forged'
    },
    {
      name: 'a tampered value under a valid signature',
      build: async () => {
        const record = await makeRecord(alice, { nowMs: NOW })
        return { dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord({ ...record, value: encodeValue({ n: 2 }) }) }
      },
      reason: 'forged'
    },
    {
      name: 'a non-owner write to agents/<other>/…',
      build: async () => ({ dhtKey: dhtKeyOf(`agents/${alice.id}/card`), bytes: encodeRecord(await makeRecord(mallory, { key: `agents/${alice.id}/card`, nowMs: NOW })) }),
      reason: 'not-owner'
    },
    {
      name: 'a write to a bare agents/ key (no owner segment matches)',
      build: async () => ({ dhtKey: dhtKeyOf('agents'), bytes: encodeRecord(await makeRecord(alice, { key: 'agents', nowMs: NOW })) }),
      reason: 'not-owner'
    },
    {
      name: 'a record stored under another key',
      build: async () => ({ dhtKey: dhtKeyOf('shared/y'), bytes: encodeRecord(await makeRecord(alice, { nowMs: NOW })) }),
      reason: 'key-mismatch'
    },
    {
      name: 'an expired record',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord(await makeRecord(alice, { nowMs: NOW - 10_000, expiresAtMs: NOW - 1 })) }),
      reason: 'expired'
    },
    {
      name: 'a record expiring beyond TTL_MS_MAX plus skew',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord(await makeRecord(alice, { nowMs: NOW, expiresAtMs: NOW + TTL_MS_MAX + 3_600_000 })) }),
      reason: 'from-the-future'
    },
    {
      name: 'an HLC far ahead of the clock (would win LWW forever)',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord(await makeRecord(alice, { nowMs: NOW, hlc: { wallMs: NOW + 3_600_000, logical: 0 } })) }),
      reason: 'from-the-future'
    },
    {
      name: 'an author that is not a peer id',
      build: async () => {
        const record = await makeRecord(alice, { nowMs: NOW })
        return { dhtKey: dhtKeyOf('shared/x'), bytes: encodeRecord({ ...record, author: 'not-a-peer-id' }) }
      },
      reason: 'bad-author'
    },
    {
      name: 'garbage bytes',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: new Uint8Array([0xff, 0x00, 0x13, 0x37]) }),
      reason: 'malformed'
    },
    {
      name: 'a CBOR map missing fields',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: encodeCbor({ v: 1, key: 'shared/x' }) }),
      reason: 'malformed'
    },
    {
      name: 'an unknown extra field',
      build: async () => {
        const r = await makeRecord(alice, { nowMs: NOW })
        return { dhtKey: dhtKeyOf('shared/x'), bytes: encodeCbor({ v: 1, key: r.key, value: r.value, author: r.author, version: r.version, hlc: r.hlc, expiresAtMs: r.expiresAtMs, signature: r.signature, extra: 1 }) }
      },
      reason: 'malformed'
    },
    {
      name: 'an oversized value (past VALUE_BYTES_MAX)',
      build: async () => {
        const r = await makeRecord(alice, { nowMs: NOW })
        return { dhtKey: dhtKeyOf('shared/x'), bytes: encodeCbor({ v: 1, key: r.key, value: new Uint8Array(VALUE_BYTES_MAX + 1), author: r.author, version: r.version, hlc: r.hlc, expiresAtMs: r.expiresAtMs, signature: r.signature }) }
      },
      reason: 'malformed'
    },
    {
      name: 'an oversized record (past RECORD_BYTES_MAX)',
      build: async () => ({ dhtKey: dhtKeyOf('shared/x'), bytes: new Uint8Array(RECORD_BYTES_MAX + 1) }),
      reason: 'malformed'
    },
    {
      name: 'a DHT key outside the /am/ namespace',
      build: async () => ({ dhtKey: new TextEncoder().encode('/pk/shared/x'), bytes: encodeRecord(await makeRecord(alice, { nowMs: NOW })) }),
      reason: 'malformed'
    }
  ]

  for (const row of cases) {
    it(`${row.reason === undefined ? 'accepts' : 'rejects'} ${row.name}`, async () => {
      const { dhtKey, bytes } = await row.build()
      if (row.reason === undefined) {
        const record = await validateRecord(dhtKey, bytes, { nowMs: NOW })
        assert.equal(record.author, alice.id)
      } else {
        await assert.rejects(validateRecord(dhtKey, bytes, { nowMs: NOW }), (err: unknown) => {
          assert.ok(err instanceof RecordRejectedError, `expected RecordRejectedError, got ${String(err)}`)
          assert.equal(err.reason, row.reason, err.message)
          return true
        })
      }
    })
  }

  it('names the owner of agents/<peerId>/… keys and no owner for shared keys', () => {
    assert.equal(requiredOwner('agents/abc/card'), 'abc')
    assert.equal(requiredOwner('agents'), '')
    assert.equal(requiredOwner('jobs/agents/x'), undefined)
  })

  it('rejects keys with empty segments, spaces or past KEY_BYTES_MAX', () => {
    assert.throws(() => { checkKey('a//b') }, /segments must be non-empty/)
    assert.throws(() => { checkKey('a b') }, /segments must be non-empty/)
    assert.throws(() => { checkKey('/a') }, /segments must be non-empty/)
    assert.throws(() => { checkKey('k'.repeat(KEY_BYTES_MAX + 1)) }, /exceeds KEY_BYTES_MAX/)
    checkKey('jobs/42/result:v2')
  })

  it('refuses to encode a value past VALUE_BYTES_MAX', () => {
    assert.throws(() => encodeValue(new Uint8Array(VALUE_BYTES_MAX)), /exceeds VALUE_BYTES_MAX/)
    assert.equal(encodeValue(new Uint8Array(VALUE_BYTES_MAX - 8)).byteLength <= VALUE_BYTES_MAX, true)
  })
})
