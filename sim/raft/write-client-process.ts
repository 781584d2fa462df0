// Runs one write-client job (sim/raft/write-client.ts) in a fresh OS process and returns what it
// measured: the client of `sim raft-write`'s "through a follower" figures, for agentmesh and etcd.

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { WriteClientJob, WriteClientResult } from './write-client.ts'

const CLIENT = fileURLToPath(new URL('./write-client.ts', import.meta.url))

/** Fork a client process, hand it `job`, and wait for its latencies (rejects if it fails or dies). */
export async function writeThroughClientProcess (job: WriteClientJob): Promise<WriteClientResult> {
  const child = fork(CLIENT, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    let settled = false
    child.once('message', (raw) => {
      const m = raw as { ok: true, result: WriteClientResult } | { ok: false, error: string }
      settled = true
      if (m.ok) resolve(m.result)
      else reject(new Error(`write client (${job.kind}) failed: ${m.error}`))
    })
    child.once('exit', (code, signal) => {
      if (!settled) reject(new Error(`write client (${job.kind}) exited with ${String(code ?? signal)} before answering`))
    })
    child.send(job)
  })
}
