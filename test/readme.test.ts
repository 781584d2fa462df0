// Every `npm run sim -- …` and `npm run node -- …` command the README shows parses as written
// (placeholders such as <file>, N or 12D3KooW... aside): a renamed flag cannot leave it stale.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseSimArgs } from '../sim/cli.ts'
import { parseCommand } from '../node/args.ts'
import { isQuerySubcommand, parseQuery } from '../node/query.ts'

const README = fileURLToPath(new URL('../README.md', import.meta.url))

/** The commands in the README, each as its argument words after `--`, without trailing comments. */
async function commands (prefix: RegExp): Promise<string[][]> {
  const text = await readFile(README, 'utf8')
  const found: string[][] = []
  for (const line of text.split('\n')) {
    for (const match of line.matchAll(new RegExp(`${prefix.source}([^\`#]*)`, 'g'))) {
      const args = match[1]!.trim()
      // Placeholders and alternatives are for the reader to fill in, not to run.
      if (/<|>|\.\.\.|…|\||\[|\bN\b|\bS\b/.test(args)) continue
      found.push(args === '' ? [] : args.split(/\s+/))
    }
  }
  return found
}

describe('README commands parse as written', () => {
  it('npm run sim -- …', async () => {
    const all = await commands(/npm run(?: -s)? sim -- /)
    assert.ok(all.length >= 10, `found ${all.length} sim commands`)
    for (const args of all) {
      if (args[0] === '--help') continue // answered before parsing (sim/cli.ts main)
      assert.doesNotThrow(() => parseSimArgs(args), `npm run sim -- ${args.join(' ')}`)
    }
  })

  it('npm run node -- …', async () => {
    const all = await commands(/npm run(?: -s)? node -- /)
    assert.ok(all.length >= 5, `found ${all.length} node commands`)
    for (const args of all) {
      assert.doesNotThrow(() => isQuerySubcommand(args[0]) ? parseQuery(args[0], args.slice(1)) : parseCommand(args), `npm run node -- ${args.join(' ')}`)
    }
  })
})
