// Voter sets by the log index that produced them (SPEC raft R7, R9): a snapshot at index i must
// carry the voters in force at i, which may differ from the voters at the commit index.

/** Configurations from the last snapshot on, oldest first. */
export class ConfigHistory {
  #configs: Array<{ index: number, voters: string[] }>

  constructor (index: number, voters: string[]) { this.#configs = [{ index, voters }] }

  /** Record the voters produced by the conf entry at `index`. */
  push (index: number, voters: string[]): void { this.#configs.push({ index, voters }) }

  /** Voters in force at `index`. */
  votersAt (index: number): string[] { return this.#configs[this.#lastAtOrBefore(index)]!.voters }

  /** Forget configurations superseded at or before a compaction at `index`. */
  compact (index: number): void {
    const keep = this.#lastAtOrBefore(index)
    this.#configs = this.#configs.filter((c, i) => c.index > index || i === keep)
  }

  /** Start over from a snapshot. */
  reset (index: number, voters: string[]): void { this.#configs = [{ index, voters }] }

  #lastAtOrBefore (index: number): number {
    let at = 0
    for (let i = 0; i < this.#configs.length; i++) if (this.#configs[i]!.index <= index) at = i
    return at
  }
}
