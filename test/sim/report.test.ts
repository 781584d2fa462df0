import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cdfSvg, downsampleMatrix, escapeHtml, matrixSvg, renderReport, timelineSvg, writeReport } from '../../sim/report.ts'
import type { SimSummary } from '../../sim/scenario.ts'
import { tempDir } from '../helpers.ts'

const summary: SimSummary = {
  scenario: 'demo',
  nodes: 3,
  seed: 7,
  ok: false,
  metrics: { delivery: 0.5, p50_ms: 2, note: '<b>x</b>', missing: null },
  failures: ['item-3 lost <script>'],
  latenciesMs: [1, 2, 3, 4, 100],
  timeline: [{ atMs: 0, kind: 'join', detail: 'n0' }, { atMs: 100, kind: 'partition', detail: '{n0} | {n1,n2}' }, { atMs: 300, kind: 'heal', detail: 'healed' }, { atMs: 200, kind: 'kill', detail: 'n2 & co' }],
  deliveryMatrix: { labels: ['n0', 'n1', 'n2'], ratios: [[Number.NaN, 1, 0.5], [1, Number.NaN, 0], [1, 1, Number.NaN]] }
}

describe('sim report', () => {
  it('draws a CDF path whose last point reaches fraction 1', () => {
    const svg = cdfSvg([5, 1, 3, 2, 4])
    const d = /<path class="cdf" d="([^"]+)"/.exec(svg)?.[1]
    assert.ok(d !== undefined && d.startsWith('M'), 'a CDF path')
    assert.match(svg, /p50 3 ms/)
    assert.match(svg, /p99 5 ms/)
    assert.match(svg, /5 samples/)
  })

  it('switches to a log axis for a long tail', () => {
    assert.doesNotMatch(cdfSvg([1, 2, 3, 4]), /log scale/)
    const svg = cdfSvg([...Array.from({ length: 99 }, (_, i) => 1 + i / 100), 5_000])
    assert.match(svg, /log scale/)
    assert.match(svg, />1000</)
  })

  it('says so instead of drawing when there is no data', () => {
    assert.match(cdfSvg([]), /no latencies recorded/)
    assert.match(timelineSvg([]), /no timeline entries recorded/)
    assert.match(matrixSvg(undefined), /no delivery matrix recorded/)
  })

  it('shades partition → heal on the timeline and escapes details', () => {
    const svg = timelineSvg(summary.timeline!)
    assert.match(svg, /<rect class="span"/)
    assert.match(svg, /n2 &amp; co/)
    assert.match(svg, /kill \(1\)/)
  })

  it('colours matrix cells by ratio and leaves no-traffic cells blank', () => {
    const svg = matrixSvg(summary.deliveryMatrix)
    assert.equal(svg.match(/<rect class="cell"/g)?.length, 6)
    assert.match(svg, /n1 → n2: 0%/)
  })

  it('averages large matrices in blocks', () => {
    const labels = ['a', 'b', 'c', 'd']
    const ratios = [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, Number.NaN]]
    const small = downsampleMatrix(labels, ratios, 2)
    assert.deepEqual(small.labels, ['a…b', 'c…d'])
    assert.deepEqual(small.ratios, [[1, 0], [1, 1]])
  })

  it('renders a self-contained page: escaped text, replay command, no external resources', () => {
    const html = renderReport(summary)
    assert.match(html, /^<!doctype html>/)
    assert.match(html, /npm run sim -- demo --nodes 3 --seed 7/)
    assert.match(html, /item-3 lost &lt;script&gt;/)
    assert.match(html, /&lt;b&gt;x&lt;\/b&gt;/)
    assert.match(html, /FAILED/)
    assert.equal(html.match(/<svg /g)?.length, 3)
    assert.doesNotMatch(html, /\b(src|href)=|url\(|@import/)
    const urls = html.match(/https?:\/\/[^"'\s)]+/g) ?? []
    assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg'], 'only the SVG namespace, which is never fetched')
    assert.equal(escapeHtml('"a" & \'b\''), '&quot;a&quot; &amp; &#39;b&#39;')
    assert.match(renderReport(summary, { command: 'npm run sim -- demo --transport tcp --seed 7' }), /<code>npm run sim -- demo --transport tcp --seed 7<\/code>/)
  })

  it('writes the report file', async () => {
    const dir = await tempDir()
    try {
      const file = join(dir.path, 'sim-out', 'r.html')
      await writeReport(file, summary)
      assert.equal(await readFile(file, 'utf8'), renderReport(summary))
    } finally {
      await dir.remove()
    }
  })

  it('leaves out and names every panel with nothing to show; the matrix says what a cell measures; metrics have units', () => {
    const bare = renderReport({ scenario: 'crdt', nodes: 4, seed: 1, ok: true, metrics: { merge_p50_ms: 3, delivery: 1, edits: 10 } })
    assert.equal(bare.match(/<svg /g)?.length ?? 0, 0, 'no empty picture')
    assert.match(bare, /This run recorded no latencies, timeline or delivery matrix: those panels are left out\./)
    assert.doesNotMatch(bare, /<h2>Latency CDF|<h2>Timeline|<h2>Delivery matrix/)
    assert.match(bare, /<th>merge_p50_ms<\/th><td>3<\/td><td class="unit">ms<\/td>/)
    assert.match(bare, /<th>delivery<\/th><td>1<\/td><td class="unit">fraction \(1 = all\)<\/td>/)
    const withMatrix = renderReport({ scenario: 'partition', nodes: 2, seed: 1, ok: true, metrics: {}, deliveryMatrix: { labels: ['a', 'b'], ratios: [[Number.NaN, 0.5], [1, Number.NaN]] } })
    assert.match(withMatrix, /<h2>Delivery matrix[^<]*<\/h2><p class="caption">Each cell: the fraction of send attempts/)
    const captioned = renderReport({ scenario: 'fanout', nodes: 2, seed: 1, ok: true, metrics: {}, deliveryMatrix: { labels: ['n0', 'n1'], ratios: [[1, 1]], caption: 'One row <b>' } })
    assert.match(captioned, /<p class="caption">One row &lt;b&gt;<\/p>/)
  })

  it('stacks timeline dots that would overlap in one lane', () => {
    const svg = timelineSvg([{ atMs: 1000, kind: 'join', detail: 'a' }, { atMs: 1000, kind: 'join', detail: 'b' }, { atMs: 1001, kind: 'join', detail: 'c' }, { atMs: 9000, kind: 'join', detail: 'd' }])
    const dots = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map(m => [Number(m[1]), Number(m[2])] as const)
    assert.equal(dots.length, 4)
    for (let i = 0; i < dots.length; i++) {
      for (let j = i + 1; j < dots.length; j++) {
        const [xi, yi] = dots[i]!
        const [xj, yj] = dots[j]!
        assert.ok(Math.hypot(xi - xj, yi - yj) >= 10, `dots ${i} and ${j} overlap: ${JSON.stringify(dots)}`)
      }
    }
  })
})
