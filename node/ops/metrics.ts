// Prometheus metrics of one node (DESIGN "Operations"): `agentmesh_*` series read from the
// services' own counters and status at scrape time, on a per-node prom-client registry that
// also carries libp2p's metrics when the node was built with it (`prometheusRegistry`).

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { TIMING_CHANNEL } from '../../protocols/kit/timing.ts'
import { TASK_STATES } from '../../protocols/tasks/state.ts'
import type { Timing, TimedOperation } from '../../protocols/kit/timing.ts'
import type { AgentNode } from '../../src/index.ts'
import { GROUPS_MAX } from '../../src/raft/service.ts'

/** Label values of one series and its value. */
export interface Sample { labels?: Record<string, string>, value: number }

/** Peer statuses health reports: the whole label set of `agentmesh_peers`. */
const PEER_STATUSES = ['alive', 'suspect', 'dead'] as const

/**
 * Groups labelled at most: the node joins at most GROUPS_MAX raft groups (src/raft/service.ts),
 * so the `group` label of every per-group series has at most that many values.
 */
export const METRICS_GROUPS_MAX = GROUPS_MAX

/**
 * Latency buckets in seconds: a local DHT hit or a raft commit on loopback takes about a
 * millisecond; a DHT walk or a BFT decision across the world, seconds; 30 s is past every
 * operation's default deadline.
 */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** The histogram each timed operation feeds (protocols/kit/timing.ts). */
const LATENCY_HISTOGRAMS: Readonly<Record<TimedOperation, { name: string, help: string, grouped: boolean }>> = {
  'state.put': { name: 'agentmesh_state_put_duration_seconds', help: 'Time of node.state.put, by outcome', grouped: false },
  'state.get': { name: 'agentmesh_state_get_duration_seconds', help: 'Time of node.state.get, by outcome', grouped: false },
  'raft.propose': { name: 'agentmesh_raft_proposal_duration_seconds', help: 'Time from propose to applied, per group and outcome', grouped: true },
  'bft.decide': { name: 'agentmesh_bft_decision_duration_seconds', help: 'Time from a BFT proposal to its committed decision, per group and outcome', grouped: true }
}

/** What `createNodeMetrics` returns: the registry to scrape and what keeps it fed. */
export interface NodeMetrics {
  readonly registry: Registry
  /** The Prometheus text exposition of every series (agentmesh and libp2p). */
  text (): Promise<string>
  /** Content-Type of `text()`. */
  readonly contentType: string
  /** Start following groups joined since the last call (leader changes are counted as they happen). */
  observe (): void
  /** Stop listening to the node's groups. */
  close (): void
}

/** A counter whose value is read from a service's own counter at scrape time. */
function counterOf (registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Sample[]): void {
  // eslint-disable-next-line no-new
  new Counter({
    name,
    help,
    labelNames: [...labelNames],
    registers: [registry],
    collect () {
      this.reset()
      for (const sample of read()) this.inc(sample.labels ?? {}, sample.value)
    }
  })
}

/** A gauge whose value is read at scrape time. */
function gaugeOf (registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Sample[]): void {
  // eslint-disable-next-line no-new
  new Gauge({
    name,
    help,
    labelNames: [...labelNames],
    registers: [registry],
    collect () {
      this.reset()
      for (const sample of read()) this.set(sample.labels ?? {}, sample.value)
    }
  })
}

/** One sample per labelled field of a stats object: `{reason: 'forged'} ← stats.forged`. */
function fields<T extends object> (label: string, stats: T, map: Record<string, keyof T>): Sample[] {
  return Object.entries(map).map(([value, key]) => ({ labels: { [label]: value }, value: Number(stats[key]) }))
}

/** The first METRICS_GROUPS_MAX joined raft group names, sorted (stable label set across scrapes). */
function groupNames (node: AgentNode): string[] {
  return node.groups.list().sort().slice(0, METRICS_GROUPS_MAX)
}

/**
 * Build the `agentmesh_*` series of `node` on `registry` (a fresh one when absent). Nothing is
 * copied between scrapes: each series reads the service's own counter, so a scrape costs a few
 * object reads and the numbers cannot drift from what the services count.
 */
export function createNodeMetrics (node: AgentNode, options: { registry?: Registry } = {}): NodeMetrics {
  const registry = options.registry ?? new Registry()
  const r = registry

  gaugeOf(r, 'agentmesh_node_info', 'This node: peer id, name and agentmesh version (value 1)', ['peer_id', 'name'], () => [{ labels: { peer_id: node.peerId, name: node.name }, value: 1 }])

  // health
  gaugeOf(r, 'agentmesh_peers', 'Peers this node knows, by health status', ['status'], () => {
    const counts = new Map<string, number>(PEER_STATUSES.map(s => [s, 0]))
    for (const peer of node.peers()) counts.set(peer.status, (counts.get(peer.status) ?? 0) + 1)
    return [...counts].map(([status, value]) => ({ labels: { status }, value }))
  })
  gaugeOf(r, 'agentmesh_peers_connected', 'Peers with an open connection to this node', [], () => [{ value: node.peers().filter(p => p.connected).length }])
  counterOf(r, 'agentmesh_health_announces_sent_total', 'Health announcements this node sent (gossip and direct)', [], () => {
    const s = node.health.stats()
    return [{ value: s.announcesSent + s.directAnnouncesSent }]
  })
  counterOf(r, 'agentmesh_health_announces_received_total', 'Peer announcements accepted', [], () => [{ value: node.health.stats().accepted }])
  counterOf(r, 'agentmesh_health_rejected_total', 'Peer announcements refused, by reason', ['reason'], () => {
    const s = node.health.stats()
    return fields('reason', { ...s, other: s.rejected - s.rejectedMalformed - s.rejectedForged }, {
      malformed: 'rejectedMalformed', forged: 'rejectedForged', stale: 'stale', table_full: 'tableFull', unknown_relay: 'refusedUnknownRelay', relay_full: 'refusedRelayFull', other: 'other'
    })
  })

  // direct
  counterOf(r, 'agentmesh_direct_requests_served_total', 'Direct requests this node answered', [], () => [{ value: node.direct.stats().served }])
  counterOf(r, 'agentmesh_direct_rejected_total', 'Direct requests refused or failed, by reason', ['reason'], () =>
    fields('reason', node.direct.stats(), { rejected: 'rejected', handler_error: 'handlerErrors', unknown_method: 'unknownMethods', rate_limited: 'rateLimited' }))

  // events
  counterOf(r, 'agentmesh_events_published_total', 'Events this node published', [], () => [{ value: node.events.stats().published }])
  counterOf(r, 'agentmesh_events_delivered_total', 'Events accepted into the local log (own and peers\')', [], () => [{ value: node.events.stats().accepted }])
  counterOf(r, 'agentmesh_events_duplicates_total', 'Event copies that were already held', [], () => [{ value: node.events.stats().duplicates }])
  counterOf(r, 'agentmesh_events_rejected_total', 'Events refused, by reason (malformed, forged, rate-limited, too far ahead, author not a writer of a restricted topic, refused by the log)', ['reason'], () =>
    fields('reason', node.events.stats(), { malformed: 'malformed', forged: 'forged', rate_limited: 'rateLimited', too_far_ahead: 'tooFarAhead', unauthorized: 'unauthorized', refused: 'rejected' }))
  counterOf(r, 'agentmesh_events_catchup_rounds_total', 'Anti-entropy (catch-up) rounds, by result', ['result'], () =>
    fields('result', node.events.stats(), { started: 'syncRounds', failed: 'syncFailed', served: 'syncServed' }))

  // state
  counterOf(r, 'agentmesh_state_puts_total', 'DHT record puts by this node', [], () => [{ value: node.state.stats().puts }])
  counterOf(r, 'agentmesh_state_gets_total', 'DHT record gets by this node, by path (one-hop reads or a DHT walk; the rest answered locally)', ['path'], () => {
    const s = node.state.stats()
    return [
      { labels: { path: 'one_hop' }, value: s.getsOneHop },
      { labels: { path: 'walk' }, value: s.getsWalked },
      { labels: { path: 'other' }, value: Math.max(0, s.gets - s.getsOneHop - s.getsWalked) }
    ]
  })
  gaugeOf(r, 'agentmesh_state_records_owned', 'Records this node wrote and keeps republishing', [], () => [{ value: node.state.stats().owned }])
  counterOf(r, 'agentmesh_state_republish_failures_total', 'Republish rounds of an owned record that failed', [], () => [{ value: node.state.stats().republishFailures }])
  counterOf(r, 'agentmesh_state_reads_served_total', 'One-hop reads this node answered for peers', [], () => [{ value: node.state.stats().reads.served }])
  gaugeOf(r, 'agentmesh_state_store_records', 'DHT records this node stores (its own and others\')', [], () => [{ value: node.state.stats().stored?.records ?? 0 }])
  gaugeOf(r, 'agentmesh_state_store_bytes', 'Bytes of other peers\' DHT records stored here, against STORED_RECORD_BYTES_MAX', [], () => [{ value: node.state.stats().stored?.bytes ?? 0 }])
  counterOf(r, 'agentmesh_state_store_refused_total', 'DHT records refused because their author or all others were over the store budget', [], () => [{ value: node.state.stats().stored?.refused ?? 0 }])
  counterOf(r, 'agentmesh_state_read_answers_rejected_total', 'One-hop read answers that failed validation (forged, expired, wrong key)', [], () => [{ value: node.state.stats().reads.rejected }])

  // docs
  gaugeOf(r, 'agentmesh_docs_open', 'Yjs documents open on this node', [], () => [{ value: node.docs.list().length }])
  counterOf(r, 'agentmesh_docs_updates_total', 'Document updates gossiped, by direction', ['direction'], () =>
    fields('direction', node.docs.stats(), { sent: 'gossipFramesPublished', received: 'gossipFramesReceived' }))
  counterOf(r, 'agentmesh_docs_sync_rounds_total', 'Document sync exchanges, by result', ['result'], () =>
    fields('result', node.docs.stats(), { started: 'syncsStarted', completed: 'syncsCompleted', failed: 'syncsFailed' }))
  counterOf(r, 'agentmesh_docs_rejected_total', 'Document frames and updates refused, by reason (malformed or oversized; unauthorized: not signed by a writer of a restricted document)', ['reason'], () =>
    fields('reason', node.docs.stats(), { malformed: 'framesRejected', unauthorized: 'unauthorized' }))

  // raft, per group
  const raftStatus = (read: (status: ReturnType<ReturnType<AgentNode['groups']['get']>['status']>) => number) => (): Sample[] =>
    groupNames(node).map(group => ({ labels: { group }, value: read(node.groups.get(group).status()) }))
  gaugeOf(r, 'agentmesh_raft_term', 'Current raft term, per group', ['group'], raftStatus(s => s.term))
  gaugeOf(r, 'agentmesh_raft_commit_index', 'Highest committed raft index, per group', ['group'], raftStatus(s => s.committed))
  gaugeOf(r, 'agentmesh_raft_applied_index', 'Highest raft index applied here, per group', ['group'], raftStatus(s => s.applied))
  gaugeOf(r, 'agentmesh_raft_is_leader', '1 while this node leads the group', ['group'], raftStatus(s => (s.role === 'leader' ? 1 : 0)))
  gaugeOf(r, 'agentmesh_raft_has_leader', '1 while this node knows a leader of the group', ['group'], raftStatus(s => (s.leader !== null ? 1 : 0)))
  const leaderChanges = new Counter({ name: 'agentmesh_raft_leader_changes_total', help: 'Leader changes seen, per group (a leader already in place when metrics started counts once)', labelNames: ['group'], registers: [r] })
  counterOf(r, 'agentmesh_raft_frames_total', 'Raft frames, by direction', ['direction'], () =>
    fields('direction', node.groups.stats(), { sent: 'framesSent', received: 'framesReceived' }))
  counterOf(r, 'agentmesh_raft_frames_dropped_total', 'Raft frames refused or dropped, by reason', ['reason'], () =>
    fields('reason', node.groups.stats(), { rejected: 'framesRejected', dropped: 'framesDropped', dial_failed: 'dialFailures' }))

  // bft, per group (BFT groups share their raft group's name)
  const bftStatus = (read: (status: ReturnType<NonNullable<ReturnType<AgentNode['bft']['group']>>['status']>) => number) => (): Sample[] =>
    groupNames(node).flatMap(group => {
      const bft = node.bft.group(group)
      return bft === undefined ? [] : [{ labels: { group }, value: read(bft.status()) }]
    })
  gaugeOf(r, 'agentmesh_bft_height', 'BFT height in progress, per group', ['group'], bftStatus(s => s.height))
  gaugeOf(r, 'agentmesh_bft_committed_height', 'Highest committed BFT height, per group', ['group'], bftStatus(s => s.committedHeight))
  gaugeOf(r, 'agentmesh_bft_round', 'Round of the BFT height in progress (above 0: a proposer failed), per group', ['group'], bftStatus(s => s.round))
  counterOf(r, 'agentmesh_bft_frames_total', 'BFT frames, by direction', ['direction'], () =>
    fields('direction', node.bft.stats(), { sent: 'framesSent', received: 'framesReceived' }))
  counterOf(r, 'agentmesh_bft_frames_rejected_total', 'BFT frames refused, by reason', ['reason'], () =>
    fields('reason', node.bft.stats(), { rejected: 'framesRejected', unknown_group: 'framesForUnknownGroups', dropped: 'framesDropped' }))

  // tasks (node.tasks): the service's own counters; per-queue counts need the queue's replica state.
  counterOf(r, 'agentmesh_tasks_requests_served_total', 'Task requests this node served for peers (as a queue member)', [], () => [{ value: node.tasks.stats().served }])
  counterOf(r, 'agentmesh_tasks_requests_rejected_total', 'Task requests refused, by reason', ['reason'], () =>
    fields('reason', node.tasks.stats(), { malformed: 'rejected', rate_limited: 'rateLimited' }))
  counterOf(r, 'agentmesh_tasks_proposals_total', 'Raft proposals the task layer made (a batch counts once)', [], () => [{ value: node.tasks.stats().proposals }])
  counterOf(r, 'agentmesh_tasks_commands_total', 'Task commands carried by those proposals', [], () => [{ value: node.tasks.stats().commands }])
  counterOf(r, 'agentmesh_tasks_transitions_published_total', 'Task state changes published on tasks/<queue> by this node as leader, by result', ['result'], () =>
    fields('result', node.tasks.stats(), { published: 'published', dropped: 'publishDropped' }))

  gaugeOf(r, 'agentmesh_tasks', 'Tasks in each state, per queue this node hosts (its replica\'s view)', ['queue', 'state'], () =>
    node.tasks.stats().hosted.slice(0, METRICS_GROUPS_MAX).flatMap((q) => TASK_STATES.map((state) => ({ labels: { queue: q.name, state }, value: q.byState[state] ?? 0 }))))
  gaugeOf(r, 'agentmesh_tasks_dead_letters', 'Dead letters per queue this node hosts', ['queue'], () =>
    node.tasks.stats().hosted.slice(0, METRICS_GROUPS_MAX).map((q) => ({ labels: { queue: q.name }, value: q.deadLetters })))
  counterOf(r, 'agentmesh_tasks_lease_expiries_total', 'Attempts ended because their lease ran out (worker gone or too slow), per hosted queue', ['queue'], () =>
    node.tasks.stats().hosted.slice(0, METRICS_GROUPS_MAX).map((q) => ({ labels: { queue: q.name }, value: q.leaseExpiries })))
  gaugeOf(r, 'agentmesh_tasks_workers', 'Workers a hosted queue knows, by circuit-breaker state', ['queue', 'breaker'], () =>
    node.tasks.stats().hosted.slice(0, METRICS_GROUPS_MAX).flatMap((q) => Object.entries(q.breakers).map(([breaker, n]) => ({ labels: { queue: q.name, breaker }, value: n }))))

  // Latencies: the services publish each operation's time on TIMING_CHANNEL; keep this node's.
  const histograms = new Map<TimedOperation, Histogram>()
  for (const [operation, spec] of Object.entries(LATENCY_HISTOGRAMS) as Array<[TimedOperation, typeof LATENCY_HISTOGRAMS[TimedOperation]]>) {
    histograms.set(operation, new Histogram({ name: spec.name, help: spec.help, labelNames: spec.grouped ? ['group', 'outcome'] : ['outcome'], buckets: LATENCY_BUCKETS_SECONDS, registers: [r] }))
  }
  const onTiming = (message: unknown): void => {
    const timing = message as Timing
    if (timing.peerId !== node.peerId) return // another node in this process
    const histogram = histograms.get(timing.operation)
    if (histogram === undefined) return
    const outcome = timing.ok ? 'ok' : 'error'
    histogram.observe(LATENCY_HISTOGRAMS[timing.operation].grouped ? { group: timing.group ?? '', outcome } : { outcome }, timing.seconds)
  }
  subscribe(TIMING_CHANNEL, onTiming)

  // Leader changes happen between scrapes: count them as they happen, on every group joined so far.
  const followed = new Map<string, () => void>()
  const observe = (): void => {
    for (const group of groupNames(node)) {
      if (followed.has(group)) continue
      const handle = node.groups.get(group) // listed in this same synchronous pass: still joined
      // A leader event with no leader is the start of an election, not a change of leader.
      const onLeader = (event: CustomEvent<{ leader: string | null }>): void => { if (event.detail.leader !== null) leaderChanges.inc({ group }) }
      handle.addEventListener('leader', onLeader)
      // A leader already in place when watching starts counts as one change (from no leader known).
      leaderChanges.inc({ group }, handle.leader() !== null ? 1 : 0)
      followed.set(group, () => { handle.removeEventListener('leader', onLeader) })
    }
  }
  observe()

  return {
    registry,
    contentType: registry.contentType,
    text: async () => {
      observe()
      return registry.metrics()
    },
    observe,
    close: () => {
      unsubscribe(TIMING_CHANNEL, onTiming)
      for (const stop of followed.values()) stop()
      followed.clear()
    }
  }
}
