// `--report file.html`: a self-contained HTML report of one scenario run — latency CDF,
// timeline of joins/faults/leader changes, delivery matrix and the metrics table.
// Scales and paths come from d3 (computed here, no browser); the output has no external URL.

import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { scaleLinear, scaleLog, scaleBand } from 'd3-scale'
import { line, curveStepAfter } from 'd3-shape'
import { extent, max } from 'd3-array'
import type { SimSummary, TimelineEntry } from './scenario.ts'
import { quantile } from './stats.ts'

/** Points drawn on the CDF at most; larger samples are thinned to evenly spaced ranks. */
export const CDF_POINTS_MAX = 2_000
/** max / median above this draws the CDF on a log axis. */
export const LOG_AXIS_TAIL_RATIO = 50
/** Matrix side drawn at most; larger matrices are averaged in blocks to keep the file small. */
export const MATRIX_SIDE_MAX = 120
/** Lanes with at most this many entries get a text label per entry. */
export const TIMELINE_LABELLED_PER_KIND_MAX = 6
/** Radius of a timeline dot (px). */
const DOT_RADIUS = 5
/** Rows a lane stacks coinciding dots on before cycling: keeps a burst of joins from making a lane tall. */
export const TIMELINE_STACK_ROWS_MAX = 8
/** Timeline entries drawn at most (the first ones); the rest are counted in the caption. */
export const TIMELINE_DRAWN_MAX = 2_000

const KIND_COLOURS: Record<string, string> = {
  join: '#2b8cbe', leave: '#7b7b7b', restart: '#31a354', kill: '#d7301f', partition: '#e6550d', heal: '#31a354',
  'link-down': '#fd8d3c', 'link-up': '#74c476', leader: '#756bb1', fault: '#d7301f', phase: '#636363'
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
}

function fmt (n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2
  const text = n.toFixed(digits)
  return digits === 0 ? text : text.replace(/0+$/, '').replace(/\.$/, '')
}

function empty (width: number, height: number, text: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"><rect width="${width}" height="${height}" fill="#fafafa" stroke="#ddd"/><text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="muted">${escapeHtml(text)}</text></svg>`
}

/** SVG of the empirical CDF of latencies (ms), with p50/p99 markers. */
export function cdfSvg (latenciesMs: readonly number[], size = { width: 560, height: 300 }): string {
  const values = latenciesMs.filter(Number.isFinite)
  if (values.length === 0) return empty(size.width, size.height, 'no latencies recorded')
  const sorted = [...values].sort((a, b) => a - b)
  const n = sorted.length
  const step = Math.max(1, Math.ceil(n / CDF_POINTS_MAX))
  const points: Array<[number, number]> = [[sorted[0]!, 0]]
  for (let i = 0; i < n; i += step) points.push([sorted[i]!, (i + 1) / n])
  points.push([sorted[n - 1]!, 1])
  const margin = { top: 12, right: 20, bottom: 40, left: 48 }
  const [lo, hi] = extent(sorted) as [number, number]
  // A long tail (p99 or max far above the median) squashes a linear axis: switch to log10.
  const logAxis = lo > 0 && hi / Math.max(quantile(sorted, 0.5), 1e-3) > LOG_AXIS_TAIL_RATIO
  const x = logAxis
    ? scaleLog().domain([lo, hi]).nice().range([margin.left, size.width - margin.right])
    : scaleLinear().domain([Math.min(0, lo), hi === lo ? lo + 1 : hi]).nice().range([margin.left, size.width - margin.right])
  const xTicks = logAxis ? x.ticks(6).filter(t => Number.isInteger(Math.log10(t))) : x.ticks(6)
  const y = scaleLinear().domain([0, 1]).range([size.height - margin.bottom, margin.top])
  const path = line<[number, number]>().x(d => x(d[0])).y(d => y(d[1])).curve(curveStepAfter)(points) ?? ''
  const parts: string[] = []
  for (const t of xTicks) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${margin.top}" y2="${size.height - margin.bottom}" class="grid"/>`)
    parts.push(`<text x="${x(t)}" y="${size.height - margin.bottom + 16}" text-anchor="middle">${fmt(t)}</text>`)
  }
  for (const t of y.ticks(5)) {
    parts.push(`<line x1="${margin.left}" x2="${size.width - margin.right}" y1="${y(t)}" y2="${y(t)}" class="grid"/>`)
    parts.push(`<text x="${margin.left - 6}" y="${y(t) + 4}" text-anchor="end">${fmt(t)}</text>`)
  }
  for (const [q, label] of [[0.5, 'p50'], [0.99, 'p99']] as const) {
    const v = quantile(sorted, q)
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${margin.top}" y2="${size.height - margin.bottom}" class="marker"/>`)
    // labels sit at the top, on the side of the marker with room, so p99 is never clipped
    const right = x(v) > (margin.left + size.width - margin.right) / 2
    parts.push(`<text x="${x(v) + (right ? -4 : 4)}" y="${margin.top + (q === 0.5 ? 12 : 26)}" text-anchor="${right ? 'end' : 'start'}" class="marker-label">${label} ${fmt(v)} ms</text>`)
  }
  parts.push(`<path class="cdf" d="${path}"/>`)
  parts.push(`<text x="${(margin.left + size.width - margin.right) / 2}" y="${size.height - 6}" text-anchor="middle" class="axis-title">latency (ms${logAxis ? ', log scale' : ''}), ${n} samples</text>`)
  parts.push(`<text transform="translate(12 ${(size.height - margin.bottom + margin.top) / 2}) rotate(-90)" text-anchor="middle" class="axis-title">fraction ≤ x</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}" viewBox="0 0 ${size.width} ${size.height}" role="img" aria-label="latency CDF">${parts.join('')}</svg>`
}

/** Closed [start, end) spans between an opening and a closing kind, e.g. partition → heal. */
function spans (entries: readonly TimelineEntry[], open: string, close: string, endMs: number): Array<{ from: number, to: number, detail: string }> {
  const out: Array<{ from: number, to: number, detail: string }> = []
  let current: { from: number, detail: string } | undefined
  for (const e of entries) {
    if (e.kind === open && current === undefined) current = { from: e.atMs, detail: e.detail }
    else if (e.kind === close && current !== undefined) { out.push({ ...current, to: e.atMs }); current = undefined }
  }
  if (current !== undefined) out.push({ ...current, to: endMs })
  return out
}

/** SVG timeline: one lane per kind, a dot per entry (hover for detail), partitions shaded. */
export function timelineSvg (timeline: readonly TimelineEntry[], width = 1100): string {
  if (timeline.length === 0) return empty(width, 120, 'no timeline entries recorded')
  const entries = timeline.slice(0, TIMELINE_DRAWN_MAX)
  const kinds = [...new Set(entries.map(e => e.kind))]
  const endMs = max(entries, e => e.atMs) ?? 1
  const margin = { top: 10, right: 20, bottom: 36, left: 90 }
  const x = scaleLinear().domain([0, endMs > 0 ? endMs : 1]).nice().range([margin.left, width - margin.right])
  // Dots closer than a diameter in one lane are stacked on rows instead of drawn over each other;
  // the lane grows to hold the deepest stack (up to TIMELINE_STACK_ROWS_MAX rows, then they cycle).
  const rowOf: number[] = []
  const cluster = new Map<string, { x: number, rows: number }>()
  for (const e of entries) {
    const c = cluster.get(e.kind)
    if (c === undefined || x(e.atMs) - c.x >= 2 * DOT_RADIUS) {
      cluster.set(e.kind, { x: x(e.atMs), rows: 1 })
      rowOf.push(0)
    } else {
      rowOf.push(c.rows % TIMELINE_STACK_ROWS_MAX)
      c.rows++
    }
  }
  const deepest = Math.min(TIMELINE_STACK_ROWS_MAX, Math.max(1, ...rowOf.map(r => r + 1)))
  const lane = Math.max(34, deepest * (2 * DOT_RADIUS + 1) / 0.8 + 4)
  const height = margin.top + margin.bottom + lane * kinds.length
  const y = scaleBand<string>().domain(kinds).range([margin.top, height - margin.bottom]).padding(0.2)
  const parts: string[] = []
  for (const s of spans(entries, 'partition', 'heal', x.domain()[1]!)) {
    parts.push(`<rect class="span" x="${x(s.from)}" y="${margin.top}" width="${Math.max(1, x(s.to) - x(s.from))}" height="${height - margin.top - margin.bottom}"><title>partition ${escapeHtml(s.detail)}</title></rect>`)
  }
  for (const t of x.ticks(10)) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${margin.top}" y2="${height - margin.bottom}" class="grid"/>`)
    parts.push(`<text x="${x(t)}" y="${height - margin.bottom + 16}" text-anchor="middle">${fmt(t / 1000)}</text>`)
  }
  for (const kind of kinds) {
    const cy = (y(kind) ?? 0) + y.bandwidth() / 2
    const count = entries.filter(e => e.kind === kind).length
    parts.push(`<text x="${margin.left - 8}" y="${cy + 4}" text-anchor="end">${escapeHtml(kind)} (${count})</text>`)
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${cy}" y2="${cy}" class="lane"/>`)
  }
  const perKind = new Map<string, number>()
  for (const e of entries) perKind.set(e.kind, (perKind.get(e.kind) ?? 0) + 1)
  const labelled = new Map<string, number>()
  const lastLabelX = new Map<string, number>()
  for (const [i, e] of entries.entries()) {
    const centre = (y(e.kind) ?? 0) + y.bandwidth() / 2
    const row = rowOf[i]!
    // rows alternate around the lane's centre line: 0, +1, −1, +2, …
    const cy = centre + (row === 0 ? 0 : (row % 2 === 1 ? 1 : -1) * Math.ceil(row / 2) * (2 * DOT_RADIUS + 1))
    const colour = KIND_COLOURS[e.kind] ?? '#969696'
    parts.push(`<circle cx="${x(e.atMs)}" cy="${cy}" r="${DOT_RADIUS}" fill="${colour}" fill-opacity="0.8"><title>${fmt(e.atMs / 1000)} s ${escapeHtml(e.kind)}: ${escapeHtml(e.detail)}</title></circle>`)
    // sparse lanes (faults, phases, leader changes) get their text; dense ones keep it in the hover title
    const lastX = lastLabelX.get(e.kind)
    if ((perKind.get(e.kind) ?? 0) <= TIMELINE_LABELLED_PER_KIND_MAX && (lastX === undefined || x(e.atMs) - lastX > 12)) {
      const k = labelled.get(e.kind) ?? 0
      labelled.set(e.kind, k + 1)
      lastLabelX.set(e.kind, x(e.atMs))
      const text = e.detail.length > 48 ? `${e.detail.slice(0, 47)}…` : e.detail
      const anchorEnd = x(e.atMs) > width - margin.right - 220
      parts.push(`<text x="${x(e.atMs) + (anchorEnd ? -8 : 8)}" y="${cy + (k % 2 === 0 ? -3 : 10)}" text-anchor="${anchorEnd ? 'end' : 'start'}" class="event-label">${escapeHtml(text)}</text>`)
    }
  }
  parts.push(`<text x="${(margin.left + width - margin.right) / 2}" y="${height - 6}" text-anchor="middle" class="axis-title">time since start (s)</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="timeline">${parts.join('')}</svg>`
}

/** Average a square matrix into at most `side`×`side` blocks; labels become ranges. */
export function downsampleMatrix (labels: readonly string[], ratios: readonly (readonly number[])[], side: number): { labels: string[], ratios: number[][] } {
  const n = labels.length
  if (n <= side) return { labels: [...labels], ratios: ratios.map(r => [...r]) }
  const block = Math.ceil(n / side)
  const groups = Math.ceil(n / block)
  const outLabels = Array.from({ length: groups }, (_, g) => `${labels[g * block]}…${labels[Math.min(n, (g + 1) * block) - 1]}`)
  const out = Array.from({ length: groups }, (_, gi) => Array.from({ length: groups }, (_, gj) => {
    let sum = 0
    let count = 0
    for (let i = gi * block; i < Math.min(n, (gi + 1) * block); i++) {
      for (let j = gj * block; j < Math.min(n, (gj + 1) * block); j++) {
        const v = ratios[i]?.[j]
        if (v !== undefined && Number.isFinite(v)) { sum += v; count++ }
      }
    }
    return count === 0 ? Number.NaN : sum / count
  }))
  return { labels: outLabels, ratios: out }
}

/** SVG heat map of sender (rows) × receiver (columns) delivery ratios; NaN cells are blank. */
export function matrixSvg (matrix: { labels: string[], ratios: number[][] } | undefined, sizeMax = 560): string {
  if (matrix === undefined || matrix.labels.length === 0) return empty(sizeMax, 120, 'no delivery matrix recorded')
  const { labels, ratios } = downsampleMatrix(matrix.labels, matrix.ratios, MATRIX_SIDE_MAX)
  const showLabels = labels.length <= 40
  const margin = { top: showLabels ? 70 : 24, right: 130, bottom: 30, left: showLabels ? 80 : 40 }
  // cells at most 56 px so a 4-node matrix stays readable rather than poster-sized
  const side = Math.min(sizeMax - margin.left, labels.length * 56)
  const width = margin.left + side + margin.right
  const height = margin.top + side + margin.bottom
  const band = scaleBand<number>().domain(labels.map((_, i) => i)).range([0, side])
  const colour = scaleLinear<string>().domain([0, 0.9, 1]).range(['#b2182b', '#fddbc7', '#1a9850']).clamp(true)
  const parts: string[] = [`<g transform="translate(${margin.left} ${margin.top})">`]
  ratios.forEach((row, i) => row.forEach((v, j) => {
    if (!Number.isFinite(v)) return
    parts.push(`<rect class="cell" x="${band(j)}" y="${band(i)}" width="${band.bandwidth()}" height="${band.bandwidth()}" fill="${colour(v)}"><title>${escapeHtml(labels[i]!)} → ${escapeHtml(labels[j]!)}: ${fmt(v * 100)}%</title></rect>`)
    if (band.bandwidth() >= 36) parts.push(`<text x="${(band(j) ?? 0) + band.bandwidth() / 2}" y="${(band(i) ?? 0) + band.bandwidth() / 2 + 4}" text-anchor="middle" class="cell-label">${fmt(v * 100)}%</text>`)
  }))
  if (showLabels) {
    labels.forEach((label, i) => {
      const c = (band(i) ?? 0) + band.bandwidth() / 2
      parts.push(`<text x="-6" y="${c + 4}" text-anchor="end">${escapeHtml(label)}</text>`)
      parts.push(`<text transform="translate(${c + 4} -6) rotate(-60)">${escapeHtml(label)}</text>`)
    })
  }
  parts.push(`<text x="${side / 2}" y="${side + 20}" text-anchor="middle" class="axis-title">receiver</text>`)
  parts.push(`<text transform="translate(${showLabels ? -66 : -16} ${side / 2}) rotate(-90)" text-anchor="middle" class="axis-title">sender</text>`)
  parts.push('</g>')
  // legend
  const lx = margin.left + side + 24
  for (const [k, v] of [1, 0.99, 0.95, 0.9, 0.75, 0.5, 0.25, 0].entries()) {
    parts.push(`<rect x="${lx}" y="${margin.top + k * 16}" width="16" height="16" fill="${colour(v)}"/><text x="${lx + 22}" y="${margin.top + k * 16 + 12}">${fmt(v * 100)}%</text>`)
  }
  parts.push(`<text x="${lx}" y="${margin.top + 8 * 16 + 14}" class="muted">blank: no traffic</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${Math.max(height, margin.top + 8 * 16 + 24)}" viewBox="0 0 ${width} ${Math.max(height, margin.top + 8 * 16 + 24)}" role="img" aria-label="delivery matrix">${parts.join('')}</svg>`
}

/** The unit a metric's name implies (the scenarios' naming convention), or '' when it has none. */
export function metricUnit (name: string): string {
  if (/_ms$|_ms_/.test(name)) return 'ms'
  if (/_mb($|_)/.test(name)) return 'MB'
  if (/_bytes$|^size$/.test(name)) return 'bytes'
  if (/_per_s$|^rate$/.test(name)) return 'per second'
  if (/(^|_)(delivery|ratio|success)($|_)/.test(name)) return 'fraction (1 = all)'
  return ''
}

function metricsTable (metrics: SimSummary['metrics']): string {
  const rows = Object.entries(metrics).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v === null ? '—' : typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v))}</td><td class="unit">${escapeHtml(metricUnit(k))}</td></tr>`)
  return `<table class="metrics"><thead><tr><th>metric</th><th>value</th><th>unit</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

/** What a delivery-matrix cell means when the scenario does not say. */
export const MATRIX_CAPTION_DEFAULT = 'Each cell: the fraction of send attempts from the row\'s node to the column\'s node that succeeded on that attempt; a retry is a new attempt. Cells across a partition are red by design; whether anything was lost in the end is in the metrics.'

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1160px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #eee;padding-bottom:4px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}.ok{background:#1a9850}.failed{background:#b2182b}
code{background:#f4f4f4;padding:2px 6px;border-radius:4px}.muted{fill:#999;color:#777}
svg text{font-size:11px;fill:#444}svg .axis-title{font-size:12px;fill:#222}
svg .event-label{font-size:10px;fill:#333}svg .cell-label{fill:#111;font-size:10px}.grid{stroke:#eee}.lane{stroke:#ddd;stroke-dasharray:2 3}.cdf{fill:none;stroke:#2b8cbe;stroke-width:2}
.marker{stroke:#999;stroke-dasharray:4 3}.marker-label,svg .event-label{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}.marker-label{fill:#555}.span{fill:#fdd0a2;fill-opacity:.45}
table.metrics{border-collapse:collapse;min-width:420px}table.metrics th,table.metrics td{border-bottom:1px solid #eee;padding:4px 12px;text-align:left}
table.metrics th{font-weight:500;color:#555}table.metrics td.unit{color:#777}p.caption{color:#555;max-width:760px}ul.failures{color:#b2182b}.row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}`

/** How the run was started, for the replay line; defaults to scenario, nodes and seed. */
export interface ReportOptions { command?: string }

/** The whole report as one HTML string (pure: same summary, same output). */
export function renderReport (summary: SimSummary, options: ReportOptions = {}): string {
  const command = options.command ?? `npm run sim -- ${summary.scenario} --nodes ${summary.nodes} --seed ${summary.seed}`
  const failures = summary.failures ?? []
  const timeline = summary.timeline ?? []
  const dropped = timeline.length > TIMELINE_DRAWN_MAX ? ` (first ${TIMELINE_DRAWN_MAX} of ${timeline.length} entries drawn)` : ''
  // A panel with nothing to show is left out and named, rather than drawn empty.
  const latencies = (summary.latenciesMs ?? []).filter(Number.isFinite)
  const missing = [latencies.length === 0 ? 'latencies' : '', timeline.length === 0 ? 'timeline' : '', summary.deliveryMatrix === undefined ? 'delivery matrix' : ''].filter(m => m !== '')
  const missingText = missing.length <= 1 ? missing.join('') : `${missing.slice(0, -1).join(', ')} or ${missing.at(-1)!}`
  const matrix = summary.deliveryMatrix
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agentmesh sim: ${escapeHtml(summary.scenario)} (seed ${summary.seed})</title><style>${STYLE}</style></head>
<body>
<h1>agentmesh simulation: ${escapeHtml(summary.scenario)} <span class="badge ${summary.ok ? 'ok' : 'failed'}">${summary.ok ? 'OK' : 'FAILED'}</span></h1>
<p>${summary.nodes} nodes, seed ${summary.seed}. Replay: <code>${escapeHtml(command)}</code></p>
${failures.length > 0 ? `<ul class="failures">${failures.map(f => `<li>${escapeHtml(f)}</li>`).join('')}</ul>` : ''}
${missing.length > 0 ? `<p class="muted">This run recorded no ${escapeHtml(missingText)}: ${missing.length === 1 ? 'that panel is' : 'those panels are'} left out.</p>` : ''}
<div class="row">
${latencies.length > 0 ? `<section><h2>Latency CDF</h2>${cdfSvg(latencies)}</section>` : ''}
<section><h2>Metrics</h2>${metricsTable(summary.metrics)}</section>
</div>
${timeline.length > 0 ? `<section><h2>Timeline: joins, faults, leader changes${escapeHtml(dropped)}</h2>${timelineSvg(timeline)}</section>` : ''}
${matrix !== undefined ? `<section><h2>Delivery matrix (sender × receiver)</h2><p class="caption">${escapeHtml(matrix.caption ?? MATRIX_CAPTION_DEFAULT)}</p>${matrixSvg(matrix)}</section>` : ''}
</body></html>
`
}

/** Write the self-contained HTML report for `summary` to `file` (creating its folder). */
export async function writeReport (file: string, summary: SimSummary, options: ReportOptions = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, renderReport(summary, options), 'utf8')
}
