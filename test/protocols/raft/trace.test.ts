// Interaction scripts with the expected trace written under them (etcd testdata style): the
// one-line descriptions of every Ready, in the order the driver carries them out.
import assert from 'node:assert/strict'
import { createRng } from '../../../protocols/kit/rng.ts'
import { RaftCore } from '../../../protocols/raft/core.ts'
import type { Message } from '../../../protocols/raft/messages.ts'
import { describeReady } from '../../../protocols/raft/ready.ts'

/** Run cores to quiescence, delivering messages in send order; returns "node: line" traces. */
function run (cores: Map<string, RaftCore>, start: () => void): string[] {
  const lines: string[] = []
  const queue: Message[] = []
  start()
  for (let round = 0; round < 100; round++) {
    for (const [id, core] of cores) {
      while (core.hasReady()) {
        const r = core.drain()
        for (const line of describeReady(r)) lines.push(`${id}: ${line}`)
        queue.push(...r.messages)
        core.advance(r)
      }
    }
    if (queue.length === 0) return lines
    for (const m of queue.splice(0)) cores.get(m.to)!.step(m)
  }
  throw new Error('did not settle')
}

describe('raft traces', () => {
  it('election with pre-vote, no-op commit, and a forwarded proposal', () => {
    const ids = ['n1', 'n2', 'n3']
    const cores = new Map(ids.map((id, i) => [id, new RaftCore({ id, voters: ids, rng: createRng(i + 1) })]))
    const election = run(cores, () => cores.get('n1')!.campaign())
    assert.equal(election.join('\n'), `
n1: send n1->n2 preVote term=1
n1: send n1->n3 preVote term=1
n2: send n2->n1 preVoteResp term=1
n3: send n3->n1 preVoteResp term=1
n1: persist hardstate term=1 vote=n1 commit=0
n1: send n1->n2 vote term=1
n1: send n1->n3 vote term=1
n1: event leader none term=1
n2: persist hardstate term=1 vote=n1 commit=0
n2: send n2->n1 voteResp term=1
n2: event leader none term=1
n3: persist hardstate term=1 vote=n1 commit=0
n3: send n3->n1 voteResp term=1
n3: event leader none term=1
n1: persist entry 1/1 noop 0B
n1: send n1->n2 app term=1 entries=[1/1 noop 0B]
n1: send n1->n3 app term=1 entries=[1/1 noop 0B]
n1: event leader n1 term=1
n2: persist entry 1/1 noop 0B
n2: send n2->n1 appResp term=1 log=0/1
n2: event leader n1 term=1
n3: persist entry 1/1 noop 0B
n3: send n3->n1 appResp term=1 log=0/1
n3: event leader n1 term=1
n1: persist hardstate term=1 vote=n1 commit=1
n1: send n1->n2 app term=1 log=1/1 commit=1
n1: send n1->n3 app term=1 log=1/1 commit=1
n1: apply 1/1 noop 0B
n2: persist hardstate term=1 vote=n1 commit=1
n2: send n2->n1 appResp term=1 log=0/1
n2: apply 1/1 noop 0B
n3: persist hardstate term=1 vote=n1 commit=1
n3: send n3->n1 appResp term=1 log=0/1
n3: apply 1/1 noop 0B`.trim())
    const proposal = run(cores, () => cores.get('n3')!.propose(new Uint8Array([1, 2]), { client: 'c1', seq: 7 }))
    assert.equal(proposal.join('\n'), `
n3: send n3->n1 prop term=0 entries=[0/0 normal 2B req=c1/7]
n1: persist entry 1/2 normal 2B req=c1/7
n1: send n1->n2 app term=1 log=1/1 commit=1 entries=[1/2 normal 2B req=c1/7]
n1: send n1->n3 app term=1 log=1/1 commit=1 entries=[1/2 normal 2B req=c1/7]
n2: persist entry 1/2 normal 2B req=c1/7
n2: send n2->n1 appResp term=1 log=0/2
n3: persist entry 1/2 normal 2B req=c1/7
n3: send n3->n1 appResp term=1 log=0/2
n1: persist hardstate term=1 vote=n1 commit=2
n1: send n1->n2 app term=1 log=1/2 commit=2
n1: send n1->n3 app term=1 log=1/2 commit=2
n1: apply 1/2 normal 2B req=c1/7
n2: persist hardstate term=1 vote=n1 commit=2
n2: send n2->n1 appResp term=1 log=0/2
n2: apply 1/2 normal 2B req=c1/7
n3: persist hardstate term=1 vote=n1 commit=2
n3: send n3->n1 appResp term=1 log=0/2
n3: apply 1/2 normal 2B req=c1/7`.trim())
  })

  it('fast failover: followers that saw the leader die forget it; one campaign then wins at once', () => {
    const ids = ['n1', 'n2', 'n3']
    const cores = new Map(ids.map((id, i) => [id, new RaftCore({ id, voters: ids, rng: createRng(i + 1) })]))
    run(cores, () => cores.get('n1')!.campaign())
    cores.delete('n1') // the leader's process died; its connections close
    const survivors = new Map([...cores].filter(([id]) => id !== 'n1'))
    const lines = run(new Proxy(survivors, {
      get: (target, prop, receiver) => prop === 'get' ? (id: string) => target.get(id) ?? { step: () => {} } : Reflect.get(target, prop, receiver).bind?.(target) ?? Reflect.get(target, prop, receiver)
    }), () => { cores.get('n3')!.forgetLeader(); cores.get('n2')!.forgetLeader(); cores.get('n2')!.campaign() })
    const leaders = [...survivors.values()].filter((c) => c.role === 'leader')
    assert.equal(leaders.length, 1, lines.join('\n'))
    assert.equal(leaders[0]!.term, 2)
  })

  it('without forgetLeader a lone campaign is ignored by followers still in the leader lease', () => {
    const ids = ['n1', 'n2', 'n3']
    const cores = new Map(ids.map((id, i) => [id, new RaftCore({ id, voters: ids, rng: createRng(i + 1) })]))
    run(cores, () => cores.get('n1')!.campaign())
    const n1 = cores.get('n1')!
    cores.set('n1', { step: () => {}, hasReady: () => false } as unknown as RaftCore) // dead
    run(cores, () => cores.get('n2')!.campaign())
    assert.equal(cores.get('n2')!.role, 'preCandidate')
    assert.equal(cores.get('n3')!.leader, 'n1')
    void n1
  })
})
