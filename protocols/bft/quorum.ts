// Quorum arithmetic for Byzantine agreement (SPEC bft B1): how many faults n members tolerate
// and how many signatures make a certificate. Small, pure, table-tested.

/** Largest f with n ≥ 3f + 1: the Byzantine members n can tolerate. */
export function faultsTolerated (n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`member count must be a positive integer, got ${n}`)
  return Math.floor((n - 1) / 3)
}

/**
 * Signatures needed for a quorum certificate: ⌊2n/3⌋ + 1. For n = 3f + 1 this is 2f + 1.
 * Any two quorums then share more than n/3 members, so at least one honest member (SPEC bft B1).
 */
export function quorumSize (n: number): number {
  faultsTolerated(n)
  return Math.floor((2 * n) / 3) + 1
}

/** Distinct senders that prove at least one honest member is in a later round: f + 1. */
export function skipThreshold (n: number): number {
  return faultsTolerated(n) + 1
}
