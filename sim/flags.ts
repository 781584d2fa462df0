// Scenario-specific numeric flags (`--batch 250`, `--load-ms 2000`, …), parsed with a clear error
// that names the flag, so a typo never runs a scenario with NaN.

import type { SimOptions } from './scenario.ts'

/** Bad usage of a scenario flag: the CLI prints the message (no stack) and exits 2. */
export class SimUsageError extends RangeError {
  override name = 'SimUsageError'
}

/** A positive integer flag, or `fallback` when absent. */
export function positiveIntegerFlag (options: SimOptions, flag: string, fallback: number): number {
  const raw = options.extra[flag]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (raw === true || !Number.isSafeInteger(n) || n <= 0) throw new SimUsageError(`--${flag} must be a positive integer, got "${String(raw)}"`)
  return n
}

/** A non-negative number flag (ms, ratios), or `fallback` when absent. */
export function nonNegativeFlag<T extends number | undefined> (options: SimOptions, flag: string, fallback: T): number | T {
  const raw = options.extra[flag]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (raw === true || !Number.isFinite(n) || n < 0) throw new SimUsageError(`--${flag} must be a non-negative number, got "${String(raw)}"`)
  return n
}
