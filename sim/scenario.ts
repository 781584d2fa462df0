// What every simulation scenario and deterministic check takes and returns.
// A scenario lives in sim/scenarios/<name>.ts, a check in sim/check/<protocol>.ts; each
// exports `run(options: SimOptions): Promise<SimSummary>`.

/** Options shared by every scenario (DESIGN "Simulations"). Unset values take the scenario's defaults. */
export interface SimOptions {
  nodes?: number
  seed: number
  json: boolean
  report?: string
  transport: 'memory' | 'tcp'
  rounds?: number
  messages?: number
  rate?: number
  size?: number
  heartbeatMs?: number
  electionMs?: number
  /** For `check <protocol>`: how many seeds, starting at `seed`. */
  seeds?: number
  /** Every other `--flag value` given, for scenario-specific options. */
  extra: Record<string, string | boolean>
  /** Report progress (drawn as a bar on a TTY, silent otherwise). */
  progress: (done: number, total: number) => void
  /** Human-readable log line (stderr when --json, stdout otherwise). */
  log: (line: string) => void
}

/** A timeline entry for reports: joins, leader changes, faults. */
export interface TimelineEntry { atMs: number, kind: string, detail: string }

/** The result every scenario returns; the CLI prints it as the last line with --json. */
export interface SimSummary {
  scenario: string
  nodes: number
  seed: number
  ok: boolean
  metrics: Record<string, number | string | boolean | null>
  /** Failures to show the user (e.g. failing seeds with their replay commands). */
  failures?: string[]
  /** Raw per-message latencies (ms) for the report's CDF; not printed in the JSON line. */
  latenciesMs?: number[]
  /** Events over time for the report's timeline; not printed in the JSON line. */
  timeline?: TimelineEntry[]
  /** sender × receiver delivery ratios for the report; not printed in the JSON line. */
  deliveryMatrix?: { labels: string[], ratios: number[][], caption?: string }
}
