// The CLI side of private meshes: read --swarm-key and --allow-file, reread the allowlist on
// SIGHUP, and the `swarm-key` subcommand that makes a key.

import { readSwarmKeyFile, readAllowFile, writeSwarmKeyFile, generateSwarmKey, AccessConfigError } from '../src/access.ts'
import type { AgentNode } from '../src/agent-node.ts'
import { describeError } from '../protocols/kit/errors.ts'
import { UsageError, EXIT_USAGE } from './args.ts'
import type { RunCommand, McpCommand, SwarmKeyCommand } from './args.ts'

/** The createAgentNode options the access flags ask for; a file that cannot be used is a UsageError naming its flag. */
export async function accessOptions (command: RunCommand | McpCommand): Promise<{ swarmKey?: Uint8Array, allow?: string[] }> {
  const swarmKey = command.swarmKeyFile === undefined ? undefined : await asUsage('--swarm-key', readSwarmKeyFile(command.swarmKeyFile))
  const allow = await allowedPeers(command)
  return { ...(swarmKey !== undefined ? { swarmKey } : {}), ...(allow !== undefined ? { allow } : {}) }
}

/** `--allow` and the peers of `--allow-file` together; undefined when neither flag is given. */
async function allowedPeers (command: RunCommand | McpCommand): Promise<string[] | undefined> {
  if (command.allow === undefined && command.allowFile === undefined) return undefined
  const fromFile = command.allowFile === undefined ? [] : [...await asUsage('--allow-file', readAllowFile(command.allowFile))]
  return [...new Set([...(command.allow ?? []), ...fromFile])]
}

async function asUsage<T> (flag: string, work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (err instanceof AccessConfigError) throw new UsageError(flag, `${flag}: ${err.message}`)
    throw err
  }
}

/**
 * Reread `--allow-file` on SIGHUP and replace the node's allowlist (peers taken off it are hung
 * up on). A file that no longer reads keeps the list in force. Returns the function that stops it.
 */
export function watchAllowFile (node: AgentNode, command: RunCommand | McpCommand, logError: (message: string) => void): () => void {
  if (command.allowFile === undefined) return () => {}
  const reload = (): void => {
    void allowedPeers(command).then(async (peers) => {
      await node.setAllowList(peers ?? [])
      logError(`SIGHUP: allowlist reloaded from ${command.allowFile}: ${peers?.length ?? 0} peers`)
    }).catch((err: unknown) => {
      logError(`SIGHUP: allowlist NOT reloaded, the previous one stays in force: ${describeError(err)}`)
    })
  }
  process.on('SIGHUP', reload)
  return () => { process.off('SIGHUP', reload) }
}

/** `swarm-key [<file>]`: write a new key to the file (mode 0600, never overwritten) or to stdout; resolves to the exit status. */
export async function makeSwarmKey (command: SwarmKeyCommand, io: { out: (text: string) => Promise<void>, err: (message: string) => void }): Promise<number> {
  if (command.file === undefined) {
    await io.out(generateSwarmKey())
    return 0
  }
  try {
    await writeSwarmKeyFile(command.file)
  } catch (err) {
    io.err(`could not write the swarm key: ${describeError(err)}`)
    return err instanceof AccessConfigError ? EXIT_USAGE : 1
  }
  io.err(`wrote a new swarm key to ${command.file} (mode 0600); copy it to every node of the mesh and start each with --swarm-key ${command.file}`)
  return 0
}
