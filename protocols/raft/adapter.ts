// libp2p transport for raft on `/agentmesh/raft/1.0.0` (SPEC raft "Transport"): the shared peer
// link (protocols/kit/libp2p-peer-link.ts) carries frames of every group; this file adds the group
// name to each frame, routes inbound frames to their group, and drops frames from non-members.

import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { createLibp2pPeerLinks } from '../kit/libp2p-peer-link.ts'
import type { LinkHost } from '../kit/libp2p-peer-link.ts'
import type { PeerLinks } from '../kit/peer-link.ts'
import type { Clock } from '../kit/clock.ts'
import type { ServiceBase } from '../kit/components.ts'
import { decodeMessage, encodeMessage, MESSAGE_BYTES_MAX, RAFT_PROTOCOL } from './messages.ts'
import type { Message } from './messages.ts'

/** Bytes of a group name in a frame (one length byte). */
export const GROUP_NAME_BYTES_MAX = 128
/** Largest frame: a message plus the group name. */
export const RAFT_FRAME_BYTES_MAX = MESSAGE_BYTES_MAX + GROUP_NAME_BYTES_MAX + 1
/**
 * Bytes queued per peer: two of the largest frames, so a snapshot can wait behind one in flight;
 * beyond, new frames are dropped (raft resends).
 */
export const RAFT_QUEUE_BYTES_MAX = 2 * RAFT_FRAME_BYTES_MAX

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Counters of what the transport did. */
export interface RaftTransportStats { framesSent: number, framesReceived: number, framesDropped: number, framesRejected: number, dialFailures: number }

/** Receives the messages of one group. */
export type GroupReceiver = (message: Message) => void

/** Who may send to one group: its current voters. */
export interface GroupRegistration {
  receive: GroupReceiver
  /** True for peers whose frames this group takes (its members); others are dropped and counted. */
  isMember (peer: string): boolean
}

/** The node-wide raft transport shared by every group. */
export interface RaftTransport {
  /** Route inbound messages of `group` from its members to `registration.receive`. */
  register (group: string, registration: GroupRegistration): void
  unregister (group: string): void
  /** Queue `message` for `message.to`; never waits, drops when the peer's queue is full or it is unreachable. */
  send (group: string, message: Message): void
  /** Keep connections to these peers open (the members of every joined group). */
  keepAlive (peers: readonly string[]): void
  stats (): RaftTransportStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Encode one frame: group name length, group name, message. */
export function encodeFrame (group: string, message: Message): Uint8Array {
  const name = encoder.encode(group)
  if (name.byteLength > GROUP_NAME_BYTES_MAX || name.byteLength === 0) throw new LimitExceededError(`Cannot send raft message: group name of ${name.byteLength} bytes must be 1..${GROUP_NAME_BYTES_MAX} (GROUP_NAME_BYTES_MAX)`)
  const body = encodeMessage(message)
  const frame = new Uint8Array(1 + name.byteLength + body.byteLength)
  frame[0] = name.byteLength
  frame.set(name, 1)
  frame.set(body, 1 + name.byteLength)
  return frame
}

/** Decode one frame; throws DecodeError/LimitExceededError naming what is wrong. */
export function decodeFrame (frame: Uint8Array): { group: string, message: Message } {
  if (frame.byteLength < 2) throw new DecodeError('Cannot decode raft frame: too short')
  const nameBytes = frame[0]!
  if (nameBytes === 0 || nameBytes > GROUP_NAME_BYTES_MAX || 1 + nameBytes >= frame.byteLength) throw new DecodeError(`Cannot decode raft frame: bad group name length ${nameBytes}`)
  const group = decoder.decode(frame.subarray(1, 1 + nameBytes))
  return { group, message: decodeMessage(frame.subarray(1 + nameBytes)) }
}

/** What the raft transport uses of its node. */
export interface RaftTransportComponents extends ServiceBase {
  readonly libp2p: LinkHost
  readonly clock?: Clock
}

/** Build the raft transport over the shared libp2p peer link. */
export function createRaftTransport (components: RaftTransportComponents): RaftTransport {
  const { log } = components
  const links: PeerLinks = createLibp2pPeerLinks(components, {
    protocol: RAFT_PROTOCOL,
    frameBytesMax: RAFT_FRAME_BYTES_MAX,
    queueBytesMax: RAFT_QUEUE_BYTES_MAX,
    keepAliveTag: 'agentmesh-raft'
  })
  const groups = new Map<string, GroupRegistration>()
  const counters = { framesReceived: 0, framesRejected: 0 }

  links.onFrame((from, frame) => {
    let decoded
    try {
      decoded = decodeFrame(frame)
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
      counters.framesRejected++
      log('rejected raft frame from %s: %s', from, err.message)
      return
    }
    if (decoded.message.from !== from) {
      counters.framesRejected++
      log('rejected raft frame from %s claiming to be %s', from, decoded.message.from)
      return
    }
    // An unknown group and a group the sender is not a member of look the same to the sender and
    // in the counters, so a stranger cannot probe which groups this node has joined.
    const group = groups.get(decoded.group)
    if (group === undefined || !group.isMember(from)) {
      counters.framesRejected++
      log('dropped raft frame from %s: not a member of its group', from)
      return
    }
    counters.framesReceived++
    group.receive(decoded.message)
  })

  return {
    register (group, registration) { groups.set(group, registration) },
    unregister (group) { groups.delete(group) },
    send (group, message) {
      let frame: Uint8Array
      try {
        frame = encodeFrame(group, message)
      } catch (err) {
        if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
        counters.framesRejected++
        log.error('cannot send raft %s to %s: %s', message.type, message.to, err.message)
        return
      }
      links.send(message.to, frame)
    },
    keepAlive (peers) { links.keepAlive(peers) },
    stats () {
      const l = links.stats()
      return { framesSent: l.framesSent, framesDropped: l.framesDropped, dialFailures: l.dialFailures, framesReceived: counters.framesReceived, framesRejected: counters.framesRejected + l.framesRejected }
    },
    async start () { await links.start() },
    async stop () { await links.stop() }
  }
}
