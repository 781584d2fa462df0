// Which links between simulated nodes are cut: partitions (groups) and single-link faults.
// Pure: the cluster asks `isCut(a, b)` from every node's connection gater.

/** Most single links cut at once; a flapping schedule above this is a bug in the scenario. */
export const CUT_LINKS_MAX = 100_000

function pairKey (a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

/** The set of cut links between node ids (symmetric). */
export class LinkPolicy {
  /** node id → partition group; nodes in different groups cannot talk. Empty: no partition. */
  readonly #groupOf = new Map<string, number>()
  readonly #cutLinks = new Set<string>()

  /** Split nodes into groups; an id in no group stays reachable from every side. */
  partition (groups: readonly (readonly string[])[]): void {
    this.#groupOf.clear()
    groups.forEach((group, index) => { for (const id of group) this.#groupOf.set(id, index) })
  }

  /** Remove the partition (single cut links stay cut). */
  heal (): void { this.#groupOf.clear() }

  /** Cut one link (both directions). */
  cut (a: string, b: string): void {
    if (this.#cutLinks.size >= CUT_LINKS_MAX) throw new RangeError(`Cannot cut link ${a}-${b}: already ${CUT_LINKS_MAX} cut links (CUT_LINKS_MAX)`)
    this.#cutLinks.add(pairKey(a, b))
  }

  /** Restore one link. */
  restore (a: string, b: string): void { this.#cutLinks.delete(pairKey(a, b)) }

  /** Restore everything. */
  clear (): void { this.#groupOf.clear(); this.#cutLinks.clear() }

  /** True when a and b must not be connected. */
  isCut (a: string, b: string): boolean {
    if (a === b) return false
    if (this.#cutLinks.has(pairKey(a, b))) return true
    const ga = this.#groupOf.get(a)
    const gb = this.#groupOf.get(b)
    return ga !== undefined && gb !== undefined && ga !== gb
  }

  /** Every id in `others` that `id` must not be connected to. */
  deniedFor (id: string, others: readonly string[]): string[] {
    return others.filter(other => this.isCut(id, other))
  }
}
