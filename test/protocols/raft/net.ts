// A synchronous test network for raft cores: persists each Ready, delivers messages in order,
// and lets a test block links, drop messages, restart nodes and inspect applied entries.

import { createRng } from '../../../protocols/kit/rng.ts'
import { RaftCore } from '../../../protocols/raft/core.ts'
import type { PersistedState, RaftCoreOptions } from '../../../protocols/raft/core.ts'
import type { Entry, Message } from '../../../protocols/raft/messages.ts'
import type { RaftEvent, ReadState } from '../../../protocols/raft/ready.ts'

/** A cluster of cores wired by an in-memory, in-order network. */
export class TestNet {
  readonly cores = new Map<string, RaftCore>()
  readonly storage = new Map<string, PersistedState>()
  readonly applied = new Map<string, Entry[]>()
  readonly readStates = new Map<string, ReadState[]>()
  readonly events = new Map<string, RaftEvent[]>()
  readonly sent: Message[] = []
  readonly blocked = new Set<string>()
  /** Drop a message when this returns true. */
  filter: (m: Message) => boolean = () => false
  #queue: Message[] = []
  readonly #options: Partial<RaftCoreOptions>
  readonly #voters: string[]
  #seed = 1

  constructor (ids: string[], options: Partial<RaftCoreOptions> & { voters?: string[] } = {}) {
    this.#options = options
    this.#voters = options.voters ?? ids
    for (const id of ids) this.start(id)
  }

  /** The core of node `id`. */
  core (id: string): RaftCore { return this.cores.get(id)! }

  /** Start (or restart) `id` from its storage. */
  start (id: string): void {
    const persisted = this.storage.get(id)
    this.cores.set(id, new RaftCore({ ...this.#options, id, voters: this.#voters, rng: createRng(this.#seed++), persisted }))
    if (!this.applied.has(id) || persisted?.snapshot == null) this.applied.set(id, persisted === undefined ? [] : (this.applied.get(id) ?? []).filter((e) => e.index <= (persisted.snapshot?.index ?? 0)))
    this.readStates.set(id, [])
    this.events.set(id, [])
  }

  /** Lose everything not persisted and restart from storage. */
  restart (id: string): void {
    this.applied.set(id, [])
    this.start(id)
  }

  /** Block every link to and from `id`. */
  isolate (id: string): void { for (const other of this.cores.keys()) if (other !== id) { this.blocked.add(`${id}>${other}`); this.blocked.add(`${other}>${id}`) } }
  /** Unblock every link. */
  heal (): void { this.blocked.clear() }

  /** Carry out every pending Ready, in the SPEC order: persist, send, apply, advance. */
  process (): void {
    for (const [id, core] of this.cores) {
      while (core.hasReady()) {
        const r = core.drain()
        const s = this.storage.get(id) ?? { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] }
        if (r.hardState !== null) s.hardState = r.hardState
        if (r.snapshot !== null) { s.snapshot = r.snapshot; s.entries = []; this.applied.set(id, []) }
        if (r.entries.length > 0) s.entries = [...s.entries.filter((e) => e.index < r.entries[0]!.index), ...r.entries]
        this.storage.set(id, s)
        for (const m of r.messages) { this.sent.push(m); this.#queue.push(m) }
        this.applied.get(id)!.push(...r.committedEntries)
        this.readStates.get(id)!.push(...r.readStates)
        this.events.get(id)!.push(...r.events)
        core.advance(r)
      }
    }
  }

  /** Deliver until nothing is in flight. */
  settle (roundsMax = 1000): void {
    for (let i = 0; i < roundsMax; i++) {
      this.process()
      if (this.#queue.length === 0) return
      const batch = this.#queue
      this.#queue = []
      for (const m of batch) {
        if (this.blocked.has(`${m.from}>${m.to}`) || this.filter(m)) continue
        this.cores.get(m.to)?.step(m)
      }
    }
    throw new Error('network did not settle')
  }

  /** Tick every node (or `ids`) `n` times, settling after each tick. */
  tick (n: number, ids: string[] = [...this.cores.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) this.core(id).tick()
      this.settle()
    }
  }

  /** Make `id` campaign now and settle. */
  elect (id: string): void {
    this.core(id).campaign()
    this.settle()
  }

  /** Ids of the nodes that think they lead. */
  leaders (): string[] { return [...this.cores.values()].filter((c) => c.role === 'leader').map((c) => c.id) }
  /** The normal commands `id` applied, as strings. */
  appliedData (id: string): string[] { return this.applied.get(id)!.filter((e) => e.kind === 'normal').map((e) => new TextDecoder().decode(e.data)) }
}

/** Bytes of a string command. */
export function cmd (s: string): Uint8Array { return new TextEncoder().encode(s) }
