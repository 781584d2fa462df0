// Small byte helpers shared by protocols.

import { fromString } from 'uint8arrays'
import { createHash } from 'node:crypto'

/** Lower-case hex of bytes (Node's Buffer codec: several times faster than a JS loop on hot paths such as hash keys). */
export function toHex (bytes: Uint8Array): string { return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') }

/** Bytes of a lower-case hex string. */
export function fromHex (hex: string): Uint8Array { return fromString(hex, 'base16') }

/** SHA-256 of bytes (pure: same input, same output). */
export function sha256 (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/** Byte-wise equality. */
export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
