// Lock handles taken through the API, kept so a later stateless call (group, resource, token)
// can release them with the handle's own `release()`.

import type { LockHandle } from '../../src/index.ts'
import { ApiError } from './errors.ts'

/** Handles held at once: each is a granted lease; past this, old ones must be released first. */
export const API_LOCKS_MAX = 1024

/** Granted locks by `group`, `resource` and fencing token. */
export class LockTable {
  readonly #handles = new Map<string, LockHandle>()

  /** Keep a granted handle (the key includes the token, which only grows). */
  add (group: string, handle: LockHandle): void {
    if (this.#handles.size >= API_LOCKS_MAX) {
      throw new ApiError(409, 'ERR_TOO_MANY_LOCKS', `${this.#handles.size} locks are held through the API; at most API_LOCKS_MAX (${API_LOCKS_MAX}): unlock some first`)
    }
    this.#handles.set(keyOf(group, handle.resource, handle.token), handle)
  }

  /** Take the handle out (it is released by the caller), or throw 404. */
  take (group: string, resource: string, token: number): LockHandle {
    const key = keyOf(group, resource, token)
    const handle = this.#handles.get(key)
    if (handle === undefined) throw new ApiError(404, 'ERR_LOCK_NOT_HELD', `No lock on "${resource}" in group "${group}" with token ${token} was taken through this API (already unlocked, or taken elsewhere)`)
    this.#handles.delete(key)
    return handle
  }

  get size (): number { return this.#handles.size }
}

function keyOf (group: string, resource: string, token: number): string {
  return JSON.stringify([group, resource, token])
}
