// The live dashboard in a real browser: Debian's chromium, headless, driven by playwright-core,
// opens `/?token=…` on a real node's API and must show what a person would look for: the peers
// that joined, a group's leader, a task queue's counts, and a live update (a node that joins
// after the page loaded, tasks completing).
// The test saves a screenshot in its temp dir (AGENTMESH_SCREENSHOT=<file> copies it there).

import assert from 'node:assert/strict'
import { access, copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { createAgentNode } from '../../../src/index.ts'
import type { AgentNode } from '../../../src/index.ts'
import { startApiServer } from '../../../node/api/server.ts'
import type { ApiServer } from '../../../node/api/server.ts'
import { stopAll, tempDir } from '../../helpers.ts'

const TOKEN = 'dashboard-test-token'
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']
/** Where .ci/run installs chromium (Debian's package); CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Generous: the machine runs many tests at once, and a first election can take a few seconds. */
const SEE_TIMEOUT_MS = 60_000

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false // not there: the caller skips with the install command
  }
}

describe('ops: the dashboard in headless chromium', function () {
  this.timeout(180_000)
  let nodes: AgentNode[] = []
  let api: ApiServer
  let browser: Browser | undefined
  let page: Page
  let dir: Awaited<ReturnType<typeof tempDir>>

  before(async function () {
    if (!(await exists(CHROMIUM))) {
      console.log(`    skipped: no browser at ${CHROMIUM}; install it with: apt-get update && apt-get install -y chromium (.ci/run does)`)
      this.skip()
    }
    dir = await tempDir('agentmesh-dashboard-')
    const first = await createAgentNode({ listen: LOOPBACK, name: 'alpha' })
    nodes = [first]
    for (const name of ['beta', 'gamma']) nodes.push(await createAgentNode({ listen: LOOPBACK, name, peers: [first.addresses()[0]!] }))
    const members = nodes.map(n => n.peerId)
    const groups = await Promise.all(nodes.map(async n => n.groups.join('jobs', { members })))
    await groups[0]!.waitForLeader({ timeoutMs: SEE_TIMEOUT_MS })
    for (const node of nodes) await node.events.join('orders')
    // A task queue hosted by the three, with work waiting: the page shows its counts.
    const queues = await Promise.all(nodes.map(async n => n.tasks.open('review', { members, timeoutMs: SEE_TIMEOUT_MS })))
    for (let i = 0; i < 3; i++) await queues[1]!.submit({ draft: i })
    api = await startApiServer({ node: first, host: '127.0.0.1', port: 0, token: TOKEN })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  })

  after(async () => {
    await browser?.close()
    await api?.close()
    await stopAll(nodes)
    await dir?.remove()
  })

  it('refuses a wrong token and says how to sign in', async () => {
    await page.goto(`${api.url}/?token=wrong`)
    await page.locator('#signin-error').filter({ hasText: 'refused this token' }).waitFor({ timeout: SEE_TIMEOUT_MS })
    assert.equal(new URL(page.url()).search, '', 'the token is dropped from the address bar')
  })

  it('shows the peers that joined, the group leader, a queue\'s task counts, and updates live', async () => {
    await page.goto(`${api.url}/?token=${TOKEN}`)
    assert.equal(new URL(page.url()).search, '', 'the token is dropped from the address bar')
    await page.locator('#connection.live').waitFor({ timeout: SEE_TIMEOUT_MS })
    const peers = page.locator('#peers tbody')
    for (const name of ['beta', 'gamma']) {
      await peers.locator('tr', { hasText: name }).locator('.status.alive').waitFor({ timeout: SEE_TIMEOUT_MS })
    }
    // The leader cell names a member of the group by its announced name.
    const leaderId = nodes[0]!.groups.get('jobs').leader()
    assert.ok(leaderId !== null)
    const leaderName = nodes.find(n => n.peerId === leaderId)!.name
    await page.locator('#groups tr[data-key="jobs"] td.leader', { hasText: leaderName }).waitFor({ timeout: SEE_TIMEOUT_MS })
    await page.locator('#topics tr[data-key="orders"]').waitFor({ timeout: SEE_TIMEOUT_MS })
    await page.locator('#mesh g.node[data-peer-id]').nth(2).waitFor({ timeout: SEE_TIMEOUT_MS })
    await page.locator('#queues tr[data-key="review"]', { hasText: 'submitted 3' }).waitFor({ timeout: SEE_TIMEOUT_MS })
    // A worker on gamma does the three: the counts move without a reload.
    const worker = nodes[2]!.tasks.work('review', (input) => input)
    await page.locator('#queues tr[data-key="review"]', { hasText: 'completed 3' }).waitFor({ timeout: SEE_TIMEOUT_MS })
    await worker.stop()

    // Live: a node started after the page loaded appears without a reload, and events move the counter.
    nodes.push(await createAgentNode({ listen: LOOPBACK, name: 'delta', peers: [nodes[0]!.addresses()[0]!] }))
    await peers.locator('tr', { hasText: 'delta' }).locator('.status.alive').waitFor({ timeout: SEE_TIMEOUT_MS })
    // Published by beta: alpha's page counts events that crossed the mesh.
    for (let i = 0; i < 5; i++) await nodes[1]!.events.publish('orders', { type: 'placed', data: { i } })
    await page.locator('#topics tr[data-key="orders"] td:nth-child(2)', { hasText: '5' }).waitFor({ timeout: SEE_TIMEOUT_MS })

    const screenshot = join(dir.path, 'dashboard.png')
    await page.screenshot({ path: screenshot, fullPage: true })
    assert.ok(await exists(screenshot))
    if (process.env.AGENTMESH_SCREENSHOT !== undefined) await copyFile(screenshot, process.env.AGENTMESH_SCREENSHOT)
  })
})
