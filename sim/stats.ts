// Summary statistics for scenario metrics.

/** The q-quantile (0..1) of `values` by nearest rank; NaN for no values. */
export function quantile (values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((x, y) => x - y)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

/** `{p50_ms, p99_ms, max_ms}` of latencies, rounded to 0.01 ms (DESIGN "Simulations"). */
export function latencySummary (latenciesMs: readonly number[]): { p50_ms: number | null, p99_ms: number | null, max_ms: number | null } {
  if (latenciesMs.length === 0) return { p50_ms: null, p99_ms: null, max_ms: null }
  const round = (x: number): number => Math.round(x * 100) / 100
  return {
    p50_ms: round(quantile(latenciesMs, 0.5)),
    p99_ms: round(quantile(latenciesMs, 0.99)),
    max_ms: round(Math.max(...latenciesMs))
  }
}
