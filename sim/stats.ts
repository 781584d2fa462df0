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

/** Least-squares line through the points (y = intercept + slope·x); null with fewer than two distinct x. */
export function leastSquaresFit (points: ReadonlyArray<{ x: number, y: number }>): { slope: number, intercept: number } | null {
  if (points.length < 2) return null
  const n = points.length
  const mx = points.reduce((s, p) => s + p.x, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  let sxx = 0
  let sxy = 0
  for (const p of points) { sxx += (p.x - mx) ** 2; sxy += (p.x - mx) * (p.y - my) }
  if (sxx === 0) return null
  const slope = sxy / sxx
  return { slope, intercept: my - slope * mx }
}

/** Least-squares slope of y over x (y units per x unit); null with fewer than two distinct x. */
export function leastSquaresSlope (points: ReadonlyArray<{ x: number, y: number }>): number | null {
  return leastSquaresFit(points)?.slope ?? null
}
