// /metrics on real nodes: three nodes on loopback TCP, the API on the first; the test scrapes
// the Prometheus text, makes traffic (events, a raft group, state puts), and checks that the
// agentmesh_* series move with it and that libp2p's own series are there.

import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { startApiServer } from '../../../node/api/server.ts'
import type { ApiServer } from '../../../node/api/server.ts'
import { stopAll, waitFor } from '../../helpers.ts'

const TOKEN = 'metrics-test-token'
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

/** Parse Prometheus text into `name{labels}` → value (label order as written by prom-client). */
function parse (text: string): Map<string, number> {
  const series = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    series.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return series
}

describe('ops: /metrics on real nodes', function () {
  this.timeout(120_000)
  let nodes: AgentNode[] = []
  let api: ApiServer

  before(async () => {
    const registry = new Registry()
    const first = await createAgentNode({ listen: LOOPBACK, name: 'alpha', prometheusRegistry: registry })
    nodes = [first]
    for (const name of ['beta', 'gamma']) nodes.push(await createAgentNode({ listen: LOOPBACK, name, peers: [first.addresses()[0]!] }))
    api = await startApiServer({ node: first, host: '127.0.0.1', port: 0, token: TOKEN, ops: { registry } })
  })

  after(async () => {
    await api?.close()
    await stopAll(nodes)
  })

  async function scrape (): Promise<Map<string, number>> {
    const response = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/)
    return parse(await response.text())
  }

  it('refuses a scrape without the token', async () => {
    const response = await fetch(`${api.url}/metrics`)
    assert.equal(response.status, 401)
    assert.match(await response.text(), /bearer token/)
  })

  it('lists getMetrics and streamDashboard in the OpenAPI document', async () => {
    const doc = await (await fetch(`${api.url}/openapi.json`)).json() as { paths: Record<string, Record<string, { operationId?: string }>> }
    assert.equal(doc.paths['/metrics']?.get?.operationId, 'getMetrics')
    assert.equal(doc.paths['/dashboard/stream']?.get?.operationId, 'streamDashboard')
  })

  it('serves libp2p\'s own metrics next to agentmesh_*', async () => {
    const series = await scrape()
    const names = [...series.keys()]
    assert.ok(names.some(n => n.startsWith('libp2p_connection_manager_connections')), 'libp2p connection metrics')
    assert.ok(names.some(n => n.startsWith('agentmesh_node_info{') && n.includes('name="alpha"')), 'node info')
    // Every agentmesh family follows the conventions: counters end in _total, and the text says their type.
    const text = await (await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()
    for (const [, name, type] of text.matchAll(/^# TYPE (agentmesh_\S+) (\S+)$/gm)) {
      if (type === 'counter') assert.match(name!, /_total$/, `${name} is a counter without _total`)
      else assert.doesNotMatch(name!, /_total$/, `${name} is a ${type} named like a counter`)
    }
  })

  it('moves with traffic: peers, events, a raft group, state', async () => {
    await waitFor(async () => (await scrape()).get('agentmesh_peers{status="alive"}') === 2, 'two alive peers in agentmesh_peers')
    const before = await scrape()

    const [alpha, beta, gamma] = nodes as [AgentNode, AgentNode, AgentNode]
    await alpha.events.join('orders')
    await gamma.events.join('orders')
    const members = nodes.map(n => n.peerId)
    const groups = await Promise.all(nodes.map(async n => n.groups.join('jobs', { members })))
    await groups[0]!.waitForLeader({ timeoutMs: 60_000 })
    await waitFor(() => alpha.events.status('orders').peers > 0, 'alpha to see a peer on the orders topic', 30_000)
    for (let i = 0; i < 5; i++) await beta.events.publish('orders', { type: 'placed', data: { i } })
    for (let i = 0; i < 3; i++) await groups[1]!.kv.put(`k${i}`, `v${i}`, { timeoutMs: 60_000 })
    await alpha.state.put('ops/test', 'hello')

    await waitFor(async () => ((await scrape()).get('agentmesh_events_delivered_total') ?? 0) >= (before.get('agentmesh_events_delivered_total') ?? 0) + 5, 'alpha to count five delivered events', 30_000)
    await waitFor(async () => ((await scrape()).get('agentmesh_raft_applied_index{group="jobs"}') ?? 0) >= 3, 'alpha to apply the three puts of group jobs', 30_000)
    const after = await scrape()
    assert.ok((after.get('agentmesh_raft_term{group="jobs"}') ?? 0) >= 1, 'a term was elected')
    assert.ok((after.get('agentmesh_raft_commit_index{group="jobs"}') ?? 0) >= 3)
    assert.equal(after.get('agentmesh_raft_has_leader{group="jobs"}'), 1)
    assert.ok((after.get('agentmesh_raft_leader_changes_total{group="jobs"}') ?? 0) >= 1, 'the first leader was counted')
    assert.ok((after.get('agentmesh_raft_frames_total{direction="received"}') ?? 0) > (before.get('agentmesh_raft_frames_total{direction="received"}') ?? 0))
    // At least the test's own put (the node may also write its own records meanwhile, e.g. its agent card).
    assert.ok((after.get('agentmesh_state_puts_total') ?? 0) >= (before.get('agentmesh_state_puts_total') ?? 0) + 1)
    assert.ok((after.get('agentmesh_state_records_owned') ?? 0) >= 1)
    // Latency histograms: alpha's own put, and the proposals alpha made (none: beta proposed) stay apart per node.
    assert.equal(after.get('agentmesh_state_put_duration_seconds_count{outcome="ok"}'), 1)
    assert.ok(after.get('agentmesh_state_put_duration_seconds_bucket{le="+Inf",outcome="ok"}') === 1)
    assert.equal(after.get('agentmesh_raft_proposal_duration_seconds_count{group="jobs",outcome="ok"}'), undefined, 'beta\'s proposals are not alpha\'s')
    await groups[0]!.kv.put('mine', 'alpha', { timeoutMs: 60_000 })
    assert.equal((await scrape()).get('agentmesh_raft_proposal_duration_seconds_count{group="jobs",outcome="ok"}'), 1)
    // One node leads: the three is_leader series add up to one across the group (here: alpha's view only).
    assert.ok([0, 1].includes(after.get('agentmesh_raft_is_leader{group="jobs"}')!))
  })

  it('counts tasks per queue and state, and the task layer\'s proposals', async () => {
    const [alpha, beta] = nodes as [AgentNode, AgentNode, AgentNode]
    const members = nodes.map(n => n.peerId)
    const queues = await Promise.all(nodes.map(async n => n.tasks.open('ops-q', { members, timeoutMs: 60_000 })))
    for (let i = 0; i < 3; i++) await queues[1]!.submit({ i })
    // Nobody works the queue: three tasks wait in `submitted` on alpha's replica.
    await waitFor(async () => (await scrape()).get('agentmesh_tasks{queue="ops-q",state="submitted"}') === 3, 'alpha to count three submitted tasks', 30_000)
    const worker = beta.tasks.work('ops-q', (input) => input)
    await waitFor(async () => (await scrape()).get('agentmesh_tasks{queue="ops-q",state="completed"}') === 3, 'alpha to count three completed tasks', 30_000)
    await worker.stop()
    const series = await scrape()
    assert.equal(series.get('agentmesh_tasks{queue="ops-q",state="submitted"}'), 0, 'no task left submitted')
    assert.equal(series.get('agentmesh_tasks_dead_letters{queue="ops-q"}'), 0)
    assert.equal(series.get('agentmesh_tasks_workers{queue="ops-q",breaker="closed"}'), 1, 'beta\'s worker, breaker closed')
    assert.equal(series.get('agentmesh_tasks_lease_expiries_total{queue="ops-q"}'), 0)
    assert.ok((series.get('agentmesh_tasks_commands_total') ?? 0) >= (series.get('agentmesh_tasks_proposals_total') ?? 0))
    assert.equal(alpha.tasks.stats().hosted.find(q => q.name === 'ops-q')?.byState.completed, 3)
  })
})
