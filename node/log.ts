// The daemon's log lines on stderr (DESIGN "Operations"): human text by default, or with
// `--log-format json` one JSON object per line {time, level, component, peer?, message,
// fields?} for log shippers. libp2p's and the services' debug loggers (weald, enabled with
// DEBUG=…) are routed through the same format.

import { format as formatText } from 'node:util'
import debug from 'weald'

/** The values `--log-format` takes. */
export const LOG_FORMATS = ['text', 'json'] as const
export type LogFormat = typeof LOG_FORMATS[number]
/** Severity of a line, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace'

/** One log line before formatting. */
export interface LogRecord {
  timeMs: number
  level: LogLevel
  /** Who speaks: `cli`, `api`, or a debug namespace such as `agentmesh:alpha:events`. */
  component: string
  /** This node's peer id, once known. */
  peer?: string
  message: string
  fields?: Record<string, unknown>
}

/** Longest message kept in one line: a runaway error text must not flood the log shipper. */
export const LOG_MESSAGE_CHARS_MAX = 8_192

/** One line (with its newline) for `record`. Text keeps the CLI's historic `agentmesh: <message>` shape. */
export function formatLogLine (record: LogRecord, format: LogFormat): string {
  const message = record.message.length > LOG_MESSAGE_CHARS_MAX ? `${record.message.slice(0, LOG_MESSAGE_CHARS_MAX)}… (${record.message.length} chars)` : record.message
  if (format === 'json') {
    return `${JSON.stringify({
      time: new Date(record.timeMs).toISOString(),
      level: record.level,
      component: record.component,
      ...(record.peer !== undefined ? { peer: record.peer } : {}),
      message,
      ...(record.fields !== undefined && Object.keys(record.fields).length > 0 ? { fields: record.fields } : {})
    }, jsonSafe)}\n`
  }
  const fields = Object.entries(record.fields ?? {}).map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`).join('')
  const who = record.component === 'cli' ? 'agentmesh' : `agentmesh ${record.component}`
  return `${who}: ${message}${fields}\n`
}

/** JSON.stringify replacer: bigints as strings, bytes as their length, errors as their message. */
function jsonSafe (_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
  if (value instanceof Error) return value.message
  return value
}

/** A logger for one component. */
export interface Log {
  error (message: string, fields?: Record<string, unknown>): void
  warn (message: string, fields?: Record<string, unknown>): void
  info (message: string, fields?: Record<string, unknown>): void
  /** The same sink for another component. */
  child (component: string): Log
  /** Tag every later line with this node's peer id. */
  setPeer (peerId: string): void
}

/** Options of `createLog`. */
export interface LogOptions {
  format: LogFormat
  /** Where lines go (default: process.stderr). */
  write?: (line: string) => void
  /** Time source (default Date.now); tests pass a fixed one. */
  nowMs?: () => number
}

/** A logger writing `format` lines; the returned Log speaks as `component`. */
export function createLog (component: string, options: LogOptions): Log {
  const write = options.write ?? ((line: string) => { process.stderr.write(line) })
  const nowMs = options.nowMs ?? Date.now
  const shared: { peer?: string } = {}
  const make = (name: string): Log => {
    const emit = (level: LogLevel) => (message: string, fields?: Record<string, unknown>): void => {
      write(formatLogLine({ timeMs: nowMs(), level, component: name, ...(shared.peer !== undefined ? { peer: shared.peer } : {}), message, ...(fields !== undefined ? { fields } : {}) }, options.format))
    }
    return { error: emit('error'), warn: emit('warn'), info: emit('info'), child: make, setPeer: (peerId) => { shared.peer = peerId } }
  }
  return make(component)
}

/** What weald (debug) exposes for redirecting its output; not in its types. */
interface WealdSinks { log: (...args: unknown[]) => void, formatArgs: (args: unknown[]) => void }

/**
 * Route libp2p's and the services' debug loggers (enabled with DEBUG=…) through `format`.
 * Text keeps weald's own output; json turns each call into a record whose component is the
 * namespace and whose level comes from its suffix (`:error`, `:trace`, else debug).
 */
export function routeDebugLogs (options: LogOptions & { peer?: () => string | undefined }): void {
  if (options.format === 'text') return
  const write = options.write ?? ((line: string) => { process.stderr.write(line) })
  const nowMs = options.nowMs ?? Date.now
  const sinks = debug as unknown as WealdSinks
  // weald inlines its own %p/%a… formatters before these run; what is left is printf-style.
  sinks.formatArgs = () => {}
  sinks.log = function (this: { namespace?: string }, ...args: unknown[]): void {
    const namespace = this.namespace ?? 'debug'
    const level: LogLevel = namespace.endsWith(':error') ? 'error' : namespace.endsWith(':trace') ? 'trace' : 'debug'
    const component = namespace.replace(/:(error|trace)$/, '')
    const peer = options.peer?.()
    write(formatLogLine({ timeMs: nowMs(), level, component, ...(peer !== undefined ? { peer } : {}), message: formatText(...args) }, 'json'))
  }
}
