// `node.tasks`: the task layer (protocols/tasks) composed into the node. A queue is a raft group
// joined through `node.groups` with the task machine as its apply; requests from non-members ride
// a TASKS_PROTOCOL link set; the queue's members are recorded in the DHT (`node.state`); task
// transitions go to the `tasks/<queue>` event topic; health's dead verdicts reach the leader.

import type { Logger } from '@libp2p/interface'
import { createLibp2pPeerLinks } from '../../protocols/kit/libp2p-peer-link.ts'
import type { LinkHost } from '../../protocols/kit/libp2p-peer-link.ts'
import type { Connections } from '../../protocols/kit/components.ts'
import { parsePeerId } from '../../protocols/kit/peer-id.ts'
import { systemClock } from '../../protocols/kit/clock.ts'
import { createTasksService } from '../../protocols/tasks/adapter.ts'
import type { TasksInit } from '../../protocols/tasks/adapter.ts'
import type { QueueGroup } from '../../protocols/tasks/host.ts'
import { TASKS_PROTOCOL } from '../../protocols/tasks/messages.ts'
import { TASKS_FRAME_BYTES_MAX } from '../../protocols/tasks/wire.ts'
import type { GroupsService } from '../raft/service.ts'
import type { StateService } from '../../protocols/state/adapter.ts'
import type { EventsService } from '../../protocols/events/adapter.ts'
import type { HealthService } from '../../protocols/health/adapter.ts'
// --exec workers: node.tasks.work(queue, { exec })
import { withExecWork } from '../exec/work.ts'
import type { NodeTasksService } from '../exec/work.ts'

/** Bytes queued per peer on the tasks link: two of the largest frames (claim answers). */
export const TASKS_QUEUE_BYTES_MAX = 2 * TASKS_FRAME_BYTES_MAX
/** Parsed peer ids kept for `connected` (queue members and the peers asked; cleared when full). */
export const PEER_IDS_CACHED_MAX = 1_024
/** Lifetime of a queue's DHT record; its writer republishes it at half-life. */
export const QUEUE_RECORD_TTL_MS = 24 * 3_600_000

/** What `node.tasks` uses of its node. */
export interface NodeTasksComponents {
  readonly libp2p: LinkHost & Pick<Connections, 'getConnections'>
  readonly log: Logger
  readonly groups: GroupsService
  readonly state: StateService
  readonly events?: EventsService
  readonly health?: HealthService
}

/** Build `node.tasks`. */
export function createNodeTasks (components: NodeTasksComponents, init: TasksInit = {}): NodeTasksService {
  const { libp2p, log, groups, state, health, events } = components
  // `connected` runs on every call to a member: parse each member's id once (members are few)
  const peerIds = new Map<string, ReturnType<typeof parsePeerId>>()
  const links = createLibp2pPeerLinks({ libp2p, log: log.newScope('link') }, {
    protocol: TASKS_PROTOCOL,
    frameBytesMax: TASKS_FRAME_BYTES_MAX,
    queueBytesMax: TASKS_QUEUE_BYTES_MAX,
    keepAliveTag: 'agentmesh-tasks'
  })
  return withExecWork(createTasksService({
    self: libp2p.peerId.toString(),
    log,
    clock: systemClock,
    links,
    connected: (peer) => {
      try {
        let id = peerIds.get(peer)
        if (id === undefined) {
          id = parsePeerId(peer)
          if (peerIds.size >= PEER_IDS_CACHED_MAX) peerIds.clear()
          peerIds.set(peer, id)
        }
        return libp2p.getConnections(id).length > 0
      } catch (err) { log('not a peer id %s: %s', peer, (err as Error).message); return false }
    },
    joinGroup: async (name, options) => {
      const group = await groups.join(name, options)
      const port: QueueGroup = {
        propose: async (command, o) => group.propose(command, o),
        read: async (query, o) => group.read(query, o),
        isLeader: () => group.isLeader(),
        term: () => group.term(),
        leader: () => group.leader(),
        onLeader: (fn) => {
          const listener = (e: CustomEvent<{ leader: string | null, term: number }>): void => { fn(e.detail.leader, e.detail.term) }
          group.addEventListener('leader', listener)
          return () => { group.removeEventListener('leader', listener) }
        },
        leave: async () => { await group.leave() }
      }
      return port
    },
    publish: events === undefined ? undefined : async (topic, event) => { await events.publish(topic, event) },
    directory: {
      put: async (key, value) => { await state.put(key, value, { ttlMs: QUEUE_RECORD_TTL_MS }) },
      get: async (key) => (await state.get(key))?.value
    },
    onDisconnect: (fn) => {
      const listener = (e: CustomEvent<{ toString: () => string }>): void => { fn(e.detail.toString()) }
      libp2p.addEventListener('peer:disconnect', listener)
      return () => { libp2p.removeEventListener('peer:disconnect', listener) }
    },
    onPeerDead: health === undefined
      ? undefined
      : (fn) => {
          const listener = (e: CustomEvent<{ peerId: string }>): void => { fn(e.detail.peerId) }
          health.addEventListener('peer:leave', listener)
          return () => { health.removeEventListener('peer:leave', listener) }
        }
  }, init), events)
}
