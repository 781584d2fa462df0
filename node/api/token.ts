// The API's bearer token: created once in `<data-dir>/api-token` (mode 0600, readable by the
// node's user only) and reused after restarts; without a data dir, a fresh one per run.

import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, writeFile, chmod } from 'node:fs/promises'
import { join } from 'node:path'

/** The token file's name inside the data dir (DESIGN "Agents in any language"). */
export const API_TOKEN_FILE = 'api-token'
/** Random bytes per token: 256 bits, beyond guessing. */
export const API_TOKEN_BYTES = 32

/** The token and where it is kept (undefined: this run only). */
export interface ApiToken { token: string, file: string | undefined }

/** Read `<dataDir>/api-token`, or create it on first start; a fresh token without a data dir. */
export async function loadOrCreateToken (dataDir: string | undefined): Promise<ApiToken> {
  const fresh = randomBytes(API_TOKEN_BYTES).toString('base64url')
  if (dataDir === undefined) return { token: fresh, file: undefined }
  const file = join(dataDir, API_TOKEN_FILE)
  let existing: string | undefined
  try {
    existing = (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (existing !== undefined && existing.length > 0) {
    await chmod(file, 0o600) // repair a copy that lost its mode
    return { token: existing, file }
  }
  if (existing === '') {
    // An empty file (a crash between create and write, or a user's truncation) holds no token: replace it.
    await writeFile(file, `${fresh}\n`, { mode: 0o600 })
    await chmod(file, 0o600)
    return { token: fresh, file }
  }
  // 'wx' fails if another process created it meanwhile: then that one's token is the token.
  try {
    await writeFile(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return { token: (await readFile(file, 'utf8')).trim(), file }
  }
  return { token: fresh, file }
}

/** Constant-time check of an `Authorization` header against the token. */
export function bearerMatches (header: string | undefined, token: string): boolean {
  if (header === undefined) return false
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (match === null) return false
  const given = Buffer.from(match[1]!)
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
