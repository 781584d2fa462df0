// Which Node.js agentmesh needs, and the message for a user on an older one. Kept free of
// imports so it can be evaluated before anything else (src/node-version.ts, node/node-version.ts).

/** The oldest Node.js major agentmesh runs on (libp2p 3 and its dependencies need 22). */
export const NODE_MAJOR_MIN = 22

/** Undefined when `version` (as in process.versions.node) is new enough; otherwise what to tell the user. */
export function nodeVersionProblem (version: string): string | undefined {
  const major = Number(version.split('.')[0])
  if (Number.isInteger(major) && major >= NODE_MAJOR_MIN) return undefined
  return `agentmesh needs Node.js ${NODE_MAJOR_MIN} or newer; this is Node.js ${version} (${process.execPath}). ` +
    `Install a newer Node.js (e.g. with nvm: nvm install 24), or in an agentmesh checkout use its pinned one: node_modules/.bin/node`
}
