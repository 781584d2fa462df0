// Certificate and chain verification (SPEC bft B2, B7): valid, too few, duplicate signer,
// non-member, tampered value, forged signature; a chain where flipping any byte is detected.

import assert from 'node:assert/strict'
import { verifyChain, verifyDecision } from '../../../protocols/bft/certificate.ts'
import { checkDecision, type Block, type Decision } from '../../../protocols/bft/messages.ts'
import { blockHash, genesisHash, voteSignBytes, type Signer } from '../../../protocols/bft/signing.ts'
import { decodeCbor, encodeCbor } from '../../../protocols/kit/cbor.ts'
import { testSigner, testVerifier } from './harness.ts'

const groupId = 'ledger'
const signers = [0, 1, 2, 3].map(testSigner)
const members = signers.map(s => s.id)
const outsider = testSigner(99)
const options = { members, verifier: testVerifier, groupId }

function certify (block: Block, by: Signer[], round = 0): Decision {
  const bytes = voteSignBytes({ groupId, height: block.height, round, type: 'precommit', blockHash: blockHash(groupId, block) })
  return { groupId, block, certificate: { round, signers: by.map(s => s.id), signatures: by.map(s => s.sign(bytes)) } }
}

function chain (length: number): Decision[] {
  const out: Decision[] = []
  let prevHash = genesisHash(groupId, members)
  for (let h = 1; h <= length; h++) {
    const block = { height: h, prevHash, items: [new TextEncoder().encode(`transfer ${h}: alice→bob 10`)] }
    out.push(certify(block, signers.slice(0, 3), h % 2))
    prevHash = blockHash(groupId, block)
  }
  return out
}

const clone = (d: Decision): Decision => checkDecision(decodeCbor(encodeCbor(d), { bytesMax: 1 << 20, what: 'test' }))

describe('bft verifyDecision', () => {
  const block = { height: 1, prevHash: genesisHash(groupId, members), items: [Uint8Array.from([1, 2, 3])] }
  const cases: Array<[string, () => Decision, string | null]> = [
    ['valid with 3 of 4', () => certify(block, signers.slice(0, 3)), null],
    ['valid with all 4', () => certify(block, signers), null],
    ['too few signers', () => certify(block, signers.slice(0, 2)), 'needs 3 of 4'],
    ['duplicate signer', () => certify(block, [signers[0]!, signers[1]!, signers[1]!]), 'appears twice'],
    ['non-member signer', () => certify(block, [signers[0]!, signers[1]!, outsider]), 'is not a member'],
    ['tampered value', () => { const d = certify(block, signers.slice(0, 3)); d.block.items[0]![0] = 9; return d }, 'does not match'],
    ['added item', () => { const d = certify(block, signers.slice(0, 3)); d.block.items.push(Uint8Array.from([7])); return d }, 'does not match'],
    ['forged signature', () => { const d = certify(block, signers.slice(0, 3)); d.certificate.signatures[2] = new Uint8Array(64).fill(1); return d }, 'does not match'],
    ['signature moved to another signer', () => { const d = certify(block, signers.slice(0, 3)); d.certificate.signers[2] = signers[3]!.id; return d }, 'does not match'],
    ['changed round', () => { const d = certify(block, signers.slice(0, 3)); d.certificate.round = 1; return d }, 'does not match'],
    ['signers and signatures differ in count', () => { const d = certify(block, signers.slice(0, 3)); d.certificate.signatures.pop(); return d }, '3 signers but 2 signatures'],
    ['other group', () => ({ ...certify(block, signers.slice(0, 3)), groupId: 'other' }), 'expected "ledger"']
  ]
  for (const [name, make, reason] of cases) {
    it(name, () => {
      const result = verifyDecision(make(), options)
      if (reason === null) assert.deepEqual(result, { ok: true })
      else {
        assert.equal(result.ok, false)
        assert.match((result as { reason: string }).reason, new RegExp(reason.replace(/[()]/g, '\\$&')))
      }
    })
  }

  it('prevote signatures do not make a certificate (domain separation by vote type)', () => {
    const bytes = voteSignBytes({ groupId, height: 1, round: 0, type: 'prevote', blockHash: blockHash(groupId, block) })
    const d: Decision = { groupId, block, certificate: { round: 0, signers: members.slice(0, 3), signatures: signers.slice(0, 3).map(s => s.sign(bytes)) } }
    assert.equal(verifyDecision(d, options).ok, false)
  })
})

describe('bft verifyChain', () => {
  it('accepts a chain from genesis and an empty chain', () => {
    assert.deepEqual(verifyChain(chain(4), options), { ok: true })
    assert.deepEqual(verifyChain([], options), { ok: true })
  })

  it('rejects a missing, reordered or foreign-genesis entry', () => {
    const entries = chain(3)
    assert.match((verifyChain([entries[0]!, entries[2]!], options) as { reason: string }).reason, /height 3, expected 2/)
    assert.equal(verifyChain([entries[1]!, entries[0]!], options).ok, false)
    assert.match((verifyChain(entries, { ...options, members: [...members.slice(0, 3), outsider.id] }) as { reason: string }).reason, /does not link/)
  })

  it('a re-certified replacement entry breaks the link of the next one', () => {
    const entries = chain(3)
    entries[1] = certify({ ...entries[1]!.block, items: [Uint8Array.from([6, 6, 6])] }, signers.slice(1, 4))
    assert.match((verifyChain(entries, options) as { reason: string }).reason, /height 3 does not link/)
  })

  it('detects a flip of any single byte of the encoded log', () => {
    const encoded = encodeCbor(chain(2))
    let detected = 0
    for (let i = 0; i < encoded.byteLength; i++) {
      const bytes = encoded.slice()
      bytes[i]! ^= 0x01
      let entries: Decision[]
      try {
        entries = (decodeCbor(bytes, { bytesMax: 1 << 20, what: 'log' }) as unknown[]).map(checkDecision)
      } catch (err) {
        assert.ok(err instanceof Error && /Cannot decode/.test(err.message), `byte ${i}: ${String(err)}`)
        detected++
        continue
      }
      assert.equal(verifyChain(entries, options).ok, false, `flipping byte ${i} went undetected`)
      detected++
    }
    assert.equal(detected, encoded.byteLength)
  })

  it('round-trips through the codec unchanged', () => {
    const entries = chain(2).map(clone)
    assert.deepEqual(verifyChain(entries, options), { ok: true })
  })
})
