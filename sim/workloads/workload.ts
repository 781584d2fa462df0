// A workload runs on a cluster through the phases of a fault scenario (before, during and
// after a partition) and then verifies what it guarantees. Protocol engineers plug in theirs
// (events, raft, docs) next to the direct-messaging one.

import type { Cluster } from '../harness/cluster.ts'
import type { DeliveryMatrix } from '../harness/delivery.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import type { SimOptions } from '../scenario.ts'

/** Where the scenario is: links intact, split, or healed again. */
export type PartitionPhase = 'before' | 'partitioned' | 'healed'

/** What a workload gets: the cluster, the two sides and shared measurement sinks. */
export interface WorkloadContext {
  cluster: Cluster
  /** Node indexes per side while partitioned. */
  sides: number[][]
  sideOf: (index: number) => number
  /** Which partition round (0-based; `--rounds`) the phase belongs to. */
  round: number
  options: SimOptions
  /** The workload's own seeded rng stream. */
  rng: Rng
  /** Append per-operation latencies (ms) for the report's CDF. */
  latenciesMs: number[]
  /** Sender × receiver first-attempt delivery for the report. */
  matrix: DeliveryMatrix
  /** `performance.now()` when the latest heal was applied (set by the scenario), for convergence times. */
  healedAtMs?: number
}

/** What a workload reports after heal. */
export interface WorkloadResult {
  metrics: Record<string, number | string | boolean | null>
  /** Broken guarantees, one line each; empty means the workload passed. */
  failures: string[]
}

/** A pluggable workload for the partition scenario. */
export interface Workload {
  readonly name: string
  setup (context: WorkloadContext): Promise<void>
  runPhase (context: WorkloadContext, phase: PartitionPhase): Promise<void>
  /** Called after heal and the healed phase: converge, then check nothing was lost. */
  verify (context: WorkloadContext): Promise<WorkloadResult>
}
