// The running agentmesh package version, read from its package.json, for announcements.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Directories walked up from this file: src/ in the repo, dist/src/ in the installed package. */
const PACKAGE_SEARCH_DEPTH_MAX = 4

let cached: string | undefined

/** The `version` of the agentmesh package.json above this file, or '0.0.0' if none is found. */
export function packageVersion (): string {
  if (cached !== undefined) return cached
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < PACKAGE_SEARCH_DEPTH_MAX; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'agentmesh' && typeof pkg.version === 'string') {
        cached = pkg.version
        return cached
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    dir = dirname(dir)
  }
  cached = '0.0.0'
  return cached
}
