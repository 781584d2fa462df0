// Table tests for the CLI's flag parsing: what each command line means, and that bad
// usage is a UsageError naming the flag and saying why.

import assert from 'node:assert/strict'
import { parseCommand, usage, UsageError, DEFAULT_LISTEN, FLAGS, NAME_CHARS_MAX, PEERS_MAX } from '../../node/args.ts'

const PEER_ID = '12D3KooWEmDMhpjUnm8W56dYDqvMsBA6VphXaYyroy8UGJLy5rsJ'
const PEER = `/ip4/192.168.1.20/tcp/4001/p2p/${PEER_ID}`
const PEER_2 = `/ip4/127.0.0.1/tcp/4002/p2p/${PEER_ID}`

describe('node/args parseCommand', () => {
  const valid: Array<[string, string[], Record<string, unknown>]> = [
    ['no flags: default listen, no peers, memory identity', [], { peers: [], listen: [DEFAULT_LISTEN], dataDir: undefined, name: undefined, json: false }],
    ['one --peer', ['--peer', PEER], { peers: [PEER] }],
    ['repeated --peer, in order', ['--peer', PEER, '--peer', PEER_2], { peers: [PEER, PEER_2] }],
    ['the same --peer twice counts once', ['--peer', PEER, '--peer', PEER], { peers: [PEER] }],
    ['--peer=<addr> inline form', [`--peer=${PEER}`], { peers: [PEER] }],
    ['a DNS peer', ['--peer', `/dns4/agents.local/tcp/4001/p2p/${PEER_ID}`], { peers: [`/dns4/agents.local/tcp/4001/p2p/${PEER_ID}`] }],
    ['--listen replaces the default', ['--listen', '/ip4/127.0.0.1/tcp/0'], { listen: ['/ip4/127.0.0.1/tcp/0'] }],
    ['repeated --listen, IPv6 too', ['--listen', '/ip4/0.0.0.0/tcp/4001', '--listen', '/ip6/::/tcp/4001'], { listen: ['/ip4/0.0.0.0/tcp/4001', '/ip6/::/tcp/4001'] }],
    ['--data-dir', ['--data-dir', './.data/a'], { dataDir: './.data/a' }],
    ['--name', ['--name', 'summariser 1'], { name: 'summariser 1' }],
    ['--json', ['--json'], { json: true }],
    ['everything at once', ['--json', '--name', 'a', '--data-dir', '/tmp/x', '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', PEER], {
      peers: [PEER], listen: ['/ip4/127.0.0.1/tcp/0'], dataDir: '/tmp/x', name: 'a', json: true
    }]
  ]
  for (const [title, argv, expected] of valid) {
    it(`accepts ${title}`, () => {
      const command = parseCommand(argv)
      assert.equal(command.kind, 'run')
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual((command as unknown as Record<string, unknown>)[key], value, key)
      }
    })
  }

  it('--help and -h win over other flags; --version too', () => {
    assert.deepEqual(parseCommand(['--help']), { kind: 'help' })
    assert.deepEqual(parseCommand(['-h']), { kind: 'help' })
    assert.deepEqual(parseCommand(['--json', '--help']), { kind: 'help' })
    assert.deepEqual(parseCommand(['--version']), { kind: 'version' })
  })

  const invalid: Array<[string, string[], string | undefined, RegExp]> = [
    ['an unknown flag', ['--bogus'], '--bogus', /unknown flag/],
    ['a typo, with a suggestion', ['--peers', PEER], '--peers', /did you mean --peer\?/],
    ['--peer without a value', ['--peer'], '--peer', /missing value; expected <multiaddr>/],
    ['--peer followed by another flag', ['--peer', '--json'], '--peer', /missing value/],
    ['--data-dir without a value', ['--data-dir'], '--data-dir', /missing value; expected <path>/],
    ['--name without a value', ['--name'], '--name', /missing value; expected <label>/],
    ['--json with a value', ['--json=yes'], '--json', /takes no value/],
    ['a malformed --peer multiaddr', ['--peer', 'localhost:4001'], '--peer', /"localhost:4001" is not a valid multiaddr/],
    ['a --peer with a bad IP', ['--peer', `/ip4/300.1.1.1/tcp/1/p2p/${PEER_ID}`], '--peer', /not a valid multiaddr/],
    ['a --peer without /p2p/', ['--peer', '/ip4/127.0.0.1/tcp/4001'], '--peer', /lacks \/p2p\/<peer-id>/],
    ['a --peer with a bad peer id', ['--peer', '/ip4/127.0.0.1/tcp/4001/p2p/notapeer'], '--peer', /"notapeer" .* is not a valid peer id/],
    ['a --peer that is not TCP', ['--peer', `/ip4/127.0.0.1/udp/4001/p2p/${PEER_ID}`], '--peer', /not a TCP address/],
    ['a --listen that is not TCP', ['--listen', '/ip4/0.0.0.0/udp/4001'], '--listen', /not a TCP listen address/],
    ['a --listen with a peer id', ['--listen', `/ip4/0.0.0.0/tcp/4001/p2p/${PEER_ID}`], '--listen', /not a TCP listen address/],
    ['a --listen port out of range', ['--listen', '/ip4/0.0.0.0/tcp/70000'], '--listen', /not a valid multiaddr/],
    ['--data-dir twice', ['--data-dir', 'a', '--data-dir', 'b'], '--data-dir', /given more than once/],
    ['--name twice', ['--name', 'a', '--name', 'b'], '--name', /given more than once/],
    ['--json twice', ['--json', '--json'], '--json', /given more than once/],
    ['an empty --data-dir', ['--data-dir='], '--data-dir', /path is empty/],
    ['an empty --name', ['--name', ' '], '--name', /label is empty/],
    ['a --name too long', ['--name', 'x'.repeat(NAME_CHARS_MAX + 1)], '--name', new RegExp(`at most ${NAME_CHARS_MAX} `)],
    ['a --name with a newline', ['--name', 'a\nb'], '--name', /control characters/],
    ['too many --peer', Array.from({ length: PEERS_MAX + 1 }, (_, i) => ['--peer', `/ip4/127.0.0.1/tcp/${4000 + i}/p2p/${PEER_ID}`]).flat(), '--peer', /at most 32/],
    ['a stray address without --peer', [PEER], undefined, /unexpected argument ".*": .*did you mean --peer/]
  ]
  for (const [title, argv, flag, message] of invalid) {
    it(`rejects ${title}`, () => {
      assert.throws(() => parseCommand(argv), (err: unknown) => {
        assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`)
        assert.equal(err.flag, flag)
        if (flag !== undefined) assert.ok(err.message.startsWith(`${flag}: `), `message should name ${flag}: ${err.message}`)
        assert.match(err.message, message)
        return true
      })
    })
  }

  it('usage() lists every flag', () => {
    const text = usage('npm run node --')
    for (const name of Object.keys(FLAGS)) assert.match(text, new RegExp(`--${name}\\b`))
    assert.match(text, /^Usage: npm run node -- \[options\]/)
  })
})
