// A small Wing–Gong / Lowe linearizability checker (the algorithm Porcupine uses): depth-first
// search over linearization points with a cache of (linearized set, state) pairs.

/** One operation of a history. `ret` is Infinity and `output` undefined when it never returned. */
export interface Operation<I, O> { client: string, input: I, output: O | undefined, call: number, ret: number, /** request id, for debugging */ id?: string }

/** A sequential specification. `step` must accept any output when `output` is undefined. */
export interface Model<S, I, O> {
  init: () => S
  step: (state: S, input: I, output: O | undefined) => { ok: boolean, state: S }
  /** A string that identifies a state (equal states, equal keys). */
  key: (state: S) => string
}

/** Result of a check; `partial` is the longest linearized prefix found when it fails. */
export interface LinearizabilityResult { ok: boolean, explored: number, partial: number, /** gave up at LINEARIZABILITY_STATES_MAX */ exhausted: boolean }

interface Node { kind: 'call' | 'ret', id: number, time: number, match: Node | null, prev: Node | null, next: Node | null }

/** Searches this many states at most; a history that needs more is reported as not checked. */
export const LINEARIZABILITY_STATES_MAX = 2_000_000

/** Check that `ops` is linearizable with respect to `model`. */
export function checkLinearizable<S, I, O> (model: Model<S, I, O>, ops: ReadonlyArray<Operation<I, O>>): LinearizabilityResult {
  const events: Node[] = []
  ops.forEach((op, id) => {
    const call: Node = { kind: 'call', id, time: op.call, match: null, prev: null, next: null }
    const ret: Node = { kind: 'ret', id, time: op.ret, match: null, prev: null, next: null }
    call.match = ret
    events.push(call, ret)
  })
  // calls sort before returns at equal times (equal time = concurrent)
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.id - b.id : a.kind === 'call' ? -1 : 1))
  const head: Node = { kind: 'call', id: -1, time: -Infinity, match: null, prev: null, next: null }
  let prev = head
  for (const e of events) { prev.next = e; e.prev = prev; prev = e }

  const linearized = new Uint8Array(ops.length)
  const cache = new Set<string>()
  const stack: Array<{ node: Node, state: S }> = []
  let state = model.init()
  let explored = 0
  let best = 0
  let cur = head.next
  while (head.next !== null) {
    if (++explored > LINEARIZABILITY_STATES_MAX) return { ok: false, explored, partial: best, exhausted: true }
    if (cur === null) return { ok: false, explored, partial: best, exhausted: false } // cannot happen: a ret always ends the list
    if (cur.kind === 'call') {
      const op = ops[cur.id]!
      const next = model.step(state, op.input, op.output)
      if (next.ok) {
        linearized[cur.id] = 1
        const key = `${linearized.join('')}|${model.key(next.state)}`
        if (!cache.has(key)) {
          cache.add(key)
          stack.push({ node: cur, state })
          state = next.state
          lift(cur)
          best = Math.max(best, stack.length)
          cur = head.next
          continue
        }
        linearized[cur.id] = 0
      }
      cur = cur.next
    } else {
      // an operation returned before we could linearize it: backtrack
      const top = stack.pop()
      if (top === undefined) return { ok: false, explored, partial: best, exhausted: false }
      state = top.state
      linearized[top.node.id] = 0
      unlift(top.node)
      cur = top.node.next
    }
  }
  return { ok: true, explored, partial: best, exhausted: false }
}

function lift (call: Node): void {
  call.prev!.next = call.next
  if (call.next !== null) call.next.prev = call.prev
  const ret = call.match!
  ret.prev!.next = ret.next
  if (ret.next !== null) ret.next.prev = ret.prev
}

function unlift (call: Node): void {
  const ret = call.match!
  ret.prev!.next = ret
  if (ret.next !== null) ret.next.prev = ret
  call.prev!.next = call
  if (call.next !== null) call.next.prev = call
}

/** Split a history by key and check each part (P-compositionality of linearizability). */
export function checkPartitioned<S, I, O> (model: Model<S, I, O>, ops: ReadonlyArray<Operation<I, O>>, keyOf: (op: Operation<I, O>) => string): { ok: boolean, failedKey: string | null, explored: number, exhausted: boolean } {
  const parts = new Map<string, Array<Operation<I, O>>>()
  for (const op of ops) {
    const k = keyOf(op)
    let list = parts.get(k)
    if (list === undefined) parts.set(k, list = [])
    list.push(op)
  }
  let explored = 0
  for (const [k, part] of [...parts].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
    const r = checkLinearizable(model, part)
    explored += r.explored
    if (!r.ok) return { ok: false, failedKey: k, explored, exhausted: r.exhausted }
  }
  return { ok: true, failedKey: null, explored, exhausted: false }
}
