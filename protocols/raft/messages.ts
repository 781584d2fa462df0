// Raft wire messages, log entries and snapshots, with a bounded codec (SPEC raft, "Messages" and "Limits").
// One flat message shape (as in etcd raftpb.Message); fields a type does not use are zero/empty.

import { decodeCbor, encodeCbor } from '../kit/cbor.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { PEER_ID_CHARS_MAX } from '../kit/limits.ts'

/** libp2p protocol id of the raft adapter. */
export const RAFT_PROTOCOL = '/agentmesh/raft/1.0.0'
/** Entries per append message: bounds one frame and one follower write (SPEC raft, Limits). */
export const ENTRIES_MAX = 256
/** Bytes of one entry's command: commands are small records, bulk data belongs elsewhere. */
export const ENTRY_BYTES_MAX = 64 * 1024
/** Bytes of a whole snapshot sent in one message: the state machine must fit in one frame. */
export const SNAPSHOT_BYTES_MAX = 8 * 1024 * 1024
/** A node id is a peer id (protocols/kit/limits.ts). */
export const NODE_ID_CHARS_MAX = PEER_ID_CHARS_MAX
/** Voters in one group: majority quorums beyond this are not what raft groups are for. */
export const VOTERS_MAX = 64
/** Bytes of entry data per append message: keeps one frame and one follower write small. */
export const APPEND_BYTES_MAX = 1024 * 1024
/** Bytes of one encoded message: a snapshot plus framing. */
export const MESSAGE_BYTES_MAX = SNAPSHOT_BYTES_MAX + 64 * 1024

/** Kinds of log entries: commands, the leader's no-op at the start of a term, and membership changes. */
export type EntryKind = 'normal' | 'noop' | 'conf'
const ENTRY_KINDS: ReadonlySet<string> = new Set(['normal', 'noop', 'conf'])

/** One log entry. `client`/`seq` identify the request for de-duplication ('' / 0 when none). */
export interface Entry {
  term: number
  index: number
  kind: EntryKind
  data: Uint8Array
  client: string
  seq: number
}

/** A membership change carried in a 'conf' entry's data: one voter at a time (SPEC raft R9). */
export interface ConfChange { op: 'add' | 'remove', node: string }

/** A compacted prefix of the log: state machine bytes at `index`, and the voters at that point. */
export interface Snapshot { index: number, term: number, voters: string[], data: Uint8Array }

/** Message types; `prop` and `readIndex` are also used between followers and the leader. */
export type MessageType =
  | 'app' | 'appResp' | 'vote' | 'voteResp' | 'preVote' | 'preVoteResp'
  | 'heartbeat' | 'heartbeatResp' | 'snap' | 'timeoutNow' | 'prop' | 'readIndex' | 'readIndexResp'
const MESSAGE_TYPES: ReadonlySet<string> = new Set(['app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp',
  'heartbeat', 'heartbeatResp', 'snap', 'timeoutNow', 'prop', 'readIndex', 'readIndexResp'])

/**
 * A raft message. `index`/`logTerm` are the previous entry (app), the last entry (vote),
 * or the acknowledged index (appResp); `hintIndex`/`hintTerm` are the fast-backtracking hint
 * on a rejected append; `context` is a read sequence (heartbeat) or read id (readIndex);
 * `force` marks a campaign started by leadership transfer (bypasses the leader lease).
 */
export interface Message {
  type: MessageType
  from: string
  to: string
  term: number
  logTerm: number
  index: number
  commit: number
  reject: boolean
  hintIndex: number
  hintTerm: number
  entries: Entry[]
  snapshot: Snapshot | null
  context: string
  force: boolean
}

/** A message with defaults for every field not given. */
export function message (fields: Pick<Message, 'type' | 'from' | 'to' | 'term'> & Partial<Message>): Message {
  return { logTerm: 0, index: 0, commit: 0, reject: false, hintIndex: 0, hintTerm: 0, entries: [], snapshot: null, context: '', force: false, ...fields }
}

/** Encode a message (deterministic CBOR). Throws LimitExceededError if it breaks a bound. */
export function encodeMessage (m: Message): Uint8Array {
  checkMessage(m)
  const bytes = encodeCbor(m)
  if (bytes.byteLength > MESSAGE_BYTES_MAX) throw new LimitExceededError(`Cannot encode raft ${m.type}: ${bytes.byteLength} bytes exceeds MESSAGE_BYTES_MAX`)
  return bytes
}

/** Decode and validate a message; throws DecodeError/LimitExceededError naming the broken field. */
export function decodeMessage (bytes: Uint8Array, bytesMax: number = MESSAGE_BYTES_MAX): Message {
  const value = decodeCbor(bytes, { bytesMax, what: 'raft message' }) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new DecodeError('Cannot decode raft message: not a map')
  const m = value as unknown as Message
  checkMessage(m)
  return { type: m.type, from: m.from, to: m.to, term: m.term, logTerm: m.logTerm, index: m.index, commit: m.commit, reject: m.reject, hintIndex: m.hintIndex, hintTerm: m.hintTerm, entries: m.entries.map(copyEntry), snapshot: m.snapshot === null ? null : { ...m.snapshot, voters: [...m.snapshot.voters] }, context: m.context, force: m.force }
}

function copyEntry (e: Entry): Entry { return { term: e.term, index: e.index, kind: e.kind, data: e.data, client: e.client, seq: e.seq } }

function fail (what: string): never { throw new DecodeError(`Cannot decode raft message: ${what}`) }
function isCount (v: unknown): v is number { return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 }
function checkId (v: unknown, field: string, allowEmpty: boolean): void {
  if (typeof v !== 'string') fail(`${field} is not a string`)
  if (!allowEmpty && v.length === 0) fail(`${field} is empty`)
  if (v.length > NODE_ID_CHARS_MAX) throw new LimitExceededError(`Cannot decode raft message: ${field} has ${v.length} characters, exceeds NODE_ID_CHARS_MAX (${NODE_ID_CHARS_MAX})`)
}

/** Validate every field of an entry. */
export function checkEntry (e: unknown): asserts e is Entry {
  if (typeof e !== 'object' || e === null) fail('entry is not a map')
  const x = e as Record<string, unknown>
  if (!isCount(x.term) || !isCount(x.index)) fail('entry term/index must be non-negative integers') // index 0: a forwarded proposal
  if (typeof x.kind !== 'string' || !ENTRY_KINDS.has(x.kind)) fail(`unknown entry kind ${String(x.kind)}`)
  if (!(x.data instanceof Uint8Array)) fail('entry data is not bytes')
  if (x.data.byteLength > ENTRY_BYTES_MAX) throw new LimitExceededError(`Cannot decode raft entry: ${x.data.byteLength} bytes exceeds ENTRY_BYTES_MAX (${ENTRY_BYTES_MAX})`)
  checkId(x.client, 'entry client', true)
  if (!isCount(x.seq)) fail('entry seq is not a count')
}

/** Validate a snapshot (from a peer or from storage); throws DecodeError/LimitExceededError naming the field. */
export function checkSnapshot (s: unknown): asserts s is Snapshot {
  if (typeof s !== 'object' || s === null) fail('snapshot is not a map')
  const x = s as Record<string, unknown>
  if (!isCount(x.index) || !isCount(x.term)) fail('snapshot index/term must be integers')
  if (!Array.isArray(x.voters) || x.voters.length === 0) fail('snapshot voters must be a non-empty list')
  if (x.voters.length > VOTERS_MAX) throw new LimitExceededError(`Cannot decode raft snapshot: ${x.voters.length} voters exceeds VOTERS_MAX (${VOTERS_MAX})`)
  for (const v of x.voters) checkId(v, 'snapshot voter', false)
  if (!(x.data instanceof Uint8Array)) fail('snapshot data is not bytes')
  if (x.data.byteLength > SNAPSHOT_BYTES_MAX) throw new LimitExceededError(`Cannot decode raft snapshot: ${x.data.byteLength} bytes exceeds SNAPSHOT_BYTES_MAX (${SNAPSHOT_BYTES_MAX})`)
}

/** Validate a whole message against its type and the bounds. */
export function checkMessage (m: unknown): asserts m is Message {
  const x = m as Record<string, unknown>
  if (typeof x.type !== 'string' || !MESSAGE_TYPES.has(x.type)) fail(`unknown type ${String(x.type)}`)
  checkId(x.from, 'from', false)
  checkId(x.to, 'to', false)
  for (const f of ['term', 'logTerm', 'index', 'commit', 'hintIndex', 'hintTerm'] as const) if (!isCount(x[f])) fail(`${f} is not a non-negative integer`)
  if (typeof x.reject !== 'boolean' || typeof x.force !== 'boolean') fail('reject/force must be booleans')
  if (!Array.isArray(x.entries)) fail('entries is not a list')
  if (x.entries.length > ENTRIES_MAX) throw new LimitExceededError(`Cannot decode raft ${x.type}: ${x.entries.length} entries exceeds ENTRIES_MAX (${ENTRIES_MAX})`)
  for (const e of x.entries) checkEntry(e)
  if (x.type === 'app') checkAppendEntries(x as unknown as Message)
  if (x.snapshot !== null) checkSnapshot(x.snapshot)
  if (typeof x.context !== 'string' || x.context.length > NODE_ID_CHARS_MAX) fail('context must be a short string')
}

/**
 * SPEC raft R4: an append's entries follow its previous entry: indexes prevIndex+1, +2, … and terms
 * that never decrease, from the previous entry's term up to the sender's term (a leader only sends
 * entries of its term or earlier). Anything else is a corrupt or forged message.
 */
function checkAppendEntries (m: Message): void {
  let index = m.index
  let term = m.logTerm
  for (const e of m.entries) {
    if (e.index !== index + 1) fail(`app entry ${e.index} does not follow ${index} (entries must be consecutive from prevIndex+1)`)
    if (e.term < term || e.term > m.term) fail(`app entry ${e.index} has term ${e.term}, outside ${term}..${m.term} (terms never decrease and never exceed the message term)`)
    index = e.index
    term = e.term
  }
}

/** Validate a hard state read back from storage (SPEC raft "Restart"); throws DecodeError naming the field. */
export function checkHardState (h: unknown): asserts h is { term: number, vote: string, commit: number } {
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new DecodeError('Cannot decode raft hard state: not a map')
  const x = h as Record<string, unknown>
  if (!isCount(x.term) || !isCount(x.commit)) throw new DecodeError('Cannot decode raft hard state: term/commit must be non-negative integers')
  if (typeof x.vote !== 'string' || x.vote.length > NODE_ID_CHARS_MAX) throw new DecodeError(`Cannot decode raft hard state: vote must be a string of at most ${NODE_ID_CHARS_MAX} characters`)
}

/** Encode a membership change for a 'conf' entry. */
export function encodeConfChange (cc: ConfChange): Uint8Array { return encodeCbor(cc) }

/** Decode a 'conf' entry's data. */
export function decodeConfChange (bytes: Uint8Array): ConfChange {
  const v = decodeCbor(bytes, { bytesMax: ENTRY_BYTES_MAX, what: 'raft conf change' }) as Record<string, unknown>
  if (typeof v !== 'object' || v === null || (v.op !== 'add' && v.op !== 'remove')) throw new DecodeError('Cannot decode raft conf change: op must be add or remove')
  checkId(v.node, 'conf change node', false)
  return { op: v.op, node: v.node as string }
}

/** One stable line describing an entry (etcd DescribeEntry). */
export function describeEntry (e: Entry): string {
  const req = e.client === '' ? '' : ` req=${e.client}/${e.seq}`
  if (e.kind === 'conf') {
    let change: string
    try {
      const cc = decodeConfChange(e.data)
      change = `${cc.op} ${cc.node}`
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
      change = `malformed (${err.message})`
    }
    return `${e.term}/${e.index} conf ${change}${req}`
  }
  return `${e.term}/${e.index} ${e.kind} ${e.data.byteLength}B${req}`
}

/** One stable line describing a message (etcd DescribeMessage). */
export function describeMessage (m: Message): string {
  let line = `${m.from}->${m.to} ${m.type} term=${m.term}`
  if (m.logTerm !== 0 || m.index !== 0) line += ` log=${m.logTerm}/${m.index}`
  if (m.commit !== 0) line += ` commit=${m.commit}`
  if (m.reject) line += ` rejected hint=${m.hintTerm}/${m.hintIndex}`
  if (m.context !== '') line += ` ctx=${m.context}`
  if (m.force) line += ' force'
  if (m.entries.length > 0) line += ` entries=[${m.entries.map(describeEntry).join(', ')}]`
  if (m.snapshot !== null) line += ` snapshot=${m.snapshot.term}/${m.snapshot.index} voters=${m.snapshot.voters.join(',')} ${m.snapshot.data.byteLength}B`
  return line
}
