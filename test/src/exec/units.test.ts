// Table tests for the pure parts of the `--exec` bridge: splitting the command, framing lines
// under a bound, parsing the child's lines, and the restart policy with its crash-loop breaker.

import assert from 'node:assert/strict'
import { splitCommand, ExecCommandError, EXEC_COMMAND_CHARS_MAX } from '../../../src/exec/command.ts'
import { LineSplitter, EXEC_LINE_BYTES_MAX } from '../../../src/exec/lines.ts'
import type { LineEvent } from '../../../src/exec/lines.ts'
import { parseChildLine, encodeNodeLine, ExecProtocolError, EXEC_CONCURRENCY_MAX, EXEC_QUEUES_MAX } from '../../../src/exec/messages.ts'
import { decideRestart, DEFAULT_RESTART_POLICY } from '../../../src/exec/policy.ts'
import { payloadFromJson, payloadToJson, EXEC_JSON_DEPTH_MAX } from '../../../src/exec/json.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('src/exec splitCommand', () => {
  const valid: Array<[string, string[]]> = [
    ['python3 worker.py', ['python3', 'worker.py']],
    ['  python3   -u  worker.py  ', ['python3', '-u', 'worker.py']],
    ["python3 -c 'print(1); print(2)'", ['python3', '-c', 'print(1); print(2)']],
    ['node "my worker.js" --name "a \\"b\\""', ['node', 'my worker.js', '--name', 'a "b"']],
    ['echo a\\ b', ['echo', 'a b']],
    ["echo ''", ['echo', '']],
    ["sh -c 'a | b > c'", ['sh', '-c', 'a | b > c']],
    ['echo $HOME', ['echo', '$HOME']]
  ]
  for (const [command, argv] of valid) {
    it(`splits ${command}`, () => { assert.deepEqual(splitCommand(command), argv) })
  }
  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['python3 "worker.py', /unclosed " quote/],
    ["python3 'worker.py", /unclosed ' quote/],
    ['worker | tee log', /shell operator "\|".*sh -c/],
    ['worker > out', /shell operator ">"/],
    ['worker; rm x', /shell operator ";"/],
    ['worker &', /shell operator "&"/],
    ['echo $(id)', /shell operator "\$\("/],
    ['echo \\', /lone backslash/],
    ['x'.repeat(EXEC_COMMAND_CHARS_MAX + 1), /EXEC_COMMAND_CHARS_MAX/]
  ]
  for (const [command, message] of invalid) {
    it(`refuses ${JSON.stringify(command.slice(0, 40))}`, () => {
      assert.throws(() => splitCommand(command), (err: unknown) => err instanceof ExecCommandError && message.test(err.message))
    })
  }
})

describe('src/exec LineSplitter', () => {
  const run = (splitter: LineSplitter, chunks: string[]): LineEvent[] => [...chunks.flatMap(c => splitter.push(bytes(c))), ...splitter.end()]

  it('splits lines across chunk boundaries, drops \\r, keeps a last line without newline', () => {
    assert.deepEqual(run(new LineSplitter(), ['{"a":', '1}\n{"b"', ':2}\r\n\n', 'tail']), [
      { kind: 'line', text: '{"a":1}' }, { kind: 'line', text: '{"b":2}' }, { kind: 'line', text: '' }, { kind: 'line', text: 'tail' }
    ])
  })
  it('decodes a UTF-8 character split between chunks', () => {
    const euro = bytes('€\n')
    const splitter = new LineSplitter()
    assert.deepEqual([...splitter.push(euro.subarray(0, 1)), ...splitter.push(euro.subarray(1))], [{ kind: 'line', text: '€' }])
  })
  it('a line exactly at the bound passes; one byte more is over-long', () => {
    assert.deepEqual(run(new LineSplitter(4), ['abcd\n']), [{ kind: 'line', text: 'abcd' }])
    assert.deepEqual(run(new LineSplitter(4), ['abcde\n']), [{ kind: 'overlong', bytesMax: 4 }])
  })
  it('reports an over-long line once, discards it up to the newline, never holds more than the bound, and resumes', () => {
    const splitter = new LineSplitter(8)
    const events: LineEvent[] = []
    events.push(...splitter.push(bytes('ok\n0123')))
    for (let i = 0; i < 100; i++) {
      events.push(...splitter.push(bytes('0123456789')))
      assert.ok(splitter.bufferedBytes <= 8)
    }
    events.push(...splitter.push(bytes('end\nnext\n')))
    assert.deepEqual(events, [{ kind: 'line', text: 'ok' }, { kind: 'overlong', bytesMax: 8 }, { kind: 'line', text: 'next' }])
  })
  it('defaults to EXEC_LINE_BYTES_MAX = 1 MiB', () => {
    assert.equal(EXEC_LINE_BYTES_MAX, 1024 * 1024)
    const splitter = new LineSplitter()
    assert.deepEqual(splitter.push(new Uint8Array(EXEC_LINE_BYTES_MAX + 1).fill(0x61)), [{ kind: 'overlong', bytesMax: EXEC_LINE_BYTES_MAX }])
  })
})

describe('src/exec parseChildLine', () => {
  const valid: Array<[string, unknown]> = [
    ['{"type":"ready","queues":["a","b","a"],"concurrency":4}', { type: 'ready', queues: ['a', 'b'], concurrency: 4 }],
    ['{"type":"ready"}', { type: 'ready', queues: [] }],
    ['{"type":"result","taskId":"t","token":3,"output":{"x":1}}', { type: 'result', taskId: 't', token: 3, output: { x: 1 } }],
    ['{"type":"result","taskId":"t","token":3,"output":null}', { type: 'result', taskId: 't', token: 3, output: null }],
    ['{"type":"fail","taskId":"t","token":3,"error":"boom"}', { type: 'fail', taskId: 't', token: 3, error: { type: 'Error', message: 'boom' } }],
    ['{"type":"fail","taskId":"t","token":3,"error":{"type":"ValueError","message":"bad"},"retryable":false}', { type: 'fail', taskId: 't', token: 3, error: { type: 'ValueError', message: 'bad' }, retryable: false }],
    ['{"type":"progress","taskId":"t"}', { type: 'progress', taskId: 't' }],
    ['{"type":"publish","topic":"x","event":{"type":"done","data":[1]}}', { type: 'publish', topic: 'x', event: { type: 'done', data: [1] } }]
  ]
  for (const [line, message] of valid) it(`parses ${line}`, () => { assert.deepEqual(parseChildLine(line), message) })

  const invalid: Array<[string, RegExp]> = [
    ['hello', /not JSON/],
    ['[1,2]', /JSON object/],
    ['{"type":"hello"}', /unknown line type "hello"/],
    ['{"taskId":"t"}', /unknown line type undefined/],
    ['{"type":"ready","queues":"a"}', /ready.queues/],
    [`{"type":"ready","queues":${JSON.stringify(Array.from({ length: EXEC_QUEUES_MAX + 1 }, (_, i) => `q${i}`))}}`, /EXEC_QUEUES_MAX/],
    [`{"type":"ready","queues":["a"],"concurrency":${EXEC_CONCURRENCY_MAX + 1}}`, /EXEC_CONCURRENCY_MAX/],
    ['{"type":"ready","queues":["a"],"concurrency":0}', /concurrency/],
    ['{"type":"result","token":1,"output":1}', /result.taskId/],
    ['{"type":"result","taskId":"t","token":"1","output":1}', /result.token/],
    ['{"type":"result","taskId":"t","token":1}', /result.output is missing/],
    ['{"type":"fail","taskId":"t","token":1}', /fail.error/],
    ['{"type":"fail","taskId":"t","token":1,"error":"x","retryable":"yes"}', /fail.retryable/],
    ['{"type":"publish","topic":"x","event":"done"}', /publish.event/],
    [`{"type":"progress","taskId":"${'t'.repeat(200)}"}`, /EXEC_NAME_CHARS_MAX/]
  ]
  for (const [line, message] of invalid) {
    it(`refuses ${line.slice(0, 60)}`, () => {
      assert.throws(() => parseChildLine(line), (err: unknown) => err instanceof ExecProtocolError && message.test(err.message))
    })
  }

  it('encodes node lines as one JSON object and a newline', () => {
    const line = encodeNodeLine({ type: 'task', taskId: 't', attempt: 1, token: 2, input: { text: 'a\nb' } })
    assert.equal(line.indexOf('\n'), line.length - 1)
    assert.deepEqual(JSON.parse(line), { type: 'task', taskId: 't', attempt: 1, token: 2, input: { text: 'a\nb' } })
  })
})

describe('src/exec decideRestart', () => {
  const policy = DEFAULT_RESTART_POLICY
  it('backs off 1 s, 2 s, 4 s, 8 s, then the breaker opens at the fifth crash in 60 s', () => {
    const times: number[] = []
    const decisions = [0, 1000, 3000, 7000, 15_000].map((t) => { times.push(t); return decideRestart(times, t, policy) })
    assert.deepEqual(decisions.map(d => d.action === 'restart' ? d.delayMs : d.action), [1000, 2000, 4000, 8000, 'give-up'])
    const last = decisions[4]!
    assert.ok(last.action === 'give-up' && /5 crashes within 60000 ms/.test(last.reason))
  })
  it('forgets crashes older than the window, and the backoff with them', () => {
    assert.deepEqual(decideRestart([0, 1000, 2000, 3000, 70_000], 70_000, policy), { action: 'restart', delayMs: 1000, crashesInWindow: 1 })
  })
  it('caps the delay at maxMs', () => {
    const wide = { ...policy, crashesMax: 100, windowMs: 1e9 }
    const times = Array.from({ length: 20 }, (_, i) => i)
    assert.deepEqual(decideRestart(times, 19, wide), { action: 'restart', delayMs: 60_000, crashesInWindow: 20 })
  })
})

describe('src/exec payload JSON', () => {
  it('bytes travel as {"$bytes": base64} both ways; other values as themselves', () => {
    const payload = { a: [1, 'x', null, true], b: new Uint8Array([1, 2, 255]) }
    const json = payloadToJson(payload)
    assert.deepEqual(json, { a: [1, 'x', null, true], b: { $bytes: 'AQL/' } })
    assert.deepEqual(payloadFromJson(JSON.parse(JSON.stringify(json))), payload)
    assert.deepEqual(payloadFromJson({ $bytes: 'AQL/', other: 1 }), { $bytes: 'AQL/', other: 1 })
  })
  it('refuses nesting past EXEC_JSON_DEPTH_MAX with LimitExceededError', () => {
    let deep: unknown = 1
    for (let i = 0; i <= EXEC_JSON_DEPTH_MAX + 1; i++) deep = [deep]
    assert.throws(() => payloadFromJson(deep), (err: unknown) => (err as { code?: string }).code === 'ERR_LIMIT_EXCEEDED' && /EXEC_JSON_DEPTH_MAX/.test((err as Error).message))
  })
})
