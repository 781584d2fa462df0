// What the core hands to its driver (SPEC raft "Effect ordering"): hard state, entries and
// snapshot to persist, messages to send, committed entries to apply, read states and events.

import type { Entry, Message, Snapshot } from './messages.ts'
import { describeEntry, describeMessage } from './messages.ts'

/** State that must be on disk (fsynced) before messages of the same Ready are sent (SPEC raft E1). */
export interface HardState { term: number, vote: string, commit: number }

/** A linearizable read point: once the local state machine has applied `index`, serve read `context` (SPEC raft R8). */
export interface ReadState { context: string, index: number }

/** Something the driver may want to report; none of these need persisting. */
export type RaftEvent =
  | { type: 'leader', leader: string, term: number }
  | { type: 'dropped', what: 'proposal' | 'read' | 'transfer' | 'conf', client: string, seq: number, context: string, reason: string, leader: string }

/** One batch of effects, in the order the driver must carry them out (SPEC raft E1–E5). */
export interface Ready {
  /** Persist (fsync) if not null. */
  hardState: HardState | null
  /** A snapshot from the leader: persist it, then restore the state machine from its data. */
  snapshot: Snapshot | null
  /** Persist (fsync), replacing any stored entries from entries[0].index on. */
  entries: Entry[]
  /** Send only after the above is durable. */
  messages: Message[]
  /** Apply in order after the above is durable. */
  committedEntries: Entry[]
  /** Reads that may be served once the state machine has applied `index`. */
  readStates: ReadState[]
  /** Leader changes and dropped requests. */
  events: RaftEvent[]
}

/** True when a Ready carries nothing to do. */
export function isEmptyReady (r: Ready): boolean {
  return r.hardState === null && r.snapshot === null && r.entries.length === 0 && r.messages.length === 0 &&
    r.committedEntries.length === 0 && r.readStates.length === 0 && r.events.length === 0
}

/** One stable line per event, for traces. */
export function describeEvent (e: RaftEvent): string {
  if (e.type === 'leader') return `leader ${e.leader === '' ? 'none' : e.leader} term=${e.term}`
  const id = e.context !== '' ? `ctx=${e.context}` : `req=${e.client}/${e.seq}`
  return `dropped ${e.what} ${id}: ${e.reason}${e.leader !== '' ? ` (leader ${e.leader})` : ''}`
}

/** Lines describing a Ready in effect order (etcd DescribeReady). */
export function describeReady (r: Ready): string[] {
  const lines: string[] = []
  if (r.hardState !== null) lines.push(`persist hardstate term=${r.hardState.term} vote=${r.hardState.vote === '' ? '-' : r.hardState.vote} commit=${r.hardState.commit}`)
  if (r.snapshot !== null) lines.push(`persist snapshot ${r.snapshot.term}/${r.snapshot.index} voters=${r.snapshot.voters.join(',')}`)
  for (const e of r.entries) lines.push(`persist entry ${describeEntry(e)}`)
  for (const m of r.messages) lines.push(`send ${describeMessage(m)}`)
  for (const e of r.committedEntries) lines.push(`apply ${describeEntry(e)}`)
  for (const s of r.readStates) lines.push(`read ctx=${s.context} index=${s.index}`)
  for (const e of r.events) lines.push(`event ${describeEvent(e)}`)
  return lines
}
