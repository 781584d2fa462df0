// Peer ids as text, the form they take in frames, member lists and public API arguments.

import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { DecodeError, describeError } from './errors.ts'

/** Parse a peer id string; throws DecodeError naming the bad input and why it failed. */
export function parsePeerId (text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (err) {
    throw new DecodeError(`Invalid peer id "${text}": ${describeError(err)}`, { cause: err })
  }
}
