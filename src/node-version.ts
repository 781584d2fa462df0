// Refuse to load on a Node.js older than the one agentmesh needs, with a message that says so.
// Imported first by the package entry: ES modules evaluate their imports in order, so this runs
// before libp2p's modules, which on older Node.js fail later and obscurely (e.g.
// `Promise.withResolvers is not a function` on Node 20).

import { nodeVersionProblem } from './node-version-check.ts'

const problem = nodeVersionProblem(process.versions.node)
if (problem !== undefined) throw new Error(problem)
