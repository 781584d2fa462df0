// Invariant assertions: a broken invariant is a bug, and it fails loudly.

/** Thrown when an internal invariant does not hold. Never caught to carry on. */
export class AssertionError extends Error {
  override name = 'AssertionError'
}

/** Assert an invariant; `message` names what was expected. */
export function assert (condition: unknown, message: string): asserts condition {
  if (condition === false || condition === null || condition === undefined || condition === 0) {
    throw new AssertionError(`assertion failed: ${message}`)
  }
}

/** Exhaustiveness check for discriminated unions. */
export function unreachable (value: never, what: string): never {
  throw new AssertionError(`unreachable: unexpected ${what} ${JSON.stringify(value)}`)
}
