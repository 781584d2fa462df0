// The CLI's Node.js check: print what is needed and exit 1 instead of a stack trace. Imported
// first by cli.ts, so it runs before any module that would fail on an older Node.js.

import { nodeVersionProblem } from '../src/node-version-check.ts'

const problem = nodeVersionProblem(process.versions.node)
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`)
  process.exit(1)
}
