import assert from 'node:assert/strict'
import { LengthPrefixedDecoder, InvalidMessageLengthError } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import '../../src/length-prefix-fast-path.ts'

/** Noise's framing: a 2-byte big-endian length, then the frame. */
function frame (bytes: number[]): Uint8Array {
  return Uint8Array.from([bytes.length >> 8, bytes.length & 0xff, ...bytes])
}

/** A decoder with Noise's length decoder, counting its calls. */
function noiseLikeDecoder (): { decoder: LengthPrefixedDecoder, calls: () => number } {
  let calls = 0
  const decoder = new LengthPrefixedDecoder({
    lengthDecoder: (data: { length: number, subarray: (start: number, end: number) => Uint8Array }) => {
      calls++
      if (data.length < 2) throw new RangeError('Could not decode int16BE')
      const head = data.subarray(0, 2)
      return (head[0]! << 8) + head[1]!
    },
    encodingLength: () => 2
  })
  return { decoder, calls: () => calls }
}

describe('length-prefixed decoder fast path (Noise framing)', () => {
  it('does not call the length decoder on an empty buffer: no exception per chunk', () => {
    const { decoder, calls } = noiseLikeDecoder()
    const chunk = Uint8Array.from([...frame([1, 2, 3]), ...frame([4])])
    const out = [...decoder.decode(chunk)].map(f => [...f.subarray()])
    assert.deepEqual(out, [[1, 2, 3], [4]])
    assert.equal(calls(), 2) // one per frame; upstream makes a third call that throws
  })

  it('still reassembles frames and length prefixes split across chunks', () => {
    const { decoder } = noiseLikeDecoder()
    const bytes = Uint8Array.from([...frame([9, 8, 7, 6]), ...frame([5, 4])])
    const out: number[][] = []
    for (let i = 0; i < bytes.length; i++) {
      for (const f of decoder.decode(bytes.subarray(i, i + 1))) out.push([...f.subarray()])
    }
    assert.deepEqual(out, [[9, 8, 7, 6], [5, 4]])
  })

  it('still refuses a length over maxDataLength and a buffer over maxBufferSize', () => {
    const small = new LengthPrefixedDecoder({ maxDataLength: 2 })
    assert.throws(() => [...small.decode(Uint8Array.from([3, 1, 2, 3]))], InvalidMessageLengthError)
    const tiny = new LengthPrefixedDecoder({ maxBufferSize: 3 })
    assert.throws(() => [...tiny.decode(Uint8Array.from([3, 1, 2, 3]))], /Buffer length limit exceeded/)
  })

  it('two real nodes (Noise + Yamux on the memory transport) still connect and ping', async function () {
    this.timeout(60_000)
    const nodes = await Promise.all([0, 1].map(async (i) => await createLibp2p({
      addresses: { listen: [`/memory/lpfp-${i}-${process.pid}`] },
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { ping: ping() }
    })))
    try {
      const rtt = await nodes[0]!.services.ping.ping(nodes[1]!.getMultiaddrs()[0]!)
      assert.equal(typeof rtt, 'number')
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  })
})
