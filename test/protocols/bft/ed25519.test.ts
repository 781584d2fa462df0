// The simulator's node:crypto Ed25519 signer makes exactly the signatures and peer ids that the
// libp2p key of the same seed makes, so certificates from the adapter and the sim are alike.

import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createEd25519Verifier, ed25519SignerFromSeed } from '../../../protocols/bft/ed25519.ts'
import { voteSignBytes } from '../../../protocols/bft/signing.ts'

describe('bft ed25519 signer and verifier', () => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i * 7)
  const bytes = voteSignBytes({ groupId: 'g', height: 1, round: 0, type: 'precommit', blockHash: new Uint8Array(32) })

  it('matches the libp2p key of the same seed: peer id and signature bytes', async () => {
    const libp2pKey = await generateKeyPairFromSeed('Ed25519', seed)
    const signer = ed25519SignerFromSeed(seed)
    assert.equal(signer.id, peerIdFromPrivateKey(libp2pKey).toString())
    const ours = signer.sign(bytes)
    assert.deepEqual(ours, new Uint8Array(await libp2pKey.sign(bytes)))
    assert.equal(await libp2pKey.publicKey.verify(bytes, ours), true)
  })

  it('verifies by peer id alone, and refuses wrong keys, bytes, garbage ids and bad lengths', () => {
    const signer = ed25519SignerFromSeed(seed)
    const other = ed25519SignerFromSeed(new Uint8Array(32).fill(9))
    for (const verifier of [createEd25519Verifier(), createEd25519Verifier({ cache: true })]) {
      const sig = signer.sign(bytes)
      assert.equal(verifier.verify(signer.id, bytes, sig), true)
      assert.equal(verifier.verify(other.id, bytes, sig), false)
      assert.equal(verifier.verify(signer.id, Uint8Array.from([...bytes, 0]), sig), false)
      assert.equal(verifier.verify('not-a-peer-id', bytes, sig), false)
      assert.equal(verifier.verify(signer.id, bytes, sig.subarray(0, 63)), false)
      assert.equal(verifier.verify(signer.id, bytes, sig), true, 'repeat (cached) answer is the same')
    }
  })
})
