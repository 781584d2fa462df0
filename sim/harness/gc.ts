// A forced, full garbage collection from inside the process, whether or not node was started
// with `--expose-gc`: `npm run sim` runs `node sim/cli.ts`, which passes no V8 flags. Heap figures
// taken right after one measure what is retained, not what the collector has not got to yet.

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | undefined

/** The collector's `gc()`: the global one under `--expose-gc`, else one exposed in a fresh context. */
function gcFunction (): () => void {
  if (collect !== undefined) return collect
  const exposed = (globalThis as { gc?: () => void }).gc
  if (typeof exposed === 'function') {
    collect = exposed
  } else {
    // The flag only takes effect for contexts created after it is set, hence the new context.
    setFlagsFromString('--expose-gc')
    collect = runInNewContext('gc') as () => void
  }
  return collect
}

/** Run a full collection now (synchronous; tens of ms on a heap of tens of MB). */
export function forceGc (): void { gcFunction()() }
