import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { EventsStore } from '../../../protocols/events/store.ts'
import { decodeEnvelope, encodeBody, encodeEnvelope, signingBytes } from '../../../protocols/events/messages.ts'
import type { Envelope } from '../../../protocols/events/messages.ts'
import { openStorage } from '../../../src/storage.ts'

async function author (): Promise<{ key: PrivateKey, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

async function event (signer: { key: PrivateKey, id: string }, seq: number, wallMs: number, data: unknown = seq): Promise<Envelope> {
  const body = encodeBody({ topic: 't', type: 'x', data: data as never, author: signer.id, hlc: { wallMs, logical: 0 }, seq })
  return decodeEnvelope(encodeEnvelope(body, await signer.key.sign(signingBytes(body))))
}

describe('events store retention (SPEC E8)', () => {
  it('over the count cap, removes from the author holding the most, never from the others', async () => {
    const storage = await openStorage({})
    try {
      const store = new EventsStore(storage.sublevel('events'))
      const [honest, flooder] = [await author(), await author()]
      for (let seq = 1; seq <= 10; seq++) await store.append('t', [await event(honest, seq, seq)], { durable: false })
      // The flooder's events are newer: oldest-first retention would have removed the honest ones.
      for (let seq = 1; seq <= 200; seq++) await store.append('t', [await event(flooder, seq, 1000 + seq)], { durable: false })
      const { floors, removedLocalSeqs } = await store.compact('t', { countMax: 50, bytesMax: Infinity, minWallMs: 0 })
      assert.deepEqual([...floors], [[flooder.id, 160]])
      assert.equal(removedLocalSeqs.length, 160)
      const left = await store.readCanonical('t', undefined, 1000)
      assert.equal(left.filter(s => s.envelope.author === honest.id).length, 10)
      assert.deepEqual(left.filter(s => s.envelope.author === flooder.id).map(s => s.envelope.seq), Array.from({ length: 40 }, (_, i) => 161 + i))
      assert.equal(store.meta('t').count, 50)
    } finally {
      await storage.close()
    }
  })

  it('over the byte cap, removes from the author holding the most bytes; by age, the oldest first', async () => {
    const storage = await openStorage({})
    try {
      const store = new EventsStore(storage.sublevel('events'))
      const [small, big] = [await author(), await author()]
      for (let seq = 1; seq <= 20; seq++) await store.append('t', [await event(small, seq, seq * 10, 'x')], { durable: false })
      for (let seq = 1; seq <= 5; seq++) await store.append('t', [await event(big, seq, seq * 10 + 1, 'y'.repeat(2000))], { durable: false })
      const bytesBefore = store.meta('t').bytes
      const { floors } = await store.compact('t', { countMax: Infinity, bytesMax: bytesBefore - 3000, minWallMs: 0 })
      assert.deepEqual([...floors], [[big.id, 2]])
      const aged = await store.compact('t', { countMax: Infinity, bytesMax: Infinity, minWallMs: 45 })
      assert.deepEqual(new Map(aged.floors), new Map([[small.id, 4], [big.id, 4]]), 'events older than 45 ms of HLC wall time go, oldest first')
      const evicted = await store.evictAuthor('t', big.id)
      assert.equal(evicted.length, 1)
      assert.equal(store.meta('t').count, 16)
      assert.ok((await store.readCanonical('t', undefined, 100)).every(s => s.envelope.author === small.id))
    } finally {
      await storage.close()
    }
  })
})
