// The agentmesh dashboard: signs in with ?token= (kept in sessionStorage, dropped from the
// address bar), reads the node's snapshot stream (SSE over fetch, so the token travels as a
// bearer header) and draws it with d3. No build step: plain browser JavaScript.
/* global d3 */
'use strict'

/** Samples the rate chart keeps: two minutes at one snapshot a second. */
const HISTORY_MAX = 120
/** Wait before reconnecting a dropped stream. */
const RECONNECT_MS = 2000
const TOKEN_KEY = 'agentmesh-token'

const state = { token: null, previous: null, history: [], names: new Map(), updates: 0 }

function signIn () {
  const params = new URLSearchParams(location.search)
  if (params.has('token')) {
    sessionStorage.setItem(TOKEN_KEY, params.get('token'))
    params.delete('token')
    const rest = params.toString()
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : ''))
  }
  state.token = sessionStorage.getItem(TOKEN_KEY)
  document.getElementById('signin').addEventListener('submit', (e) => {
    e.preventDefault()
    state.token = document.getElementById('token-input').value.trim()
    sessionStorage.setItem(TOKEN_KEY, state.token)
    void connect()
  })
  if (state.token) void connect()
  else showSignIn('')
}

function showSignIn (message) {
  document.getElementById('signin').hidden = false
  document.getElementById('panels').hidden = true
  document.getElementById('signin-error').textContent = message
  setConnection('signed out', 'down')
}

function setConnection (text, cls) {
  const el = document.getElementById('connection')
  el.textContent = text
  el.className = cls
}

async function connect () {
  let response
  try {
    response = await fetch('/dashboard/stream', { headers: { authorization: `Bearer ${state.token}`, accept: 'text/event-stream' } })
  } catch (err) {
    return retry(`offline (${err.message})`)
  }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY)
    return showSignIn('The node refused this token: it is wrong or belongs to another node.')
  }
  if (!response.ok || response.body === null) return retry(`HTTP ${response.status}`)
  document.getElementById('signin').hidden = true
  document.getElementById('panels').hidden = false
  setConnection('live', 'live')
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value
      let end
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        handleFrame(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
      }
    }
  } catch (err) {
    return retry(`stream ended (${err.message})`)
  }
  return retry('stream ended')
}

function retry (why) {
  setConnection(`reconnecting: ${why}`, 'down')
  setTimeout(() => { void connect() }, RECONNECT_MS)
}

function handleFrame (frame) {
  let event = 'message'
  const data = []
  for (const line of frame.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
  }
  if (data.length === 0) return
  const body = JSON.parse(data.join('\n'))
  if (event === 'snapshot') render(body)
  else if (event === 'error') setConnection(`error: ${body.error?.message ?? 'unknown'}`, 'down')
}

const short = (id) => (id ? `…${id.slice(-8)}` : '—')
const nameOf = (id) => (id === null || id === undefined ? '—' : state.names.get(id) ?? short(id))
const ago = (ms, now) => (ms ? `${Math.max(0, Math.round((now - ms) / 1000))} s` : '—')

function render (snap) {
  state.updates++
  state.names.set(snap.node.peerId, snap.node.name)
  for (const p of snap.peers) state.names.set(p.peerId, p.name)
  const dt = state.previous ? Math.max(0.001, (snap.timeMs - state.previous.timeMs) / 1000) : null
  const rate = (now, before) => (dt === null || before === undefined ? null : Math.max(0, (now - before) / dt))

  document.getElementById('node-name').textContent = snap.node.name
  document.getElementById('node-id').textContent = snap.node.peerId
  document.getElementById('updated').textContent = `updated ${new Date(snap.timeMs).toLocaleTimeString()} (#${state.updates})`
  document.body.dataset.updates = String(state.updates)

  renderPeers(snap)
  renderMesh(snap)
  renderCounters(snap, rate)
  renderTopics(snap, rate)
  renderGroups(snap)
  renderQueues(snap)
  state.previous = snap
}

/** A d3 data join of table rows keyed by `key`, each row's cells from `cells(d)`: [text, className?]. */
function rows (selector, data, key, cells, empty) {
  const tbody = d3.select(selector).select('tbody')
  const width = d3.select(selector).selectAll('thead th').size()
  const list = data.length > 0 ? data : [{ __empty: true }]
  tbody.selectAll('tr')
    .data(list, (d) => (d.__empty ? '__empty' : key(d)))
    .join('tr')
    .attr('data-key', (d) => (d.__empty ? null : key(d)))
    .each(function (d) {
      const row = d3.select(this)
      const values = d.__empty ? [[empty, 'empty', width]] : cells(d)
      row.selectAll('td')
        .data(values)
        .join('td')
        .attr('class', (c) => c[1] ?? null)
        .attr('colspan', (c) => c[2] ?? null)
        .each(function (c) {
          if (c[1] === 'status-cell') {
            d3.select(this).text(null).selectAll('span').data([c[0]]).join('span').attr('class', `status ${c[0]}`).text((t) => t)
          } else {
            d3.select(this).text(c[0])
          }
        })
    })
}

function renderPeers (snap) {
  const counts = d3.rollup(snap.peers, (v) => v.length, (p) => p.status)
  document.getElementById('peers-summary').textContent =
    `${snap.peersTotal} known · ${counts.get('alive') ?? 0} alive · ${counts.get('suspect') ?? 0} suspect · ${counts.get('dead') ?? 0} dead`
  rows('#peers', snap.peers, (p) => p.peerId, (p) => [
    [p.name], [short(p.peerId), 'mono'], [p.status, 'status-cell'], [p.connected ? 'connected' : '—'], [ago(p.lastSeenMs, snap.timeMs), 'num']
  ], 'no peers yet')
}

const mesh = { simulation: null, nodes: new Map() }

function renderMesh (snap) {
  const svg = d3.select('#mesh')
  const width = svg.node().clientWidth || 400
  const height = 260
  const linked = new Set(snap.links)
  const wanted = [{ id: snap.node.peerId, name: snap.node.name, status: 'self' },
    ...snap.peers.map((p) => ({ id: p.peerId, name: p.name, status: p.status }))]
  const nodes = wanted.map((w) => Object.assign(mesh.nodes.get(w.id) ?? { x: width / 2 + (Math.random() - 0.5) * 40, y: height / 2 + (Math.random() - 0.5) * 40 }, w))
  mesh.nodes = new Map(nodes.map((n) => [n.id, n]))
  const links = snap.peers.filter((p) => linked.has(p.peerId)).map((p) => ({ source: snap.node.peerId, target: p.peerId }))

  if (mesh.simulation === null) {
    mesh.simulation = d3.forceSimulation()
      .force('charge', d3.forceManyBody().strength(-160))
      .force('link', d3.forceLink().id((d) => d.id).distance(80))
      .force('x', d3.forceX(() => width / 2).strength(0.05))
      .force('y', d3.forceY(() => height / 2).strength(0.08))
      .on('tick', drawMesh)
    svg.append('g').attr('class', 'links')
    svg.append('g').attr('class', 'nodes')
  }
  const structure = `${nodes.map((n) => n.id + n.status).join()}|${links.map((l) => l.target).join()}`
  mesh.simulation.nodes(nodes)
  mesh.simulation.force('link').links(links)
  if (structure !== mesh.structure) mesh.simulation.alpha(0.6).restart()
  mesh.structure = structure
  drawMesh()
}

function drawMesh () {
  const svg = d3.select('#mesh')
  const color = { self: '#3a6fd8', alive: '#2e9d5b', suspect: '#d99a1e', dead: '#c8423b' }
  svg.select('g.links').selectAll('line')
    .data(mesh.simulation.force('link').links(), (l) => l.target.id ?? l.target)
    .join('line')
    .attr('stroke', '#b8bfcf')
    .attr('x1', (l) => l.source.x).attr('y1', (l) => l.source.y)
    .attr('x2', (l) => l.target.x).attr('y2', (l) => l.target.y)
  const g = svg.select('g.nodes').selectAll('g.node')
    .data(mesh.simulation.nodes(), (n) => n.id)
    .join((enter) => {
      const e = enter.append('g').attr('class', 'node')
      e.append('circle').attr('r', 7)
      e.append('text').attr('dx', 10).attr('dy', 4)
      return e
    })
    .attr('data-peer-id', (n) => n.id)
    .attr('transform', (n) => `translate(${n.x},${n.y})`)
  g.select('circle').attr('fill', (n) => color[n.status] ?? '#999')
  g.select('text').text((n) => n.name)
}

const COUNTERS = [
  ['eventsDelivered', 'events delivered'], ['eventsPublished', 'events published'], ['eventsRejected', 'events rejected'],
  ['docsUpdates', 'doc updates'], ['statePuts', 'state puts'], ['stateGets', 'state gets'], ['raftFrames', 'raft frames'], ['directServed', 'direct requests served']
]

function renderCounters (snap, rate) {
  const before = state.previous?.counters ?? {}
  const delivered = rate(snap.counters.eventsDelivered, before.eventsDelivered)
  const published = rate(snap.counters.eventsPublished, before.eventsPublished)
  if (delivered !== null) {
    state.history.push({ t: snap.timeMs, delivered, published })
    if (state.history.length > HISTORY_MAX) state.history.shift()
  }
  document.getElementById('rates-now').textContent = delivered === null ? '' : `${delivered.toFixed(1)} delivered/s`
  rows('#counters', COUNTERS, (c) => c[0], ([key, label]) => {
    const r = rate(snap.counters[key], before[key])
    return [[label], [String(snap.counters[key]), 'num'], [r === null ? '—' : r.toFixed(1), 'num']]
  }, '')
  drawRates()
}

function drawRates () {
  const svg = d3.select('#rates')
  const width = svg.node().clientWidth || 400
  const height = 160
  const margin = { top: 8, right: 10, bottom: 20, left: 36 }
  const data = state.history
  const x = d3.scaleTime().domain(d3.extent(data, (d) => d.t)).range([margin.left, width - margin.right])
  const y = d3.scaleLinear().domain([0, Math.max(1, d3.max(data, (d) => Math.max(d.delivered, d.published)) ?? 1)]).nice().range([height - margin.bottom, margin.top])
  svg.selectAll('g.axis-x').data([0]).join('g').attr('class', 'axis-x').attr('transform', `translate(0,${height - margin.bottom})`).call(d3.axisBottom(x).ticks(4))
  svg.selectAll('g.axis-y').data([0]).join('g').attr('class', 'axis-y').attr('transform', `translate(${margin.left},0)`).call(d3.axisLeft(y).ticks(4))
  const series = [['delivered', '#3a6fd8'], ['published', '#2e9d5b']]
  svg.selectAll('path.series').data(series).join('path').attr('class', 'series')
    .attr('fill', 'none').attr('stroke', (s) => s[1]).attr('stroke-width', 1.5)
    .attr('d', (s) => (data.length > 1 ? d3.line().x((d) => x(d.t)).y((d) => y(d[s[0]]))(data) : null))
}

function renderTopics (snap, rate) {
  const before = new Map((state.previous?.topics ?? []).map((t) => [t.topic, t.count]))
  rows('#topics', snap.topics, (t) => t.topic, (t) => {
    const r = rate(t.count, before.get(t.topic))
    return [[t.topic], [String(t.count), 'num'], [r === null ? '—' : r.toFixed(1), 'num'], [String(t.peers), 'num'], [t.caughtUp ? 'yes' : 'catching up']]
  }, 'no event topics joined')
}

function renderGroups (snap) {
  rows('#groups', snap.groups, (g) => g.name, (g) => [
    [g.name], [g.leader === null ? 'electing…' : nameOf(g.leader), 'leader'], [g.role],
    [String(g.term), 'num'], [String(g.committed), 'num'], [String(g.applied), 'num'], [g.bft ? String(g.bft.committedHeight) : '—', 'num']
  ], 'no groups joined')
}

function renderQueues (snap) {
  rows('#queues', snap.queues, (q) => q.name, (q) => [
    [q.name],
    [Object.entries(q.byState).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(' · ') || 'empty'],
    [String(q.deadLetters), 'num']
  ], 'no task queues')
}

signIn()
