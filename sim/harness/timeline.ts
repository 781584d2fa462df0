// Records what happened when during a scenario (joins, faults, leader changes) for the
// report's timeline and the log.

import type { TimelineEntry } from '../scenario.ts'

/** Most entries kept; later entries are counted but dropped so a long run stays bounded. */
export const TIMELINE_ENTRIES_MAX = 10_000

/** Kinds the report colours; any other string is allowed and drawn in grey. */
export type TimelineKind = 'join' | 'leave' | 'kill' | 'restart' | 'partition' | 'heal' | 'link-down' | 'link-up' | 'leader' | 'fault' | 'phase' | string

/** Appends timestamped entries relative to the scenario start. */
export class Timeline {
  readonly #startMs: number
  readonly #entries: TimelineEntry[] = []
  readonly #now: () => number
  #dropped = 0

  constructor (options: { now?: () => number } = {}) {
    this.#now = options.now ?? (() => performance.now())
    this.#startMs = this.#now()
  }

  /** Milliseconds since the timeline started. */
  elapsedMs (): number { return this.#now() - this.#startMs }

  /** Record one entry; returns it. */
  record (kind: TimelineKind, detail: string): TimelineEntry {
    const entry = { atMs: Math.round(this.elapsedMs() * 10) / 10, kind, detail }
    if (this.#entries.length < TIMELINE_ENTRIES_MAX) this.#entries.push(entry)
    else this.#dropped++
    return entry
  }

  /** Entries so far, oldest first. */
  entries (): TimelineEntry[] { return [...this.#entries] }

  /** How many entries were dropped over TIMELINE_ENTRIES_MAX. */
  get dropped (): number { return this.#dropped }
}
