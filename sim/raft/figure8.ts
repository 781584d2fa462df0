// A scripted fault schedule for the Figure 8 pattern of the raft paper (SPEC raft R3): a leader
// replicates an entry to a minority and dies; another leader writes a conflicting entry of a
// higher term and dies before sending it; the first comes back, is re-elected and re-replicates
// its old-term entry to a majority, then dies. Committing that entry by counting would be unsafe.

import { encodeKvCommand } from '../../protocols/raft/kv.ts'
import type { SimCluster } from './cluster.ts'

/** Run the Figure 8 script from `atMs` on, again and again until the fault phase ends. */
export function scheduleFigure8 (c: SimCluster, ids: string[], atMs: number, faultPhaseMs: number): void {
  const r = c.rng
  let seq = 0
  const live = (): boolean => c.now < faultPhaseMs
  const propose = (id: string): void => {
    c.node(id).driver?.propose(encodeKvCommand({ op: 'put', key: 'f8', value: String(c.now) }), `f8-${id}`, ++seq + c.now, () => {})
  }
  const cutOutgoing = (id: string, keep: string[]): string[] => {
    const cut = ids.filter((b) => b !== id && !keep.includes(b)).map((b) => `${id}>${b}`)
    for (const link of cut) c.blocked.add(link)
    return cut
  }
  const unblock = (links: string[]): void => { for (const link of links) c.blocked.delete(link) }
  const again = (): void => { c.at(c.now + r.int(30, 150), start) }
  const start = (): void => {
    if (!live()) return
    const l1 = c.leader()
    if (l1 === undefined) { c.at(c.now + 20, start); return }
    // step 1: the leader reaches a minority only (possibly nobody), takes a write, dies
    const others = ids.filter((id) => id !== l1.id && l1.core!.voters.includes(id))
    const minority = others.filter(() => r.chance(0.5)).slice(0, Math.max(0, Math.floor((others.length + 1) / 2) - 1))
    const cut1 = cutOutgoing(l1.id, minority)
    c.note(`figure8: leader ${l1.id} reaches only {${minority.join(',')}}`)
    propose(l1.id)
    c.at(c.now + r.int(3, 20), () => {
      unblock(cut1)
      if (!live()) return
      c.crash(l1.id)
      c.note(`figure8: crash ${l1.id}`)
      let l2 = ''
      const previousHook = c.onNewLeader
      c.onNewLeader = (id, term) => {
        if (!live()) { c.onNewLeader = previousHook; return }
        if (l2 !== '' && id === l2) return // a restarted l2 won: let the hook wait for a resolution
        if (l2 === '' && id !== l1.id) {
          // step 2: the next leader writes an entry of its higher term and dies before sending it
          l2 = id
          const cut2 = cutOutgoing(id, [])
          c.note(`figure8: new leader ${id} of term ${term} cut off`)
          propose(id)
          c.at(c.now + r.int(2, 6), () => {
            unblock(cut2)
            if (!live()) return // healed meanwhile: nothing crashes after the heal
            c.crash(id)
            c.start(l1.id) // step 3: the first leader returns and campaigns again
            c.note(`figure8: crash ${id}, restart ${l1.id}`)
          })
        } else if (l2 !== '' && id === l1.id) {
          // step 4: re-elected, it re-replicates its old-term entry; it dies the moment it has
          // applied past its old log end (or after a while), before its no-op spreads further
          c.onNewLeader = previousHook
          const l1Core = c.node(l1.id).core
          if (l1Core === null) { again(); return } // it crashed again before the hook ran
          const oldLast = l1Core.log.lastIndex() - 1 // its log before the no-op
          const deadline = c.now + r.int(40, 200)
          // in some runs the adversary loses every append that would give a follower an entry of the
          // new term (rejections still get through), so only old-term entries spread
          const lose = r.chance(0.75)
          if (lose) {
            c.dropFilter = (m) => m.from === l1.id && m.type === 'app' && m.entries.some((e) => e.term === term) &&
              c.node(m.to).core?.log.matchTerm(m.index, m.logTerm) === true
          }
          const watch = (): void => {
            const n = c.node(l1.id)
            if (!live() || n.core?.term !== term) { if (lose) c.dropFilter = null; return }
            if ((n.driver?.appliedIndex ?? 0) < oldLast && c.now < deadline) { c.at(c.now + 1, watch); return }
            if (lose) c.dropFilter = null
            c.crash(l1.id, true)
            c.start(l2)
            c.note(`figure8: crash ${l1.id} again (applied ${n.driver?.appliedIndex ?? 0}, old end ${oldLast}${lose ? ", new-term appends lost" : ""}), restart ${l2}`)
            // l2 campaigns eagerly (a very short election timeout: timing never matters for safety)
            const until = c.now + 300
            const eager = (): void => {
              const core = c.node(l2).core
              if (!live() || c.now > until) return
              if (core === null) { c.at(c.now + 1, eager); return } // still loading its storage
              if (core.role === 'leader') return
              if (core.role === 'follower') c.withCore(l2, (x) => x.campaign())
              c.at(c.now + 10, eager)
            }
            eager()
            c.at(c.now + r.int(50, 250), () => { if (live()) c.start(l1.id); again() })
          }
          c.at(c.now + 1, watch)
        } else if (l2 !== '' && id !== l1.id) {
          c.onNewLeader = previousHook // someone else won: the pattern did not form this time
          c.start(l1.id)
          again()
        }
      }
    })
  }
  c.at(atMs, start)
}
