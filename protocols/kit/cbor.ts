// Bounded, deterministic CBOR (via cborg) for every wire message: the same value always
// encodes to the same bytes, so bytes can be hashed and signed.

import * as cborg from 'cborg'
import { DecodeError, LimitExceededError } from './errors.ts'

/** Nesting depth allowed in any decoded message (no protocol needs more; bounds recursion). */
export const CBOR_DEPTH_MAX = 64

/** CBOR major types that open a container (array, map, tag). */
const MAJOR_ARRAY = 4
const MAJOR_MAP = 5
const MAJOR_TAG = 6

/**
 * cborg's tokenizer, counting open containers as tokens are read: the decoder recurses once per
 * level, so the limit must hold before it descends, not on the finished value. Lengths are
 * definite (indefinite items are refused), so each open container knows how many items remain.
 */
class DepthLimitedTokenizer extends cborg.Tokenizer {
  /** Items still to read in each open container, innermost last. */
  readonly #remaining: number[] = []
  readonly #what: string

  constructor (bytes: Uint8Array, options: cborg.DecodeOptions & { what: string }) {
    super(bytes, options)
    this.#what = options.what
  }

  override next (): cborg.Token {
    const token = super.next()
    while (this.#remaining.length > 0 && this.#remaining[this.#remaining.length - 1] === 0) this.#remaining.pop()
    if (this.#remaining.length > 0) this.#remaining[this.#remaining.length - 1]!--
    const major = token.type.major
    if (major === MAJOR_ARRAY || major === MAJOR_MAP || major === MAJOR_TAG) {
      if (this.#remaining.length + 1 > CBOR_DEPTH_MAX) {
        throw new DecodeError(`Cannot decode ${this.#what}: nesting deeper than CBOR_DEPTH_MAX (${CBOR_DEPTH_MAX})`)
      }
      const items = major === MAJOR_MAP ? 2 * Number(token.value) : major === MAJOR_TAG ? 1 : Number(token.value)
      this.#remaining.push(items)
    }
    return token
  }
}

/** Encode a value deterministically (sorted map keys, shortest forms). */
export function encodeCbor (value: unknown): Uint8Array {
  return cborg.encode(value)
}

/**
 * An upper bound of `encodeCbor(value).byteLength` without encoding: a head is at most 9 bytes, a
 * UTF-16 code unit at most 3 bytes of UTF-8. For a bound on a batch (a proposal must fit one
 * entry) where encoding each item only to measure it showed in profiles.
 */
export function cborBytesBound (value: unknown): number {
  if (typeof value === 'string') return 9 + 3 * value.length
  if (value instanceof Uint8Array) return 9 + value.byteLength
  if (Array.isArray(value)) { let n = 9; for (const v of value) n += cborBytesBound(v); return n }
  if (typeof value === 'object' && value !== null) {
    let n = 9
    for (const k in value) n += 9 + 3 * k.length + cborBytesBound((value as Record<string, unknown>)[k])
    return n
  }
  return 9 // numbers (a float64 or a 64-bit head), booleans, null, undefined
}

/**
 * Decode bytes produced by `encodeCbor`, refusing input over `bytesMax` or nested deeper than
 * `CBOR_DEPTH_MAX`. `what` names the message in errors, e.g. `Cannot decode direct frame: …`.
 */
export function decodeCbor (bytes: Uint8Array, options: { bytesMax: number, what: string }): unknown {
  if (bytes.byteLength > options.bytesMax) {
    throw new LimitExceededError(`Cannot decode ${options.what}: ${bytes.byteLength} bytes exceeds limit of ${options.bytesMax}`)
  }
  // allowBigInt is cborg's default; spelled out because the tokenizer below reads its options
  // as given (cborg only fills in defaults for its own), and codecs reject big integers by shape.
  const decodeOptions = { strict: true, rejectDuplicateMapKeys: true, allowIndefinite: false, allowUndefined: false, allowBigInt: true }
  try {
    // A plain Uint8Array view (not a Buffer), so decoded byte strings are plain Uint8Arrays too.
    const plain = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    return cborg.decode(plain, { ...decodeOptions, tokenizer: new DepthLimitedTokenizer(plain, { ...decodeOptions, what: options.what }) })
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError(`Cannot decode ${options.what}: ${(err as Error).message}`, { cause: err })
  }
}
