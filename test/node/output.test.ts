// Tests for what the CLI prints: address order and filtering, the banner, NDJSON lines.

import assert from 'node:assert/strict'
import { orderAddresses, bannerText, jsonLine } from '../../node/output.ts'

const ID = '12D3KooWEmDMhpjUnm8W56dYDqvMsBA6VphXaYyroy8UGJLy5rsJ'
const at = (host: string, port = 4001): string => `${host}/tcp/${port}/p2p/${ID}`

describe('node/output', () => {
  it('orders addresses LAN first, loopback last, and drops ones nobody can dial', () => {
    const input = [
      at('/ip4/127.0.0.1'), at('/ip4/0.0.0.0'), at('/ip4/172.17.0.1'), at('/ip4/203.0.113.9'),
      at('/ip4/192.168.1.5'), at('/ip6/::1'), at('/ip6/fe80::1'), at('/ip4/169.254.3.3'), at('/ip4/10.0.0.7'), at('/ip6/::')
    ]
    assert.deepEqual(orderAddresses(input), [
      at('/ip4/192.168.1.5'), at('/ip4/10.0.0.7'), at('/ip4/172.17.0.1'), at('/ip4/203.0.113.9'), at('/ip4/127.0.0.1'), at('/ip6/::1')
    ])
  })

  it('keeps the first of duplicates and ignores text that is no multiaddr', () => {
    assert.deepEqual(orderAddresses([at('/ip4/127.0.0.1'), 'garbage', at('/ip4/127.0.0.1')]), [at('/ip4/127.0.0.1')])
  })

  it('the banner shows the peer id, the addresses and the exact join commands', () => {
    const text = bannerText({ peerId: ID, name: 'a', addresses: [at('/ip4/127.0.0.1'), at('/ip4/192.168.1.5')], command: 'npm run node --', dataDir: undefined })
    assert.match(text, new RegExp(`peer id: +${ID}`))
    assert.ok(text.includes(`Join from another machine on this network:\n  npm run node -- --peer ${at('/ip4/192.168.1.5')}`))
    assert.ok(text.includes(`Start another node on this machine:\n  npm run node -- --peer ${at('/ip4/127.0.0.1')}`))
    assert.match(text, /in memory \(pass --data-dir/)
  })

  it('the banner omits the other-machine command when only loopback is dialable', () => {
    const text = bannerText({ peerId: ID, name: 'a', addresses: [at('/ip4/127.0.0.1')], command: 'npx agentmesh', dataDir: '/var/lib/a' })
    assert.doesNotMatch(text, /another machine/)
    assert.ok(text.includes(`npx agentmesh --peer ${at('/ip4/127.0.0.1')}`))
    assert.match(text, /kept in \/var\/lib\/a/)
  })

  it('with the API, the banner prints the dashboard link that signs a browser in, and /metrics', () => {
    const text = bannerText({ peerId: ID, name: 'a', addresses: [at('/ip4/127.0.0.1')], command: 'npx agentmesh', dataDir: '/var/lib/a', api: { url: 'http://127.0.0.1:7700', tokenFile: '/var/lib/a/api-token', token: 'tok123' } })
    assert.ok(text.includes('Dashboard: http://127.0.0.1:7700/?token=tok123'))
    assert.ok(text.includes('Prometheus metrics: http://127.0.0.1:7700/metrics'))
  })

  it('jsonLine writes one object per line', () => {
    assert.equal(jsonLine({ event: 'stopped' }), '{"event":"stopped"}\n')
    assert.deepEqual(JSON.parse(jsonLine({ event: 'peer:join', peerId: ID })), { event: 'peer:join', peerId: ID })
  })
})
