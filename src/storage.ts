// One embedded LevelDB per data dir (in-memory without one). Each protocol gets its own
// sublevel; libp2p's datastore lives in the `libp2p` sublevel (the libp2p convention).

import { access, constants, mkdir, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { AgentMeshError, describeError } from '../protocols/kit/errors.ts'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { BoundedLevelDatastore } from './dht-store.ts'
import type { AbstractLevel, AbstractSublevel, AbstractPutOptions, AbstractBatchOptions } from 'abstract-level'

/**
 * Options for writes that must survive a crash: LevelDB fsyncs the write-ahead log before
 * the write resolves. (`sync` is a classic-level option the abstract-level types omit.)
 */
export const SYNC_PUT = { sync: true } as AbstractPutOptions<string, Uint8Array>
/** As SYNC_PUT, for atomic batches. */
export const SYNC_BATCH = { sync: true } as AbstractBatchOptions<string, Uint8Array>

/** A key/value namespace with byte values. */
export type Sublevel = AbstractSublevel<AbstractLevel<string, string, Uint8Array>, string, string, Uint8Array>

/** The node's database: protocol namespaces plus libp2p's datastore. */
export interface Storage {
  /** True when data survives a restart (a data dir was given). */
  readonly persistent: boolean
  /** The namespace for one protocol, e.g. `events`, `raft/<group>`. Writes that must survive a crash pass `{ sync: true }`. */
  sublevel (name: string): Sublevel
  /** libp2p's datastore (peer store, DHT records). */
  readonly datastore: BoundedLevelDatastore
  close (): Promise<void>
}

/**
 * Node 24 allocates small Buffers (a string key encoded to bytes, a subarray of a received
 * frame) from shared 64 KiB slabs, and memory-level keeps whatever Buffer it is given: one
 * small stored key pinned a whole slab. Measured with 100 in-memory nodes in one process:
 * stored keys and values pinned 893 slabs (56 MB). This store keeps exact-size copies instead.
 */
class CompactMemoryLevel extends MemoryLevel<string, Uint8Array> {
  async _put (key: unknown, value: unknown, options: unknown): Promise<void> {
    await (MemoryLevel.prototype as unknown as { _put: (k: unknown, v: unknown, o: unknown) => Promise<void> })._put.call(this, ownCopy(key), ownCopy(value), options)
  }

  async _batch (operations: Array<{ type: string, key: unknown, value?: unknown }>, options: unknown): Promise<void> {
    const copied = operations.map(op => op.type === 'put' ? { ...op, key: ownCopy(op.key), value: ownCopy(op.value) } : op)
    await (MemoryLevel.prototype as unknown as { _batch: (ops: unknown, o: unknown) => Promise<void> })._batch.call(this, copied, options)
  }
}

/** A Buffer over its own exact-size memory (nothing else is pinned by keeping it). */
function ownCopy (data: unknown): unknown {
  if (!(data instanceof Uint8Array)) return data
  return Buffer.from(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
}

/** The data dir cannot be created or written; the message names the path and the reason. */
export class DataDirError extends AgentMeshError {
  override name = 'DataDirError'
  constructor (message: string, options?: ErrorOptions) { super('ERR_DATA_DIR', message, options) }
}

/** Most missing directory levels created for one data dir: a real path has a handful; this bounds the walk up. */
const DATA_DIR_MISSING_LEVELS_MAX = 64

/** What an fs error code means for a data dir, in words a user can act on. */
function dataDirReason (err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  switch (code) {
    case 'ENOENT': return 'this file system does not allow creating it (kernel file systems such as /proc and /sys do not)'
    case 'EACCES': case 'EPERM': return 'permission denied'
    case 'EROFS': return 'the file system is read-only'
    case 'ENOSPC': return 'no space left on the device'
    case 'ENOTDIR': return 'a part of the path is a file, not a directory'
    default: return describeError(err)
  }
}

function dataDirError (dataDir: string, at: string, err: unknown): DataDirError {
  const code = (err as NodeJS.ErrnoException).code
  return new DataDirError(`cannot use data dir ${dataDir}: ${at}: ${dataDirReason(err)}${code !== undefined ? ` (${code})` : ''}`, { cause: err })
}

/**
 * Create `path` and its missing parents one level at a time, then check it is writable. Not
 * `mkdir(…, { recursive: true })`: under /proc that loops forever at full CPU, and on a read-only
 * file system it reports ENOENT instead of EROFS.
 */
async function makeDataDir (dataDir: string, path: string): Promise<void> {
  const missing: string[] = []
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      const found = await stat(dir)
      if (!found.isDirectory()) throw new DataDirError(`cannot use data dir ${dataDir}: ${dir} is a file, not a directory`)
      break
    } catch (err) {
      if (err instanceof DataDirError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw dataDirError(dataDir, dir, err)
      if (dirname(dir) === dir || missing.length >= DATA_DIR_MISSING_LEVELS_MAX) throw dataDirError(dataDir, dir, err)
      missing.push(dir)
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir)
    } catch (err) {
      // Another process (a second node on the same dir) may create it between stat and mkdir.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw dataDirError(dataDir, dir, err)
    }
  }
  try {
    await access(path, constants.W_OK)
  } catch (err) {
    throw dataDirError(dataDir, path, err)
  }
}

/** Open (and create) the database under `dataDir/db`, or an in-memory one without `dataDir`. */
export async function openStorage (options: { dataDir?: string }): Promise<Storage> {
  let db: AbstractLevel<string, string, Uint8Array>
  if (options.dataDir !== undefined) {
    const path = join(options.dataDir, 'db')
    await makeDataDir(options.dataDir, path)
    db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' }) as unknown as AbstractLevel<string, string, Uint8Array>
  } else {
    db = new CompactMemoryLevel({ valueEncoding: 'view' }) as unknown as AbstractLevel<string, string, Uint8Array>
  }
  await db.open()
  const sublevels = new Map<string, Sublevel>()
  const sublevel = (name: string): Sublevel => {
    let s = sublevels.get(name)
    if (s === undefined) {
      s = db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' }) as Sublevel
      sublevels.set(name, s)
    }
    return s
  }
  // datastore-level drives any abstract-level database; a sublevel keeps libp2p's keys apart.
  const datastore = new BoundedLevelDatastore(sublevel('libp2p') as never)
  let closed = false
  return {
    persistent: options.dataDir !== undefined,
    sublevel,
    datastore,
    async close () {
      if (closed) return
      closed = true
      await datastore.close()
      await db.close()
    }
  }
}
