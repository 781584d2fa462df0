// NDJSON framing for `--exec` children: split a byte stream into lines without ever buffering more
// than a bound. Pure: no I/O; the supervisor feeds it chunks and acts on what it returns.

import { assert } from '../../protocols/kit/assert.ts'

/**
 * Longest line either side may write: 1 MiB. A task's input and output are bounded far lower by the
 * task layer (TASK_INPUT_BYTES_MAX, TASK_OUTPUT_BYTES_MAX), so only a broken child reaches this.
 */
export const EXEC_LINE_BYTES_MAX = 1024 * 1024

/** What a chunk of input yields: complete lines (without `\n`, a trailing `\r` removed), or the news that a line broke the bound. */
export type LineEvent =
  | { kind: 'line', text: string }
  /** A line passed `bytesMax` without a newline; its bytes up to the next newline are discarded. */
  | { kind: 'overlong', bytesMax: number }

const NEWLINE = 0x0a

/** Splits bytes into UTF-8 lines of at most `bytesMax` bytes; holds at most `bytesMax` bytes. */
export class LineSplitter {
  readonly #bytesMax: number
  #parts: Uint8Array[] = []
  #buffered = 0
  /** True while discarding the rest of an over-long line. */
  #discarding = false
  readonly #decoder = new TextDecoder('utf-8')

  constructor (bytesMax = EXEC_LINE_BYTES_MAX) {
    assert(Number.isInteger(bytesMax) && bytesMax > 0, 'LineSplitter: bytesMax must be a positive integer')
    this.#bytesMax = bytesMax
  }

  /** Feed a chunk; returns the events it completes, in order. */
  push (chunk: Uint8Array): LineEvent[] {
    const events: LineEvent[] = []
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start)
      const end = newline === -1 ? chunk.length : newline
      if (!this.#discarding) {
        const piece = chunk.subarray(start, end)
        if (this.#buffered + piece.length > this.#bytesMax) {
          events.push({ kind: 'overlong', bytesMax: this.#bytesMax })
          this.#parts = []
          this.#buffered = 0
          this.#discarding = true
        } else if (piece.length > 0) {
          // Copy: the caller may reuse its chunk buffer after push returns.
          this.#parts.push(piece.slice())
          this.#buffered += piece.length
        }
      }
      if (newline === -1) break
      if (this.#discarding) this.#discarding = false
      else events.push({ kind: 'line', text: this.#take() })
      start = newline + 1
    }
    return events
  }

  /** The stream ended: a last line without a newline still counts. */
  end (): LineEvent[] {
    if (this.#discarding) { this.#discarding = false; return [] }
    if (this.#buffered === 0) return []
    return [{ kind: 'line', text: this.#take() }]
  }

  /** Bytes held for the current partial line (never above bytesMax). */
  get bufferedBytes (): number { return this.#buffered }

  #take (): string {
    const bytes = this.#parts.length === 1 ? this.#parts[0]! : concat(this.#parts, this.#buffered)
    this.#parts = []
    this.#buffered = 0
    const text = this.#decoder.decode(bytes)
    return text.endsWith('\r') ? text.slice(0, -1) : text
  }
}

function concat (parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) { out.set(part, offset); offset += part.length }
  return out
}
