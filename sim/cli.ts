// `npm run sim -- <scenario> [flags]` and `npm run sim -- check <protocol> --seeds N`.
// Loads sim/scenarios/<scenario>.ts or sim/check/<protocol>.ts and prints its summary.

import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import { availableParallelism, loadavg } from 'node:os'
import type { SimOptions, SimSummary } from './scenario.ts'
import { SimUsageError } from './flags.ts'
import { closestName } from '../node/closest-name.ts'
import { CHECK_FLAGS, SCENARIO_FLAGS, SHARED_FLAGS, flagLines, flagsOf } from './cli-flags.ts'
import type { FlagKind } from './cli-flags.ts'

// Node 24 carves small Buffers out of shared 64 KiB slabs, and a small long-lived one (a peer
// id, a multiaddr decoded from a frame) keeps its whole slab alive. One node pins a few MB that
// way; hundreds of nodes in this one process pinned 2,552 slabs (160 MB) at 100 nodes. Node's
// classic 8 KiB slab bounds that to 1/8. Set before any scenario module allocates.
Buffer.poolSize = 8 * 1024

const here = dirname(fileURLToPath(import.meta.url))
/** Common flags that land in SimOptions fields rather than `extra`. */
const NUMBER_FLAGS = { nodes: 'nodes', seed: 'seed', rounds: 'rounds', messages: 'messages', rate: 'rate', size: 'size', 'heartbeat-ms': 'heartbeatMs', 'election-ms': 'electionMs', seeds: 'seeds' } as const

class UsageError extends Error {}

function listNames (folder: string): string[] {
  if (!existsSync(join(here, folder))) return []
  return readdirSync(join(here, folder)).filter(f => f.endsWith('.ts')).map(f => f.slice(0, -3)).sort()
}

/** The `--help` text: every scenario and check with its flags, or only `only`'s. */
export function usage (only?: { kind: 'scenario' | 'check', name: string }): string {
  const lines = [
    'Usage: npm run sim -- <scenario> [flags]          run real nodes (memory transport unless --transport tcp)',
    '       npm run sim -- check <protocol> [flags]    deterministic simulator with invariant checkers',
    '       npm run sim -- <scenario> --help           the flags of one scenario',
    ''
  ]
  const section = (kind: 'scenario' | 'check', name: string, ownOnly: boolean): void => {
    const flags = ownOnly ? (kind === 'check' ? CHECK_FLAGS[name] : SCENARIO_FLAGS[name]) : flagsOf(kind, name)
    lines.push(`  ${kind === 'check' ? 'check ' : ''}${name}`)
    if (flags !== undefined) lines.push(...flagLines(flags))
  }
  if (only !== undefined) {
    section(only.kind, only.name, false)
    return lines.join('\n')
  }
  lines.push(`Scenarios (every one takes --nodes N, --seed S, --json, --report file.html):`)
  for (const name of listNames('scenarios')) section('scenario', name, true)
  lines.push('', 'Checks (every one takes --seeds N, --seed S, --json):')
  for (const name of listNames('check')) section('check', name, true)
  return lines.join('\n')
}

/** Check a flag's value against its kind; the message names the flag and the rule. */
function checkValue (flag: string, kind: FlagKind, value: string): void {
  if (kind.type === 'integer' || kind.type === 'number') {
    const n = Number(value)
    const ok = value.trim() !== '' && Number.isFinite(n) && n >= kind.min && (kind.type === 'number' || Number.isSafeInteger(n))
    if (!ok) {
      const rule = kind.type === 'integer'
        ? (kind.min === 1 ? 'a positive integer' : kind.min === 0 ? 'a non-negative integer' : `an integer ≥ ${kind.min}`)
        : (kind.min === 0 ? 'a non-negative number' : `a number ≥ ${kind.min}`)
      throw new UsageError(`--${flag} must be ${rule}, got "${value}"`)
    }
  } else if (kind.type === 'string' && kind.choices !== undefined && !kind.choices.includes(value)) {
    throw new UsageError(`--${flag} must be ${kind.choices.map(c => `"${c}"`).join(' or ')}, got "${value}"`)
  }
}

/** Parse argv into the module to load and its options. Strict: unknown flags and bad values throw UsageError. */
export function parseSimArgs (argv: string[]): { modulePath: string, name: string, options: Omit<SimOptions, 'progress' | 'log'>, warnings: string[] } {
  const warnings: string[] = []
  const options: Omit<SimOptions, 'progress' | 'log'> = { seed: 1, json: false, transport: 'memory', extra: {} }
  const [first, second] = argv
  if (first === undefined || first.startsWith('-')) throw new UsageError('the scenario name comes first, e.g. npm run sim -- mesh --nodes 4')
  let kind: 'scenario' | 'check'
  let name: string
  let modulePath: string
  let rest: string[]
  if (first === 'check') {
    if (second === undefined || second.startsWith('-')) throw new UsageError(`check needs a protocol name: ${listNames('check').join(', ')}`)
    modulePath = join(here, 'check', `${second}.ts`)
    if (!existsSync(modulePath)) throw new UsageError(`unknown check "${second}"; checks: ${listNames('check').join(', ')}`)
    kind = 'check'
    name = second
    rest = argv.slice(2)
  } else {
    modulePath = join(here, 'scenarios', `${first}.ts`)
    if (!existsSync(modulePath)) throw new UsageError(`unknown scenario "${first}"; scenarios: ${listNames('scenarios').join(', ')}`)
    kind = 'scenario'
    name = first
    rest = argv.slice(1)
  }
  const flags = flagsOf(kind, name)
  if (flags === undefined) throw new UsageError(`${kind} "${name}" has no flag table in sim/cli-flags.ts`)
  const label = kind === 'check' ? `check ${name}` : name
  const seen = new Set<string>()
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}": every option of ${label} is a --flag (see npm run sim -- ${label} --help)`)
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let spec = flags[flag]
    if (spec === undefined && kind === 'scenario' && SHARED_FLAGS[flag] !== undefined) {
      spec = SHARED_FLAGS[flag]
      warnings.push(`--${flag} is not used by ${label}; ignored (its flags: npm run sim -- ${label} --help)`)
    }
    if (spec === undefined) {
      const suggestion = closestName(flag, Object.keys(flags))
      throw new UsageError(`--${flag}: not a flag of ${label}${suggestion !== undefined ? ` (did you mean --${suggestion}?)` : ''}; its flags: ${Object.keys(flags).map(f => `--${f}`).join(' ')}`)
    }
    if (seen.has(flag)) throw new UsageError(`--${flag}: given more than once`)
    seen.add(flag)
    if (spec.kind.type === 'boolean') {
      if (eq !== -1) throw new UsageError(`--${flag} takes no value`)
      if (flag === 'json') options.json = true
      else if (flag !== 'help') options.extra[flag] = true
      continue
    }
    let value: string | undefined
    if (eq !== -1) value = arg.slice(eq + 1)
    else {
      value = rest[i + 1]
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${flag} needs a value${spec.kind.type === 'string' ? ` <${spec.kind.value}>` : ' (a number)'}`)
      i++
    }
    checkValue(flag, spec.kind, value)
    if (flag in NUMBER_FLAGS) (options as unknown as Record<string, number>)[NUMBER_FLAGS[flag as keyof typeof NUMBER_FLAGS]] = Number(value)
    else if (flag === 'transport') options.transport = value as 'memory' | 'tcp'
    else if (flag === 'report') options.report = value
    else options.extra[flag] = value
  }
  return { modulePath, name: label, options, warnings }
}

/**
 * Where a figure was measured: a benchmark number means little without the machine's size and how
 * busy it was, so every summary carries the 1-minute load average at the start and end of the run.
 */
export function machineOf (loadAtStart: number): { machine_cores: number, load_1m_start: number, load_1m_end: number, node_version: string } {
  const round = (x: number): number => Math.round(x * 100) / 100
  return { machine_cores: availableParallelism(), load_1m_start: round(loadAtStart), load_1m_end: round(loadavg()[0]!), node_version: process.versions.node }
}

/** The summary for a person: one metric per line, then OK or FAILED (`--json` prints the one-line JSON instead). */
export function humanSummary (summary: SimSummary): string {
  const title = `${summary.scenario}: ${summary.nodes} node(s), seed ${summary.seed}`
  const width = Math.max(0, ...Object.keys(summary.metrics).map(k => k.length))
  const rows = Object.entries(summary.metrics).map(([key, value]) => `  ${key.padEnd(width)}  ${typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : String(value)}`)
  return [title, ...rows, summary.ok ? 'OK' : 'FAILED'].join('\n')
}

function progressBar (enabled: boolean): (done: number, total: number) => void {
  let last = -1
  return (done, total) => {
    if (!enabled || total <= 0) return
    const pct = Math.floor((100 * done) / total)
    if (pct === last) return
    last = pct
    const width = 30
    const filled = Math.round((width * done) / total)
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% (${done}/${total})`)
    if (done >= total) process.stderr.write('\n')
  }
}

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  if (argv.length === 0) { process.stderr.write(usage() + '\n'); return 2 }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') { process.stdout.write(usage() + '\n'); return 0 }
  if (argv[0] === 'check' && argv.includes('--help') && argv[1] !== undefined && !argv[1].startsWith('--')) {
    // `check <protocol> --help`: the check's own flags when it documents them (an exported `help`)
    const checkPath = join(here, 'check', `${argv[1]}.ts`)
    if (existsSync(checkPath)) {
      const check = await import(pathToFileURL(checkPath).href) as { help?: string }
      if (typeof check.help === 'string') { process.stdout.write(check.help + '\n'); return 0 }
    }
  }
  let parsed
  try {
    parsed = parseSimArgs(argv)
  } catch (err) {
    if (err instanceof UsageError) { process.stderr.write(`sim: ${err.message}\nsim: npm run sim -- --help lists every scenario and its flags\n`); return 2 }
    throw err
  }
  if (argv.includes('--help')) {
    const [first, second] = argv
    process.stdout.write(usage(first === 'check' ? { kind: 'check', name: second! } : { kind: 'scenario', name: first! }) + '\n')
    return 0
  }
  const { modulePath, options } = parsed
  for (const warning of parsed.warnings) process.stderr.write(`sim: ${warning}\n`)
  const log = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const scenario = await import(pathToFileURL(modulePath).href) as { run: (o: SimOptions) => Promise<SimSummary> }
  const loadAtStart = loadavg()[0]!
  let summary: SimSummary
  try {
    summary = await scenario.run({ ...options, log, progress: progressBar(process.stderr.isTTY === true) })
  } catch (err) {
    // A scenario's own value check (a RangeError naming the --flag) is bad usage too: no stack.
    if (err instanceof SimUsageError || (err instanceof Error && /^--[a-z]/.test(err.message))) { process.stderr.write(`sim: ${err.message}\n`); return 2 }
    throw err
  }
  for (const failure of summary.failures ?? []) log(failure)
  if (options.report !== undefined) {
    const { writeReport } = await import('./report.ts')
    // the replay line repeats the user's flags (seed and nodes made explicit), minus --report
    const flags = argv.filter((arg, i) => arg !== '--report' && argv[i - 1] !== '--report' && arg !== '--json')
    if (!argv.includes('--seed')) flags.push('--seed', String(summary.seed))
    if (!argv.includes('--nodes')) flags.push('--nodes', String(summary.nodes))
    await writeReport(options.report, summary, { command: `npm run sim -- ${flags.join(' ')}` })
    log(`report written to ${options.report}`)
  }
  // the top-level shape is the DESIGN contract, so the machine goes in with the metrics
  const metrics = { ...summary.metrics, ...machineOf(loadAtStart) }
  const line = JSON.stringify({ scenario: summary.scenario, nodes: summary.nodes, seed: summary.seed, ok: summary.ok, metrics })
  if (options.json) process.stdout.write(line + '\n')
  else log(humanSummary({ ...summary, metrics }))
  return summary.ok ? 0 : 1
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((code) => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`sim: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
