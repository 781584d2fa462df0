// `npm run sim -- <scenario> [flags]` and `npm run sim -- check <protocol> --seeds N`.
// Loads sim/scenarios/<scenario>.ts or sim/check/<protocol>.ts and prints its summary.

import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import type { SimOptions, SimSummary } from './scenario.ts'
import { SimUsageError } from './flags.ts'

// Node 24 carves small Buffers out of shared 64 KiB slabs, and a small long-lived one (a peer
// id, a multiaddr decoded from a frame) keeps its whole slab alive. One node pins a few MB that
// way; hundreds of nodes in this one process pinned 2,552 slabs (160 MB) at 100 nodes. Node's
// classic 8 KiB slab bounds that to 1/8. Set before any scenario module allocates.
Buffer.poolSize = 8 * 1024

const here = dirname(fileURLToPath(import.meta.url))
const NUMBER_FLAGS = { nodes: 'nodes', seed: 'seed', rounds: 'rounds', messages: 'messages', rate: 'rate', size: 'size', 'heartbeat-ms': 'heartbeatMs', 'election-ms': 'electionMs', seeds: 'seeds' } as const

class UsageError extends Error {}

function listNames (folder: string): string[] {
  if (!existsSync(join(here, folder))) return []
  return readdirSync(join(here, folder)).filter(f => f.endsWith('.ts')).map(f => f.slice(0, -3)).sort()
}

function usage (): string {
  return [
    'Usage: npm run sim -- <scenario> [--nodes N] [--seed S] [--json] [--report file.html]',
    '                         [--transport memory|tcp] [--rounds R] [--messages M] [--rate R] [--size B]',
    '                         [--heartbeat-ms H] [--election-ms E]',
    '       npm run sim -- check <protocol> [--seeds N] [--seed S]',
    `Scenarios: ${listNames('scenarios').join(', ') || '(none)'}`,
    `Checks: ${listNames('check').join(', ') || '(none)'}`
  ].join('\n')
}

/** Parse argv into the module to load and its options. */
export function parseSimArgs (argv: string[]): { modulePath: string, name: string, options: Omit<SimOptions, 'progress' | 'log'> } {
  const positional: string[] = []
  const options: Omit<SimOptions, 'progress' | 'log'> = { seed: 1, json: false, transport: 'memory', extra: {} }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) { positional.push(arg); continue }
    const flag = arg.slice(2)
    if (flag === 'json') { options.json = true; continue }
    const value = argv[i + 1]
    if (flag in NUMBER_FLAGS) {
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${flag} needs a number`)
      const n = Number(value)
      if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${flag} must be a non-negative number, got "${value}"`)
      ;(options as unknown as Record<string, number>)[NUMBER_FLAGS[flag as keyof typeof NUMBER_FLAGS]] = n
      i++
    } else if (flag === 'transport') {
      if (value !== 'memory' && value !== 'tcp') throw new UsageError(`--transport must be "memory" or "tcp", got "${String(value)}"`)
      options.transport = value
      i++
    } else if (flag === 'report') {
      if (value === undefined || value.startsWith('--')) throw new UsageError('--report needs a file name')
      options.report = value
      i++
    } else if (value !== undefined && !value.startsWith('--')) {
      options.extra[flag] = value
      i++
    } else {
      options.extra[flag] = true
    }
  }
  const [first, second] = positional
  if (first === undefined) throw new UsageError('missing scenario name')
  if (first === 'check') {
    if (second === undefined) throw new UsageError('check needs a protocol name')
    const path = join(here, 'check', `${second}.ts`)
    if (!existsSync(path)) throw new UsageError(`unknown check "${second}"`)
    return { modulePath: path, name: `check ${second}`, options }
  }
  const path = join(here, 'scenarios', `${first}.ts`)
  if (!existsSync(path)) throw new UsageError(`unknown scenario "${first}"`)
  return { modulePath: path, name: first, options }
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
  if (argv.includes('--help') || argv.length === 0) {
    // `check <protocol> --help`: the check's own flags when it documents them (an exported `help`)
    const checkPath = argv[0] === 'check' && argv[1] !== undefined && !argv[1].startsWith('--') ? join(here, 'check', `${argv[1]}.ts`) : undefined
    if (checkPath !== undefined && existsSync(checkPath)) {
      const check = await import(pathToFileURL(checkPath).href) as { help?: string }
      if (typeof check.help === 'string') { process.stdout.write(check.help + '\n'); return 0 }
    }
    process.stdout.write(usage() + '\n')
    return argv.length === 0 ? 2 : 0
  }
  let parsed
  try {
    parsed = parseSimArgs(argv)
  } catch (err) {
    if (err instanceof UsageError) { process.stderr.write(`sim: ${err.message}\n${usage()}\n`); return 2 }
    throw err
  }
  const { modulePath, options } = parsed
  const log = (line: string): void => { (options.json ? process.stderr : process.stdout).write(line + '\n') }
  const scenario = await import(pathToFileURL(modulePath).href) as { run: (o: SimOptions) => Promise<SimSummary> }
  let summary: SimSummary
  try {
    summary = await scenario.run({ ...options, log, progress: progressBar(process.stderr.isTTY === true) })
  } catch (err) {
    if (err instanceof SimUsageError) { process.stderr.write(`sim: ${err.message}\n`); return 2 }
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
  const line = JSON.stringify({ scenario: summary.scenario, nodes: summary.nodes, seed: summary.seed, ok: summary.ok, metrics: summary.metrics })
  if (options.json) process.stdout.write(line + '\n')
  else log(`${summary.ok ? 'OK' : 'FAILED'} ${line}`)
  return summary.ok ? 0 : 1
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((code) => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`sim: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
