// The kad-dht validator and selector for the `am` namespace, plus the node's own view of
// its stored record. Lives beside the datastore: the validator also refuses a stale
// overwrite of a better record this node already holds (SPEC state, "Stale writes").

import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import type { Validators, Selectors } from '@libp2p/kad-dht'
import { describeError } from '../kit/errors.ts'
import { STATE_NAMESPACE } from './messages.ts'
import type { SignedRecord } from './messages.ts'
import { validateRecord } from './validate.ts'
import { compareRecords, selectRecordBytes } from './select.ts'
import { RecordRejectedError } from './errors.ts'

/** kad-dht's datastore prefix for records (its default `/dht`, then `/record`). */
const DHT_RECORD_PREFIX = '/dht/record'

/** What the rules need: the datastore kad-dht writes to, and a clock. */
export interface StateRulesOptions {
  datastore: Datastore
  nowMs: () => number
  /** Called for each rejected record (metrics, logs). */
  onReject?: (err: RecordRejectedError) => void
}

/** The validator/selector maps for `createMeshLibp2p`, and a reader of the locally stored record. */
export interface StateRules {
  validators: Validators
  selectors: Selectors
  /** The valid, unexpired record this node stores for `dhtKey`, if any. */
  readLocal (dhtKey: Uint8Array, options?: { signal?: AbortSignal }): Promise<SignedRecord | undefined>
}

/** Build the rules over the node's datastore. */
export function createStateRules (options: StateRulesOptions): StateRules {
  const { datastore, nowMs } = options

  async function readLocal (dhtKey: Uint8Array, readOptions: { signal?: AbortSignal } = {}): Promise<SignedRecord | undefined> {
    let raw: Uint8Array
    try {
      raw = await datastore.get(new Key(`${DHT_RECORD_PREFIX}/${uint8ArrayToString(dhtKey, 'base32')}`, false), readOptions)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
    try {
      return await validateRecord(dhtKey, Libp2pRecord.deserialize(raw).value, { nowMs: nowMs() })
    } catch (err) {
      if (err instanceof RecordRejectedError) return undefined // expired or otherwise invalid: absent
      throw err
    }
  }

  async function validate (dhtKey: Uint8Array, value: Uint8Array): Promise<void> {
    try {
      const record = await validateRecord(dhtKey, value, { nowMs: nowMs() })
      const stored = await readLocal(dhtKey)
      if (stored !== undefined && compareRecords(record, stored) < 0) {
        throw new RecordRejectedError('stale', `Rejected state record "${record.key}": this node holds a newer one (LWW order, SPEC state "Conflicts")`)
      }
    } catch (err) {
      if (err instanceof RecordRejectedError) options.onReject?.(err)
      else options.onReject?.(new RecordRejectedError('malformed', describeError(err), { cause: err }))
      throw err
    }
  }

  return {
    validators: { [STATE_NAMESPACE]: validate },
    selectors: { [STATE_NAMESPACE]: selectRecordBytes },
    readLocal
  }
}
