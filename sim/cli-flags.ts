// Which flags each scenario and check takes, with what values, for strict parsing and `--help`:
// a misspelt flag (`--node 4`) or a bad value is a usage error, never silently ignored; a shared
// flag a scenario has no use for is accepted with a warning. A test keeps this table equal to the flags the modules read.

/** What a flag's value must be. */
export type FlagKind =
  | { type: 'boolean' }
  | { type: 'integer', min: number }
  | { type: 'number', min: number }
  | { type: 'string', choices?: readonly string[], value: string }

export interface SimFlag {
  readonly kind: FlagKind
  readonly help: string
}

const int = (min: number, help: string): SimFlag => ({ kind: { type: 'integer', min }, help })
const num = (min: number, help: string): SimFlag => ({ kind: { type: 'number', min }, help })
const bool = (help: string): SimFlag => ({ kind: { type: 'boolean' }, help })
const str = (value: string, help: string, choices?: readonly string[]): SimFlag => ({ kind: { type: 'string', value, ...(choices !== undefined ? { choices } : {}) }, help })

/** Flags every scenario takes (the report's replay command always repeats --seed and --nodes). */
export const COMMON_FLAGS: Readonly<Record<string, SimFlag>> = {
  nodes: int(1, 'how many nodes'),
  seed: int(0, 'seed of every random choice (same seed, same run)'),
  json: bool('print the summary as one JSON line on stdout (logs on stderr)'),
  report: str('file.html', 'write a self-contained HTML report there'),
  help: bool('print this help')
}

/** Flags of the real-node scenarios that take injected faults (sim/harness/fault-options.ts). */
const FAULTS: Readonly<Record<string, SimFlag>> = {
  transport: str('memory|tcp', 'memory: one process; tcp: one OS process per node over loopback', ['memory', 'tcp']),
  'latency-ms': num(0, 'added link latency (memory transport)'),
  'flap-period-ms': num(0, 'links go down once per this period'),
  'flap-down-ms': num(0, 'and stay down this long (needs --flap-period-ms)')
}

/**
 * The flags DESIGN "Simulations" says every scenario shares. A scenario that has no use for one
 * still accepts it (the contract), and the CLI says it is ignored there rather than failing.
 */
export const SHARED_FLAGS: Readonly<Record<string, SimFlag>> = {
  transport: FAULTS.transport!,
  rounds: int(1, 'repetitions of the fault'),
  messages: int(1, 'messages'),
  rate: num(0, 'messages per second'),
  size: int(0, 'message bytes'),
  'heartbeat-ms': num(1, 'raft heartbeat'),
  'election-ms': num(1, 'raft election timeout')
}

/** Each scenario's own flags (sim/scenarios/<name>.ts), besides COMMON_FLAGS. */
export const SCENARIO_FLAGS: Readonly<Record<string, Readonly<Record<string, SimFlag>>>> = {
  api: { messages: int(1, 'rounds of each call'), size: int(0, 'payload bytes') },
  bft: {
    messages: int(1, 'latency samples'),
    faulty: str('silent|byzantine', 'make f members faulty', ['silent', 'byzantine']),
    'load-ms': num(0, 'how long the throughput phase runs'),
    concurrency: int(1, 'concurrent proposals in the throughput phase'),
    'in-process': bool('memory transport in one process instead of one process per node')
  },
  crdt: {
    synthetic: bool('use a generated trace instead of the automerge-paper trace'),
    trace: str('file', 'the editing trace to replay'),
    edits: int(1, 'replay at most this many edits'),
    batch: int(1, 'edits per published update'),
    'late-joiners': int(1, 'nodes that open the doc after the edits')
  },
  dht: { transport: FAULTS.transport!, messages: int(1, 'put/get operations'), size: int(0, 'value bytes') },
  exec: { messages: int(1, 'tasks sent one at a time through each path') },
  idle: {
    transport: str('memory|tcp', 'how the nodes talk: memory, or loopback TCP (both in this one process, which is what is measured)', ['memory', 'tcp']),
    'settle-ms': int(1, 'wait after the last join before measuring'),
    'measure-ms': int(1, 'how long the idle mesh is measured'),
    daemons: bool('one `npm run node` daemon per node (OS process, loopback TCP, data dir, --api), each measured from /proc')
  },
  failover: {
    rounds: int(1, 'leader faults'),
    'heartbeat-ms': num(1, 'raft heartbeat'),
    'election-ms': num(1, 'raft election timeout'),
    fault: str('kill|stop', 'kill: SIGKILL the leader (connections reset); stop: SIGSTOP it (connections stay open, silent), then SIGCONT', ['kill', 'stop']),
    baseline: str('etcd', 'also run the same rounds, fault and timings on a local etcd 3.4 cluster', ['etcd'])
  },
  fanout: {
    messages: int(1, 'events published'),
    rate: num(0, 'events per second'),
    size: int(0, 'event payload bytes'),
    raw: bool('bare @libp2p/gossipsub with default options instead of agent nodes'),
    baseline: str('raw', 'also run bare @libp2p/gossipsub on the same connection graph and print agentmesh/raw ratios', ['raw']),
    profile: str('file.cpuprofile', 'write a CPU profile of the publish window there (with --baseline, the raw one beside it as .raw.cpuprofile)'),
    sign: str('none|strict', 'GossipSub signature policy', ['none', 'strict']),
    d: int(1, 'GossipSub mesh degree D'),
    'gossip-heartbeat-ms': num(1, 'GossipSub heartbeat interval')
  },
  health: { rounds: int(1, 'nodes crashed'), 'interval-ms': int(1, 'heartbeat interval'), 'announces-max': int(1, 'announces per interval') },
  mesh: {
    ...FAULTS,
    messages: int(1, 'probe messages'),
    rate: num(0, 'probes per second'),
    'target-peers': int(1, 'connections each node aims for'),
    'settle-ms': num(0, 'wait before probing')
  },
  partition: {
    ...FAULTS,
    rounds: int(1, 'partition/heal rounds'),
    messages: int(1, 'direct messages over the run'),
    workloads: str('direct,events,raft', 'which workloads run (comma-separated)'),
    'events-per-phase': int(1, 'events each node publishes per phase'),
    'raft-writes-per-phase': int(1, 'raft writes each node makes per phase')
  },
  soak: {
    minutes: num(0, 'how long the steady load runs (fractions allowed), warm-up included'),
    rate: num(0, 'operations per second: events, raft writes, DHT puts'),
    'warmup-minutes': num(0, 'not sampled (default: 20% of the run, at most 2 min)'),
    'snapshot-dir': str('dir', 'write V8 heap snapshots there after the warm-up and at the end')
  },
  tasks: {
    transport: FAULTS.transport!,
    tasks: int(1, 'tasks submitted'),
    workers: int(1, 'worker nodes'),
    concurrency: int(1, 'tasks each worker runs at once'),
    faults: bool('kill half the workers mid-run (kill -9 with --transport tcp)'),
    baseline: str('bullmq', 'also run the same workload on BullMQ over a local redis-server', ['bullmq'])
  },
  pipeline: { ...FAULTS, messages: int(1, 'items produced') },
  'raft-write': {
    messages: int(1, 'sequential writes'),
    size: int(0, 'value bytes'),
    writes: int(1, 'concurrent writes'),
    concurrency: int(1, 'concurrent proposers'),
    baseline: str('etcd', 'also run the 1-client puts through a follower on an etcd 3.4 cluster at the same timings', ['etcd']),
    'heartbeat-ms': num(1, 'raft heartbeat'),
    'election-ms': num(1, 'raft election timeout')
  }
}

/** Flags every `check <protocol>` takes. */
export const CHECK_COMMON_FLAGS: Readonly<Record<string, SimFlag>> = {
  seeds: int(1, 'how many seeds, starting at --seed'),
  seed: int(0, 'first seed'),
  json: bool('print the summary as one JSON line on stdout'),
  help: bool('print this help')
}

/** Each check's own flags (sim/check/<protocol>.ts). */
export const CHECK_FLAGS: Readonly<Record<string, Readonly<Record<string, SimFlag>>>> = {
  bft: { inject: str('bug', 'run with a deliberate bug, to see the checkers fail'), 'unsafe-quorum': bool('use a quorum too small for BFT, to see the checkers fail') },
  docs: {},
  events: {},
  raft: {
    nodes: int(1, 'members per group'),
    inject: str('bug', 'run with a deliberate bug, to see the checkers fail'),
    trace: bool('print every step'),
    'catch-up': str('on|off', 'the catch-up liveness check', ['on', 'off']),
    scenario: str('catch-up', 'run one fixed scenario', ['catch-up'])
  },
  tasks: {
    nodes: int(3, 'members of the queue\'s Raft group: 3 or 5'),
    inject: str('bug', 'run with a deliberate bug, to see the checkers fail (check tasks --help lists them)'),
    direct: bool('the machine alone, without Raft (the earlier, denser workload)'),
    trace: bool('print every step')
  }
}

/** The flags `name` takes: `check <protocol>` or a scenario; undefined when it has no table entry. */
export function flagsOf (kind: 'scenario' | 'check', name: string): Record<string, SimFlag> | undefined {
  const own = kind === 'check' ? CHECK_FLAGS[name] : SCENARIO_FLAGS[name]
  if (own === undefined) return undefined
  return { ...(kind === 'check' ? CHECK_COMMON_FLAGS : COMMON_FLAGS), ...own }
}

/** `--flag <value>  help` lines for `--help`. */
export function flagLines (flags: Readonly<Record<string, SimFlag>>): string[] {
  return Object.entries(flags).map(([name, flag]) => {
    const value = flag.kind.type === 'boolean' ? '' : flag.kind.type === 'string' ? ` <${flag.kind.value}>` : ' N'
    return `    --${name}${value}`.padEnd(34) + flag.help
  })
}
