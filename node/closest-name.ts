// "Did you mean …?" for command-line flags: the known name nearest to a mistyped one, by edit
// distance, when it is close enough to be a typo. Used by the node CLI and the sim CLI.

/** The name of `names` nearest to `typed`, if at most a third of its letters (at least one) differ. */
export function closestName (typed: string, names: Iterable<string>): string | undefined {
  let best: { name: string, distance: number } | undefined
  for (const name of names) {
    const distance = editDistance(typed, name)
    if (best === undefined || distance < best.distance) best = { name, distance }
  }
  return best !== undefined && best.distance <= Math.max(1, Math.floor(typed.length / 3)) ? best.name : undefined
}

/** Levenshtein distance: insertions, deletions and substitutions, one row at a time. */
function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}
