// Every TypeScript block in the README type-checks against the package's own API, as written:
// the blocks that are fragments (they use a `node` and ids the text introduced before) get a
// prelude declaring those names, and nothing else is changed but a literal `{ … }` body.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../', import.meta.url))

/** What the fragments rely on from the text around them. */
const PRELUDE = `import { createAgentNode, PNCounter, verifyChain, createEd25519Verifier } from 'agentmesh'
import type { AgentNode } from 'agentmesh'
declare const node: AgentNode, collector: AgentNode, processor: AgentNode
declare const idA: string, idB: string, idC: string, alice: string, bob: string, id: string
declare const members: string[], urls: string[]
declare const myFsm: { apply (command: unknown): unknown, lookup (key: string): unknown }
declare function fetchPage (url: string, options: { signal: AbortSignal }): Promise<string>
declare function llm (text: string, feedback?: string): Promise<string>
void createAgentNode; void PNCounter; void verifyChain; void createEd25519Verifier
`

/** The ```ts blocks of the README, with the line each starts on. */
function tsBlocks (readme: string): Array<{ line: number, code: string }> {
  const blocks: Array<{ line: number, code: string }> = []
  const lines = readme.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue
    const start = i + 1
    while (i + 1 < lines.length && lines[i + 1] !== '```') i++
    blocks.push({ line: start + 1, code: lines.slice(start, i + 1).join('\n') })
  }
  return blocks
}

describe('README TypeScript blocks', function () {
  this.timeout(120_000)

  it('type-check against the package API as written', async () => {
    const blocks = tsBlocks(await readFile(join(REPO, 'README.md'), 'utf8'))
    assert.ok(blocks.length >= 5, `found ${blocks.length} blocks`)
    const dir = await mkdtemp(join(tmpdir(), 'agentmesh-readme-'))
    try {
      const files: string[] = []
      for (const [i, block] of blocks.entries()) {
        const standalone = /^import /m.test(block.code)
        const body = block.code.replace(/\{ … \}/g, '{}')
        const file = `block-${block.line}.ts`
        // A top-level await needs a module; the fragments are wrapped so their names do not clash.
        await writeFile(join(dir, file), standalone ? `${body}\nexport {}\n` : `${PRELUDE}\nexport async function block${i} (): Promise<void> {\n${body}\n}\n`)
        files.push(file)
      }
      // ES modules, as the README's app is (its package.json has "type": "module").
      await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
        extends: join(REPO, 'tsconfig.json'),
        compilerOptions: { noEmit: true, rootDir: '/', noUnusedLocals: false, types: ['node'], typeRoots: [join(REPO, 'node_modules/@types')], paths: { agentmesh: [join(REPO, 'src/index.ts')] } },
        include: files,
        files: []
      }))
      const result = await new Promise<{ code: number, out: string }>((resolve) => {
        execFile(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: dir }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), out: stdout + stderr })
        })
      })
      // block-<line>.ts is the block starting on that README line (fragments after the prelude's lines).
      assert.equal(result.code, 0, `README blocks do not type-check:\n${result.out}`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
