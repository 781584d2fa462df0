// The summary a cluster scenario returns: its verdict and metrics plus the cluster's timeline and
// delivery matrix, which the report draws.

import type { SimSummary } from '../scenario.ts'
import type { Cluster } from './cluster.ts'
import type { DeliveryMatrix } from './delivery.ts'

/** Failures kept in a summary: enough to debug, bounded so one bad run cannot flood the output. */
export const SUMMARY_FAILURES_MAX = 50

/** Build a scenario's summary; `ok` holds when there were no failures. */
export function clusterSummary (cluster: Cluster, parts: { scenario: string, seed: number, metrics: SimSummary['metrics'], failures: string[], latenciesMs: number[], matrix: DeliveryMatrix }): SimSummary {
  return {
    scenario: parts.scenario,
    nodes: cluster.nodes.length,
    seed: parts.seed,
    ok: parts.failures.length === 0,
    metrics: parts.metrics,
    failures: parts.failures.slice(0, SUMMARY_FAILURES_MAX),
    latenciesMs: parts.latenciesMs,
    timeline: cluster.timeline.entries(),
    deliveryMatrix: parts.matrix.toSummary(cluster.nodes.map(n => n.name))
  }
}
