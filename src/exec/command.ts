// `--exec "<command>"` to an argv, without a shell: the program is spawned directly, so a missing
// or non-executable program surfaces as ENOENT/EACCES at spawn (a clear error and exit 2), which
// `sh -c` would hide behind exit status 127. Pure: no I/O.
//
// Hand-written rather than shell-quote: that library expands `$VAR` from the environment and turns
// operators into objects, while here a command must mean exactly the words it shows.

import { AgentMeshError } from '../../protocols/kit/errors.ts'

/** Longest `--exec` command line: far above any real command, and it bounds the argv built from it. */
export const EXEC_COMMAND_CHARS_MAX = 4096

/** A `--exec` command that cannot be split into an argv: unbalanced quotes, shell syntax, empty. */
export class ExecCommandError extends AgentMeshError {
  override name = 'ExecCommandError'
  constructor (message: string) { super('ERR_EXEC_COMMAND', message) }
}

/** Characters that mean something only to a shell; refused so nobody expects a pipe to work. */
const SHELL_OPERATORS = new Set(['|', '&', ';', '<', '>', '`'])

/**
 * Split a command like a POSIX shell splits words, and nothing more: whitespace separates words;
 * '…' keeps everything literally; "…" keeps everything but lets \" and \\ escape; a backslash
 * outside quotes escapes the next character. Pipes, redirections, `;`, `&`, backticks and `$(`
 * are refused: wrap the command in `sh -c '…'` for those.
 */
export function splitCommand (command: string): string[] {
  if (command.length > EXEC_COMMAND_CHARS_MAX) throw new ExecCommandError(`the command is ${command.length} characters; at most ${EXEC_COMMAND_CHARS_MAX} (EXEC_COMMAND_CHARS_MAX)`)
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!
    if (quote === "'") {
      if (c === "'") quote = undefined
      else word += c
      continue
    }
    if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === '\\' && (command[i + 1] === '"' || command[i + 1] === '\\')) word += command[++i]
      else word += c
      continue
    }
    if (c === "'" || c === '"') { quote = c; inWord = true; continue }
    if (c === '\\') {
      if (i + 1 >= command.length) throw new ExecCommandError(`"${command}" ends with a lone backslash`)
      word += command[++i]
      inWord = true
      continue
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
      continue
    }
    if (SHELL_OPERATORS.has(c) || (c === '$' && command[i + 1] === '(')) {
      throw new ExecCommandError(`"${command}" uses the shell operator "${c === '$' ? '$(' : c}", but the command runs without a shell; wrap it: sh -c '…'`)
    }
    word += c
    inWord = true
  }
  if (quote !== undefined) throw new ExecCommandError(`"${command}" has an unclosed ${quote} quote`)
  if (inWord) words.push(word)
  if (words.length === 0) throw new ExecCommandError('the command is empty; expected a program and its arguments, e.g. "python3 worker.py"')
  return words
}
