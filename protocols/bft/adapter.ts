// libp2p adapter of bft (`node.bft`): the `/agentmesh/bft/1.0.0` handler, the node's Ed25519
// signer, and one GroupDriver per joined group. Parses frames and routes them; decides nothing.

import { randomBytes } from 'node:crypto'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Logger, Stream } from '@libp2p/interface'
import type { NodeContext } from '../../src/agent-node.ts'
import { NotRunningError, describeError } from '../kit/errors.ts'
import { systemClock } from '../kit/clock.ts'
import { createEd25519Verifier, ed25519SignerFromSeed } from './ed25519.ts'
import { BFT_FRAME_BYTES_MAX, BFT_PROTOCOL, GROUP_ID_CHARS_MAX, MEMBERS_MAX, decodeMessage } from './messages.ts'
import type { BftMessage } from './messages.ts'
import type { Signer, Verifier } from './signing.ts'
import { BftStore } from './adapter-store.ts'
import { PeerLinks } from './adapter-links.ts'
import { GroupDriver, verifyBftDecision } from './adapter-group.ts'
import type { BftDecision, BftGroup, BftGroupRef, BftJoinOptions, GroupDriverSeams } from './adapter-group.ts'
import { AlreadyJoinedError, GroupSizeError, NotAMemberError } from './adapter-errors.ts'

/** Fewest members of a BFT group: n ≥ 3f+1 with f ≥ 1. */
export const BFT_MEMBERS_MIN = 4
/** Groups one node takes part in at once (each runs a tick timer). */
export const BFT_GROUPS_MAX = 64
/** Concurrent inbound bft streams per connection: one per peer normally, a few during redials. */
export const BFT_INBOUND_STREAMS_MAX = 8

/** Counters of the service, for tests and benchmarks. */
export interface BftServiceStats { framesReceived: number, framesRejected: number, framesForUnknownGroups: number, framesSent: number, framesDropped: number, dialFailures: number }

/** The `node.bft` API. */
export interface BftService {
  /** Join (or, after a restart, rejoin with its persisted state) the group `name`. */
  join (name: string, options: BftJoinOptions): Promise<BftGroup>
  /** A joined group, if any. */
  group (name: string): BftGroup | undefined
  /** Check a decision of group `ref.group` with its member list (no membership needed); another group's decision fails. */
  verify (decision: BftDecision, ref: BftGroupRef): boolean
  stats (): BftServiceStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** Test doubles only (not exported from the package index): marks a service whose `join` takes driver seams. */
export const JOIN_WITH_SEAMS = Symbol('agentmesh.bft.joinWithSeams')

interface BftServiceWithSeams extends BftService {
  join (name: string, options: BftJoinOptions, seams?: GroupDriverSeams): Promise<BftGroup>
  [JOIN_WITH_SEAMS]: true
}

/** Join with driver seams (a Byzantine test double's rewrite, observers); tests and benchmarks only. */
export async function joinWithSeams (service: BftService, name: string, options: BftJoinOptions & { seams: GroupDriverSeams }): Promise<BftGroup> {
  if ((service as Partial<BftServiceWithSeams>)[JOIN_WITH_SEAMS] !== true) throw new TypeError('joinWithSeams needs a service built by createBftService')
  const { seams, ...joinOptions } = options
  return await (service as BftServiceWithSeams).join(name, joinOptions, seams)
}

/** The group a message belongs to (evidence names it in its signed messages). */
function groupOf (message: BftMessage): string {
  return message.type === 'evidence' ? message.first.groupId : message.groupId
}

/** Build the bft service from the node's context (libp2p host, storage, key). */
export function createBftService (context: NodeContext, options: { log: Logger }): BftService {
  const log = options.log
  const groups = new Map<string, GroupDriver>()
  const links = new PeerLinks(context.libp2p, log.newScope('links'))
  // Cached: retransmitted votes (SPEC bft T11) and certificates re-check signatures we already checked.
  const verifier: Verifier = createEd25519Verifier({ cache: true })
  const counters = { framesReceived: 0, framesRejected: 0, framesForUnknownGroups: 0 }
  let signer: Signer | undefined
  let running = false

  function signerOf (): Signer {
    if (signer !== undefined) return signer
    const key = context.privateKey
    if (key.type !== 'Ed25519') throw new TypeError(`bft needs an Ed25519 node key, this node has ${key.type}`)
    // libp2p's Ed25519 raw private key is seed ‖ public key; the signatures are identical (SPEC bft "Signed bytes").
    signer = ed25519SignerFromSeed(key.raw.subarray(0, 32))
    if (signer.id !== context.peerId) throw new Error(`bft signer id ${signer.id} does not match the node's peer id ${context.peerId}`)
    return signer
  }

  function onFrame (from: string, bytes: Uint8Array): void {
    counters.framesReceived++
    let message: BftMessage
    try {
      message = decodeMessage(bytes)
    } catch (err) {
      counters.framesRejected++
      log('rejected bft frame from %s: %s', from, describeError(err))
      return
    }
    const group = groups.get(groupOf(message))
    if (group === undefined) { counters.framesForUnknownGroups++; return }
    group.receive(from, message)
  }

  /**
   * One inbound stream: the same varint length-prefixed frames as `lpStream` writes, parsed
   * chunk by chunk (lpStream's reader pulls the prefix a byte at a time, which dominated CPU).
   * A frame over BFT_FRAME_BYTES_MAX resets the stream; the sender redials.
   */
  async function serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const decoder = new LengthPrefixedDecoder({ maxDataLength: BFT_FRAME_BYTES_MAX, maxBufferSize: BFT_FRAME_BYTES_MAX + 16 })
    try {
      for await (const chunk of stream) {
        if (!running) break
        for (const frame of decoder.decode(chunk)) onFrame(from, frame.subarray())
      }
    } catch (err) {
      counters.framesRejected++
      log('bft stream from %s ended: %s', from, describeError(err))
      stream.abort(err as Error)
      return
    }
    await stream.close().catch((err: unknown) => { stream.abort(err as Error) })
  }

  const service: BftServiceWithSeams = {
    [JOIN_WITH_SEAMS]: true,
    async join (name, joinOptions, seams) {
      if (!running) throw new NotRunningError(`Cannot join bft group "${name}": the node is not running`)
      if (typeof name !== 'string' || name.length === 0 || name.length > GROUP_ID_CHARS_MAX) throw new RangeError(`Invalid bft group name: 1..${GROUP_ID_CHARS_MAX} characters`)
      if (groups.has(name)) throw new AlreadyJoinedError(`bft group "${name}" is already joined on this node`)
      if (groups.size >= BFT_GROUPS_MAX) throw new RangeError(`Cannot join bft group "${name}": already in ${groups.size} groups (BFT_GROUPS_MAX)`)
      const members = [...new Set(joinOptions.members)]
      if (members.length !== joinOptions.members.length) throw new GroupSizeError(`bft group "${name}": member list has duplicates`)
      if (members.length < BFT_MEMBERS_MIN || members.length > MEMBERS_MAX) throw new GroupSizeError(`bft group "${name}" has ${members.length} members: needs ${BFT_MEMBERS_MIN}..${MEMBERS_MAX} (n ≥ 3f+1, f ≥ 1)`)
      for (const member of members) {
        let type: string
        try {
          type = peerIdFromString(member).type
        } catch (err) {
          throw new GroupSizeError(`bft group "${name}": member "${member}" is not a peer id (${describeError(err)})`)
        }
        if (type !== 'Ed25519') throw new GroupSizeError(`bft group "${name}": member ${member} is a ${type} peer id; members sign with Ed25519`)
      }
      if (!members.includes(context.peerId)) throw new NotAMemberError(`Cannot join bft group "${name}": this node (${context.peerId}) is not in its member list`)
      const store = new BftStore(context.storage.sublevel(`bft/${name}`), name, [...members].sort())
      const restored = await store.load()
      if (groups.has(name)) throw new AlreadyJoinedError(`bft group "${name}" is already joined on this node`)
      const driver = new GroupDriver({
        name, self: context.peerId, signer: signerOf(), verifier, store, log: log.newScope(name),
        send: (to, frame) => { links.send(to, frame) }, clock: systemClock, nonce: randomBytes, seams,
        options: { ...joinOptions, members },
        onLeave: () => { if (groups.get(name) === driver) groups.delete(name) }
      }, restored)
      groups.set(name, driver)
      return driver
    },
    group (name) { return groups.get(name) },
    verify (decision, ref) {
      // The old shape verify(decision, members) cannot say which group it expects: refuse it loudly.
      if (Array.isArray(ref) || typeof ref !== 'object' || ref === null) throw new TypeError('node.bft.verify(decision, { group, members }): name the group the decision must belong to')
      return verifyBftDecision(decision, ref, verifier)
    },
    stats () { return { ...counters, ...links.stats } },
    async start () {
      running = true
      await context.libp2p.handle(BFT_PROTOCOL, (stream, connection) => {
        serve(stream, connection).catch((err: unknown) => { log('bft stream from %s failed: %s', connection.remotePeer.toString(), describeError(err)) })
      }, { maxInboundStreams: BFT_INBOUND_STREAMS_MAX, maxOutboundStreams: BFT_INBOUND_STREAMS_MAX })
    },
    async stop () {
      running = false
      await Promise.all([...groups.values()].map(async g => { await g.leave() }))
      links.close()
      await context.libp2p.unhandle(BFT_PROTOCOL)
    }
  }
  return service
}
