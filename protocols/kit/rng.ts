// Seeded pseudo-random numbers for pure cores and the simulator (no Math.random).
// xoshiro128** seeded through splitmix32: small, fast, and the same on every platform.

/** A deterministic random source. */
export interface Rng {
  /** Uniform float in [0, 1). */
  float (): number
  /** Uniform integer in [min, max] (inclusive). */
  int (min: number, max: number): number
  /** True with probability p. */
  chance (p: number): boolean
  /** An independent stream derived from this one (for per-node rngs). */
  fork (): Rng
}

function splitmix32 (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** Create a seeded rng. Equal seeds give equal sequences. */
export function createRng (seed: number): Rng {
  const next = splitmix32(seed)
  const s = new Uint32Array([next(), next(), next(), next()])
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = s[1]! << 9
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result
  }

  const rng: Rng = {
    float: () => nextUint32() / 0x1_0000_0000,
    int: (min, max) => min + Math.floor(rng.float() * (max - min + 1)),
    chance: (p) => rng.float() < p,
    fork: () => createRng(nextUint32())
  }
  return rng
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
