// The gateway's task port for a node: filled from `node.tasks` once the node hosts task queues.

import type { AgentNode } from '../../src/index.ts'
import { AgentMeshError } from '../../protocols/kit/errors.ts'
import type { MeshTaskPort } from './port.ts'

/** A port with no queues: the card lists no skills and a message is rejected with the reason. */
export const NO_QUEUES: MeshTaskPort = {
  queues: async () => [],
  submit: async (queue) => { throw new AgentMeshError('ERR_BAD_REQUEST', `Cannot submit to queue "${queue}": this node hosts no task queues`) },
  get: async () => undefined,
  watch: async function * () {},
  cancel: async () => {}
}

/** The port of `node`'s task queues. */
export function tasksPort (_node: AgentNode): MeshTaskPort {
  return NO_QUEUES
}
