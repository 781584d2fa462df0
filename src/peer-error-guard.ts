// The node boundary for errors a peer can cause: libp2p's stream and muxer code sometimes
// throws from a timer or microtask (for example a Yamux window update on a stream the peer
// already closed), out of reach of any try/catch. Such an error says something about one
// peer's stream, not about this process, so it is logged and counted and the process runs on.
// Every other uncaught error is a bug: it is reported and the process exits non-zero.

import { describeError } from '../protocols/kit/errors.ts'

/**
 * Names of the errors a remote peer's behaviour can raise inside libp2p's streams, muxers and
 * connections (@libp2p/interface, @libp2p/utils, @chainsafe/libp2p-yamux). None of them means
 * the process itself is broken.
 */
export const PEER_ERROR_NAMES: ReadonlySet<string> = new Set([
  'StreamStateError', 'StreamResetError', 'StreamAbortedError', 'StreamBufferError', 'StreamClosedError',
  'MuxerClosedError', 'ConnectionClosedError', 'ConnectionClosingError', 'UnexpectedEOFError',
  'MaxEarlyStreamsError', 'ReceiveWindowExceededError', 'InvalidFrameError', 'StreamAlreadyExistsError',
  'BothClientsError', 'DecodeInvalidVersionError', 'NotMatchingPingError', 'UnRequestedPingError'
])

/**
 * Where such errors come from. The name alone is not enough: application code could use the
 * same name, and an application bug must never be swallowed.
 */
const LIBP2P_FRAME = /[\\/]node_modules[\\/](?:@libp2p[\\/]|@chainsafe[\\/]libp2p-|libp2p[\\/])/

/** After the first few, a peer error is logged once per this many, so a flood is not a log flood. */
export const PEER_ERROR_LOG_FIRST = 10
export const PEER_ERROR_LOG_EVERY = 1_000

/** True if `err` is a stream/muxer/connection error raised by libp2p's own code (see PEER_ERROR_NAMES). */
export function isPeerError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  return PEER_ERROR_NAMES.has(err.name) && LIBP2P_FRAME.test(err.stack ?? '')
}

/** What the guard saw since it was installed. */
export interface PeerErrorGuardStats {
  /** Uncaught peer errors logged and survived. */
  peerErrors: number
  /** The same, by error name. */
  byName: Record<string, number>
}

export interface PeerErrorGuardOptions {
  /** Where to log one line per survived error (default: stderr, prefixed `agentmesh: `). */
  log?: (line: string) => void
  /**
   * What to do with any other uncaught error (default: print its stack to stderr and exit 1,
   * as Node does without a handler). Called with the error and `uncaughtException` or
   * `unhandledRejection`.
   */
  onFatal?: (err: unknown, origin: 'uncaughtException' | 'unhandledRejection') => void
}

/** A handle on an installed guard. */
export interface PeerErrorGuard {
  stats (): PeerErrorGuardStats
  /** Remove the process handlers again. */
  uninstall (): void
}

/**
 * Install process-wide `uncaughtException` and `unhandledRejection` handlers that survive
 * peer errors (`isPeerError`) and keep every other uncaught error fatal. The CLI installs it;
 * a program that embeds agentmesh should install it too (or its own equivalent), or a peer
 * can crash it with a stream error libp2p throws where no caller can catch it. Install once
 * per process; it changes what "uncaught" means for the whole process.
 */
export function installPeerErrorGuard (options: PeerErrorGuardOptions = {}): PeerErrorGuard {
  const log = options.log ?? ((line: string) => { process.stderr.write(`agentmesh: ${line}\n`) })
  const onFatal = options.onFatal ?? defaultFatal
  const stats: PeerErrorGuardStats = { peerErrors: 0, byName: {} }

  const handle = (err: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void => {
    if (!isPeerError(err)) {
      onFatal(err, origin)
      return
    }
    const name = (err as Error).name
    stats.peerErrors++
    stats.byName[name] = (stats.byName[name] ?? 0) + 1
    if (stats.peerErrors <= PEER_ERROR_LOG_FIRST || stats.peerErrors % PEER_ERROR_LOG_EVERY === 0) {
      log(`survived a peer's stream error (${origin}, ${stats.peerErrors} so far): ${describeError(err)}`)
    }
  }
  const onException = (err: unknown): void => { handle(err, 'uncaughtException') }
  const onRejection = (reason: unknown): void => { handle(reason, 'unhandledRejection') }
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return {
    stats: () => ({ peerErrors: stats.peerErrors, byName: { ...stats.byName } }),
    uninstall () {
      process.off('uncaughtException', onException)
      process.off('unhandledRejection', onRejection)
    }
  }
}

/** Node's own behaviour for an uncaught error: the stack on stderr, exit status 1. */
function defaultFatal (err: unknown, origin: string): void {
  const text = err instanceof Error ? (err.stack ?? describeError(err)) : String(err)
  process.stderr.write(`agentmesh: fatal ${origin}: ${text}\n`)
  process.exit(1)
}
