// libp2p adapter of bft (`node.bft`): the `/agentmesh/bft/1.0.0` handler, the node's Ed25519
// signer, and one GroupDriver per joined group. Parses frames and routes them; decides nothing.

import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { KvNamespaces } from '../kit/store.ts'
import type { ServiceBase, SigningKey } from '../kit/components.ts'
import { createLibp2pPeerLinks } from '../kit/libp2p-peer-link.ts'
import type { LinkHost } from '../kit/libp2p-peer-link.ts'
import { NotRunningError, describeError } from '../kit/errors.ts'
import { systemClock } from '../kit/clock.ts'
import { createEd25519Verifier, ed25519SignerFromSeed } from './ed25519.ts'
import { BFT_FRAME_BYTES_MAX, BFT_PROTOCOL, GROUP_ID_CHARS_MAX, MEMBERS_MAX, decodeMessage } from './messages.ts'
import type { BftMessage } from './messages.ts'
import type { Signer, Verifier } from './signing.ts'
import { BftStore } from './adapter-store.ts'
import { GroupDriver, verifyBftDecision } from './adapter-group.ts'
import type { BftDecision, BftGroup, BftGroupRef, BftJoinOptions, GroupDriverSeams } from './adapter-group.ts'
import { AlreadyJoinedError, GroupSizeError, NotAMemberError } from './adapter-errors.ts'

/** Fewest members of a BFT group: n ≥ 3f+1 with f ≥ 1. */
export const BFT_MEMBERS_MIN = 4
/** Groups one node takes part in at once (each runs a tick timer). */
export const BFT_GROUPS_MAX = 64
/** Bytes queued per peer: four of the largest frames (a certificate-carrying batch and the votes behind it). */
export const BFT_QUEUE_BYTES_MAX = 4 * BFT_FRAME_BYTES_MAX

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

/** What the bft service uses of its node: streams, a database namespace per group, the Ed25519 key. */
export interface BftComponents extends ServiceBase, SigningKey {
  readonly libp2p: LinkHost
  readonly storage: KvNamespaces
}

/** Tunables of the bft service (none yet: limits are protocol constants). */
export type BftServiceInit = Record<string, never>

/** Build the bft service (`node.bft`). */
export function createBftService (components: BftComponents, _init: BftServiceInit = {}): BftService {
  const { log } = components
  const selfId = components.libp2p.peerId.toString()
  const groups = new Map<string, GroupDriver>()
  // One long-lived stream per peer, shared by every group: frames name their group.
  const links = createLibp2pPeerLinks({ libp2p: components.libp2p, log: log.newScope('links') }, {
    protocol: BFT_PROTOCOL,
    frameBytesMax: BFT_FRAME_BYTES_MAX,
    queueBytesMax: BFT_QUEUE_BYTES_MAX,
    keepAliveTag: 'agentmesh-bft'
  })
  // Cached: retransmitted votes (SPEC bft T11) and certificates re-check signatures we already checked.
  const verifier: Verifier = createEd25519Verifier({ cache: true })
  const counters = { framesReceived: 0, framesRejected: 0, framesForUnknownGroups: 0 }
  let signer: Signer | undefined
  let running = false

  function signerOf (): Signer {
    if (signer !== undefined) return signer
    const key = components.privateKey
    if (key.type !== 'Ed25519') throw new TypeError(`bft needs an Ed25519 node key, this node has ${key.type}`)
    // libp2p's Ed25519 raw private key is seed ‖ public key; the signatures are identical (SPEC bft "Signed bytes").
    signer = ed25519SignerFromSeed(key.raw.subarray(0, 32))
    if (signer.id !== selfId) throw new Error(`bft signer id ${signer.id} does not match the node's peer id ${selfId}`)
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

  links.onFrame(onFrame)

  /** Tag the members of every joined group keep-alive (the connection manager keeps them, libp2p redials them). */
  function keepMembersAlive (): void {
    links.keepAlive([...new Set([...groups.values()].flatMap(g => g.members))])
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
      if (!members.includes(selfId)) throw new NotAMemberError(`Cannot join bft group "${name}": this node (${selfId}) is not in its member list`)
      const store = new BftStore(components.storage.sublevel(`bft/${name}`), name, [...members].sort())
      const restored = await store.load()
      if (groups.has(name)) throw new AlreadyJoinedError(`bft group "${name}" is already joined on this node`)
      const driver = new GroupDriver({
        name, self: selfId, signer: signerOf(), verifier, store, log: log.newScope(name),
        send: (to, frame) => { links.send(to, frame) }, clock: systemClock, nonce: randomBytes, seams,
        options: { ...joinOptions, members },
        onLeave: () => { if (groups.get(name) === driver) { groups.delete(name); keepMembersAlive() } }
      }, restored)
      groups.set(name, driver)
      keepMembersAlive()
      return driver
    },
    group (name) { return groups.get(name) },
    verify (decision, ref) {
      // The old shape verify(decision, members) cannot say which group it expects: refuse it loudly.
      if (Array.isArray(ref) || typeof ref !== 'object' || ref === null) throw new TypeError('node.bft.verify(decision, { group, members }): name the group the decision must belong to')
      return verifyBftDecision(decision, ref, verifier)
    },
    stats () {
      const l = links.stats()
      return { ...counters, framesRejected: counters.framesRejected + l.framesRejected, framesSent: l.framesSent, framesDropped: l.framesDropped, dialFailures: l.dialFailures }
    },
    async start () {
      running = true
      await links.start()
    },
    async stop () {
      running = false
      await Promise.all([...groups.values()].map(async g => { await g.leave() }))
      await links.stop()
    }
  }
  return service
}
