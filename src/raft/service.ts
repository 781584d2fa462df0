// `node.groups`: joins raft groups on this node, shares one libp2p transport between them, and
// turns a closed connection to a group's leader into an immediate campaign (fast failover).

import type { PeerId } from '@libp2p/interface'
import { createRaftTransport } from '../../protocols/raft/adapter.ts'
import type { RaftTransport, RaftTransportStats } from '../../protocols/raft/adapter.ts'
import { GROUP_NAME_BYTES_MAX } from '../../protocols/raft/adapter.ts'
import { VOTERS_MAX } from '../../protocols/raft/messages.ts'
import type { Storage } from '../storage.ts'
import type { Connections, ServiceBase } from '../../protocols/kit/components.ts'
import type { LinkHost } from '../../protocols/kit/libp2p-peer-link.ts'
import { RaftDriver } from '../../protocols/raft/driver.ts'
import { GroupConfigError, GroupNotJoinedError } from './errors.ts'
import { RaftGroup } from './group.ts'
import type { BftHandler } from './group.ts'
import { BuiltInKv, CustomStateMachine } from '../../protocols/raft/state-machine.ts'
import type { ApplyFunction, SnapshotHooks } from '../../protocols/raft/state-machine.ts'
import { RaftStorage } from '../../protocols/raft/storage.ts'
import { systemClock } from '../../protocols/kit/clock.ts'
import type { BftService } from '../../protocols/bft/adapter.ts'
import type { BftGroup, BftValue } from '../../protocols/bft/adapter-group.ts'
import { bftProposeHandler } from '../../protocols/bft/adapter-handler.ts'

/** etcd's default heartbeat interval. */
export const HEARTBEAT_MS_DEFAULT = 100
/** etcd's default election timeout. */
export const ELECTION_MS_DEFAULT = 1000
/** Groups one node may join: each has a timer, a log and a sublevel. */
export const GROUPS_MAX = 64

/**
 * Options of `node.groups.join`. `T` is the type the app's BFT values have; `validate` sees what
 * any member proposed, so a hook that matters checks the shape too (a Byzantine member may send
 * anything that decodes).
 */
export interface JoinOptions<T = unknown> {
  /** Peer ids of the voters, the same list on every member (including this node). */
  members: string[]
  /** The app's deterministic state machine; without it, the built-in KV and lock table. */
  apply?: ApplyFunction
  /** Snapshot hooks for a custom apply; without them a custom-apply group keeps its whole log. */
  snapshot?: SnapshotHooks
  /** Tick interval; default 100 ms (etcd). */
  heartbeatMs?: number
  /** Election timeout; randomized in [E, 2E); default 1000 ms (etcd). */
  electionMs?: number
  /** Applied entries before a snapshot and compaction. */
  compactEntries?: number
  /**
   * Also run Byzantine-fault-tolerant agreement for this group (a BFT group of the same name and
   * members, n ≥ 4), so `propose(value, {bft: true})` works. Implied by `validate`. Every member
   * must join with it.
   */
  bft?: boolean
  /** BFT application validity: honest members never commit a flagged value failing it (implies `bft`). */
  validate?: (value: T) => boolean
}

/** The `node.groups` API. */
export interface GroupsService {
  join<T = unknown> (name: string, options: JoinOptions<T>): Promise<RaftGroup>
  /** A joined group; throws GroupNotJoinedError otherwise. */
  get (name: string): RaftGroup
  /** Names of the joined groups. */
  list (): string[]
  /** Give `propose(value, {bft: true})` a BFT service to delegate to. */
  useBft (handler: BftHandler | undefined): void
  stats (): RaftTransportStats
  start (): Promise<void>
  stop (): Promise<void>
}

/** What the groups service uses of its node: streams, one database namespace per group, and the BFT service. */
export interface GroupsComponents extends ServiceBase {
  /** Streams, and open connections: fast failover waits for the last connection to a leader to close. */
  readonly libp2p: LinkHost & Pick<Connections, 'getConnections'>
  /** One namespace per group; a LevelDB sublevel is the KvStore the raft storage runs on. */
  readonly storage: Pick<Storage, 'sublevel'>
  /** The node's BFT service, for groups joined with `bft` or `validate`. */
  readonly bft?: BftService
}

/** Options of the groups service. */
export interface GroupsServiceInit {
  /** A handler `propose(value, {bft: true})` delegates to on groups without their own BFT side. */
  bft?: BftHandler
}

/** Build the groups service (`node.groups`). */
export function createGroupsService (components: GroupsComponents, init: GroupsServiceInit = {}): GroupsService {
  const { libp2p, storage, log } = components
  const selfId = libp2p.peerId.toString()
  const bftService = components.bft
  const transport: RaftTransport = createRaftTransport({ libp2p, log: log.newScope('transport') })
  const groups = new Map<string, { group: RaftGroup, driver: RaftDriver, bftGroup?: BftGroup }>()
  let bft = init.bft
  // one prefix per node incarnation: request ids of a restarted node never collide with old ones
  const incarnation = Math.floor(Math.random() * 0x1_0000_0000).toString(36)
  const clientPrefix = `${selfId.slice(-10)}.${incarnation}`

  /** Tag the members of every joined group keep-alive (the connection manager keeps them, libp2p redials them). */
  const keepMembersAlive = (): void => {
    transport.keepAlive([...new Set([...groups.values()].flatMap(({ driver }) => driver.core.voters))])
  }

  // fast failover only when the last connection to a group's leader is gone: another connection
  // (a redial, a second transport) still carries its heartbeats, and other peers are not leaders
  const onPeerDisconnect = (e: CustomEvent<PeerId>): void => {
    if (libp2p.getConnections(e.detail).length > 0) return
    const peer = e.detail.toString()
    for (const { driver } of groups.values()) if (driver.leader === peer) driver.peerLost(peer)
  }

  return {
    async join (name, joinOptions) {
      if (groups.has(name)) throw new GroupConfigError(`Cannot join raft group "${name}": already joined on this node`)
      if (groups.size >= GROUPS_MAX) throw new GroupConfigError(`Cannot join raft group "${name}": ${GROUPS_MAX} groups already joined (GROUPS_MAX)`)
      const nameBytes = new TextEncoder().encode(name).byteLength
      if (nameBytes === 0 || nameBytes > GROUP_NAME_BYTES_MAX || name.includes('!')) throw new GroupConfigError(`Cannot join raft group "${name}": the name must be 1..${GROUP_NAME_BYTES_MAX} bytes without "!"`)
      const members = [...new Set(joinOptions.members.map(String))]
      if (!members.includes(selfId)) throw new GroupConfigError(`Cannot join raft group "${name}": members must include this node (${selfId})`)
      if (members.length > VOTERS_MAX) throw new GroupConfigError(`Cannot join raft group "${name}": ${members.length} members exceeds VOTERS_MAX (${VOTERS_MAX})`)
      const heartbeatMs = joinOptions.heartbeatMs ?? HEARTBEAT_MS_DEFAULT
      const electionMs = joinOptions.electionMs ?? ELECTION_MS_DEFAULT
      if (!(heartbeatMs >= 1) || !(electionMs >= 2 * heartbeatMs)) throw new GroupConfigError(`Cannot join raft group "${name}": need heartbeatMs ≥ 1 and electionMs ≥ 2 × heartbeatMs (got ${heartbeatMs}/${electionMs})`)
      // BFT side of the group (SPEC bft): joined first so a bad member list fails before raft state exists.
      const wantsBft = joinOptions.bft === true || joinOptions.validate !== undefined
      if (wantsBft && bftService === undefined) throw new GroupConfigError(`Cannot join raft group "${name}" with BFT: this node has no BFT service`)
      // The hook's value type is the app's claim about its own values; the BFT layer hands it every decoded value.
      const validate = joinOptions.validate as ((value: BftValue) => boolean) | undefined
      const bftGroup = wantsBft ? await bftService!.join(name, { members, validate }) : undefined
      const groupBft = bftGroup === undefined ? undefined : bftProposeHandler(bftGroup)
      const machine = joinOptions.apply === undefined ? new BuiltInKv() : new CustomStateMachine(joinOptions.apply, joinOptions.snapshot)
      const groupLog = log.newScope(`raft:${name}`)
      const driver = await RaftDriver.start({
        storage: new RaftStorage(storage.sublevel(`raft/${name}`)),
        machine,
        send: (m) => { transport.send(name, m) },
        options: { id: selfId, voters: members, heartbeatMs, electionMs, compactEntries: joinOptions.compactEntries, seed: Math.floor(Math.random() * 0x1_0000_0000), log: groupLog, clock: systemClock }
      })
      transport.register(name, { receive: (m) => { driver.receive(m) }, isMember: (peer) => driver.core.voters.includes(peer) })
      const group = new RaftGroup({ name, driver, bft: () => groupBft ?? bft, log: groupLog, clientPrefix })
      groups.set(name, { group, driver, bftGroup })
      keepMembersAlive()
      const leave = group.leave.bind(group)
      group.leave = async () => { transport.unregister(name); groups.delete(name); keepMembersAlive(); await Promise.all([leave(), bftGroup?.leave()]) }
      return group
    },
    get (name) {
      const g = groups.get(name)
      if (g === undefined) throw new GroupNotJoinedError(name)
      return g.group
    },
    list () { return [...groups.keys()] },
    useBft (handler) { bft = handler },
    stats () { return transport.stats() },
    async start () {
      await transport.start()
      libp2p.addEventListener('peer:disconnect', onPeerDisconnect)
    },
    async stop () {
      libp2p.removeEventListener('peer:disconnect', onPeerDisconnect)
      await Promise.all([...groups.values()].map(async ({ group }) => { await group.leave() }))
      await transport.stop()
    }
  }
}
