// Noise reads its frames with @libp2p/utils' LengthPrefixedDecoder, which after each frame asks
// the length decoder for the next length and learns "nothing buffered" from a thrown RangeError.
// Noise's uint16BEDecode throws that error (a stack capture each time) once per received chunk,
// so every gossip hop paid for an exception: in `npm run sim -- fanout --nodes 50 --profile …`
// it was the largest self-time function after signature checks (6.7% of the process's CPU, plus
// the garbage it left). This installs the same decode loop with one difference: an empty buffer
// ends the loop without calling the length decoder. Frames, limits and errors are unchanged; a
// buffer holding part of a length prefix still goes through the decoder (and its RangeError).
// Installed once per process, on import (src/libp2p.ts), before any connection exists.

import { InvalidParametersError } from '@libp2p/interface'
import { LengthPrefixedDecoder, InvalidMessageLengthError } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The decoder's fields this loop uses (they are public in @libp2p/utils 7, typed private-ish). */
interface DecoderFields {
  buffer: Uint8ArrayList
  maxBufferSize: number
  maxDataLength: number
  lengthDecoder: (buf: Uint8ArrayList) => number
  encodingLength: (n: number) => number
}

const MARK = Symbol.for('agentmesh.lengthPrefixFastPath')

/** Replace LengthPrefixedDecoder.prototype.decode with the fast-path loop (idempotent). */
export function installLengthPrefixFastPath (): void {
  const proto = LengthPrefixedDecoder.prototype as unknown as Record<symbol, unknown> & { decode: (buf: Uint8Array | Uint8ArrayList) => Generator<Uint8ArrayList> }
  if (proto[MARK] === true) return
  // The loop relies on the decoder's fields; if an upgrade of @libp2p/utils renamed them, keep
  // upstream's decode (correct, only slower) rather than install a loop that reads undefined.
  const probe = new LengthPrefixedDecoder() as unknown as Partial<DecoderFields>
  if (!(typeof probe.buffer?.append === 'function' && typeof probe.maxBufferSize === 'number' && typeof probe.maxDataLength === 'number' &&
    typeof probe.lengthDecoder === 'function' && typeof probe.encodingLength === 'function')) {
    process.emitWarning('@libp2p/utils LengthPrefixedDecoder changed shape; its own decode loop is kept', { code: 'AGENTMESH_LENGTH_PREFIX_FAST_PATH' })
    return
  }
  proto.decode = function * decode (this: DecoderFields, buf: Uint8Array | Uint8ArrayList): Generator<Uint8ArrayList> {
    this.buffer.append(buf)
    if (this.buffer.byteLength > this.maxBufferSize) {
      throw new InvalidParametersError(`Buffer length limit exceeded - ${this.buffer.byteLength}/${this.maxBufferSize}`)
    }
    while (this.buffer.byteLength > 0) {
      let dataLength: number
      try {
        dataLength = this.lengthDecoder(this.buffer)
      } catch (err) {
        // Not enough bytes for the length prefix yet: wait for the next chunk (as upstream does).
        if (err instanceof RangeError) break
        throw err
      }
      if (dataLength < 0 || dataLength > this.maxDataLength) {
        throw new InvalidMessageLengthError('Invalid message length')
      }
      const lengthLength = this.encodingLength(dataLength)
      const chunkLength = lengthLength + dataLength
      if (this.buffer.byteLength < chunkLength) break
      const frame = this.buffer.sublist(lengthLength, chunkLength)
      this.buffer.consume(chunkLength)
      if (frame.byteLength > 0) yield frame
    }
  }
  proto[MARK] = true
}

installLengthPrefixFastPath()
