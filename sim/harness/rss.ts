// Memory per in-process node: this process's RSS minus a baseline measured before any node
// started (modules loaded, no node yet), divided by the node count. Dividing the whole RSS by N
// would charge every node a share of the runtime, the code and the harness.

const MB = 1024 * 1024

/** RSS of this process now, after a collection when `--expose-gc` allows one (less noise). */
export function rssBytes (): number {
  ;(globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().rss
}

/** Take the empty-process baseline: call before the first node starts. */
export function rssBaseline (): { bytes: number } { return { bytes: rssBytes() } }

/** Metrics: `rss_baseline_mb` (the process with no node) and `rss_mb_per_node_above_baseline`. */
export function rssPerNodeMetrics (baseline: { bytes: number }, nodes: number): { rss_baseline_mb: number, rss_mb_per_node_above_baseline: number } {
  const above = Math.max(0, rssBytes() - baseline.bytes)
  return {
    rss_baseline_mb: Math.round(100 * baseline.bytes / MB) / 100,
    rss_mb_per_node_above_baseline: Math.round(100 * above / MB / Math.max(1, nodes)) / 100
  }
}
