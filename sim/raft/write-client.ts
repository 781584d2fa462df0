// A client in its own OS process, as a user's program would be: it writes through one member of a
// cluster, one write at a time, and times each write from its own side. Against agentmesh it calls
// the node's HTTP API (`putGroupKv` with the bearer token from the node's data dir, keep-alive
// connections through fetch); against etcd it calls the member's gRPC API through `etcd3`.
// Started and driven by `writeThroughClientProcess` (sim/raft/write-client-process.ts).

import { readFile } from 'node:fs/promises'

/** What the parent asks: `warmup` untimed writes, then `writes` timed ones. */
export type WriteClientJob =
  | { kind: 'http', url: string, tokenFile: string, group: string, writes: number, warmup: number, valueBytes: number }
  | { kind: 'etcd', url: string, writes: number, warmup: number, valueBytes: number }

/** What the client answers: one latency per timed write, and the whole run's time. */
export interface WriteClientResult { latenciesMs: number[], elapsedMs: number }

/** One write may take this long before the run fails (a leader change takes about one election timeout). */
const WRITE_TIMEOUT_MS = 30_000

async function run (job: WriteClientJob): Promise<WriteClientResult> {
  const value = 'x'.repeat(job.valueBytes)
  let write: (i: number) => Promise<void>
  let close = (): void => {}
  if (job.kind === 'http') {
    const token = (await readFile(job.tokenFile, 'utf8')).trim()
    const url = `${job.url}/v1/groups/${encodeURIComponent(job.group)}/kv/c0`
    write = async (i) => {
      const res = await fetch(url, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: `${i}:${value}` }),
        signal: AbortSignal.timeout(WRITE_TIMEOUT_MS)
      })
      const text = await res.text() // read to the end so the connection is reused
      if (res.status !== 200) throw new Error(`putGroupKv answered ${res.status}: ${text}`)
    }
  } else {
    const { Etcd3 } = await import('etcd3')
    const { noop } = await import('cockatiel')
    const client = new Etcd3({ hosts: job.url, faultHandling: { global: noop, host: () => noop } })
    write = async (i) => { await client.put('c0').value(`${i}:${value}`).options({ deadline: Date.now() + WRITE_TIMEOUT_MS }).exec() }
    close = () => { client.close() }
  }
  try {
    for (let i = 0; i < job.warmup; i++) await write(i)
    const latenciesMs: number[] = []
    const started = performance.now()
    for (let i = 0; i < job.writes; i++) {
      const t0 = performance.now()
      await write(job.warmup + i)
      latenciesMs.push(performance.now() - t0)
    }
    return { latenciesMs, elapsedMs: performance.now() - started }
  } finally {
    close()
  }
}

process.once('message', (job: WriteClientJob) => {
  run(job).then(
    (result) => { process.send!({ ok: true, result }, () => process.exit(0)) },
    (err: Error) => { process.send!({ ok: false, error: `${err.name}: ${err.message}` }, () => process.exit(1)) }
  )
})
