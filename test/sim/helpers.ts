// Options for running simulation scenarios from tests: quiet, seeded, small.

import type { SimOptions } from '../../sim/scenario.ts'

/** SimOptions with silent progress/log; override what the test needs. */
export function simOptions (overrides: Partial<SimOptions> = {}): SimOptions {
  return { seed: 1, json: true, transport: 'memory', extra: {}, progress: () => {}, log: () => {}, ...overrides }
}
