// Fault flags every real-node scenario accepts: `--latency-ms L` (memory transport link
// latency) and `--flap-period-ms P --flap-down-ms D` (link flapping, the loss model).

import type { SimOptions } from '../scenario.ts'
import { nonNegativeFlag, SimUsageError } from '../flags.ts'

/** Fault settings parsed from a scenario's extra flags. */
export interface FaultOptions {
  latencyMs: number | undefined
  flap: { periodMs: number, downMs: number } | undefined
}

function nonNegative (options: SimOptions, flag: string): number | undefined {
  return nonNegativeFlag(options, flag, undefined)
}

/** Read `--latency-ms`, `--flap-period-ms` and `--flap-down-ms`. */
export function faultOptions (options: SimOptions): FaultOptions {
  const latencyMs = nonNegative(options, 'latency-ms')
  const periodMs = nonNegative(options, 'flap-period-ms')
  const downMs = nonNegative(options, 'flap-down-ms')
  if (periodMs === undefined && downMs !== undefined) throw new SimUsageError('--flap-down-ms needs --flap-period-ms')
  const flap = periodMs === undefined || periodMs === 0 ? undefined : { periodMs, downMs: downMs ?? Math.round(periodMs / 2) }
  return { latencyMs, flap }
}
