// The shared signing-bytes helper and backoff: what protocols sign, and how retries space out.

import assert from 'node:assert/strict'
import { domainSigningBytes } from '../../../protocols/kit/signing.ts'
import { encodeCbor } from '../../../protocols/kit/cbor.ts'
import { backoffDelayMs } from '../../../protocols/kit/backoff.ts'
import { voteSignBytes } from '../../../protocols/bft/signing.ts'
import { healthSigningBytes } from '../../../protocols/health/messages.ts'
import { toHex } from '../../../protocols/kit/bytes.ts'

describe('kit signing bytes', () => {
  it('is the CBOR of [domain, ...fields], so two domains never sign the same bytes', () => {
    const fields = ['g', 1, Uint8Array.of(1, 2)]
    assert.deepEqual(domainSigningBytes('agentmesh/test/v1', fields), encodeCbor(['agentmesh/test/v1', ...fields]))
    assert.notDeepEqual(domainSigningBytes('agentmesh/test/v1', fields), domainSigningBytes('agentmesh/test/v2', fields))
  })

  it('keeps the bytes bft and health signed before the helper existed (stored signatures stay valid)', () => {
    const vote = { type: 'prevote' as const, groupId: 'g', height: 3, round: 1, blockHash: new Uint8Array(32).fill(7), voter: 'x', signature: new Uint8Array(64) }
    assert.equal(toHex(voteSignBytes(vote)), toHex(encodeCbor(['agentmesh/bft/vote/v1', 'g', 3, 1, 'prevote', vote.blockHash])))
    const body = Uint8Array.of(9, 9)
    assert.equal(toHex(healthSigningBytes(body)), toHex(encodeCbor(['agentmesh/health/v1', body])))
  })
})

describe('kit backoff', () => {
  it('doubles from initialMs to maxMs; attempt 0 and 1 both wait initialMs (table)', () => {
    const options = { initialMs: 100, maxMs: 1_000 }
    assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map(a => backoffDelayMs(a, options)), [100, 100, 200, 400, 800, 1_000, 1_000])
  })

  it('draws jitter from the caller: half jitter spans [0.5, 1) of the delay', () => {
    const options = { initialMs: 100, maxMs: 1_000, jitter: 0.5 }
    assert.equal(backoffDelayMs(3, options, 0), 200)
    assert.equal(backoffDelayMs(3, options, 0.999), 400)
  })
})
