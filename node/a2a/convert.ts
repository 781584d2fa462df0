// Mesh tasks in A2A terms: states, message parts → task input, task output → artifact, and the
// Agent Card (v1.0, plus the v0.3 shape older clients read) built from the reachable queues.

import { randomUUID } from 'node:crypto'
import { AgentCard as AgentCardCodec, Role, TaskState as A2aState } from '@a2a-js/sdk'
import type { AgentCard, Artifact, Message, Part, Task, TaskStatus } from '@a2a-js/sdk'
import { duplicateInterfacesForLegacy } from '@a2a-js/sdk/compat/v0_3'
import type { MeshTaskView, QueueSkill, TaskState } from './port.ts'

/** Skills one card lists at most: a card is read by clients and models; beyond this it is noise. */
export const CARD_SKILLS_MAX = 64
/** Name of the scheme the card declares: the API's bearer token. */
export const BEARER_SCHEME = 'bearer'

/** A2A state of a mesh state. `retrying` and `validating` are `working` to A2A: never terminal. */
export function a2aState (state: TaskState): A2aState {
  switch (state) {
    case 'submitted': return A2aState.TASK_STATE_SUBMITTED
    case 'working':
    case 'validating':
    case 'retrying': return A2aState.TASK_STATE_WORKING
    case 'completed': return A2aState.TASK_STATE_COMPLETED
    case 'failed': return A2aState.TASK_STATE_FAILED
    case 'canceled': return A2aState.TASK_STATE_CANCELED
    case 'rejected': return A2aState.TASK_STATE_REJECTED
    case 'input-required': return A2aState.TASK_STATE_INPUT_REQUIRED
  }
}

/** A2A states after which nothing changes. */
export const A2A_TERMINAL: ReadonlySet<A2aState> = new Set([A2aState.TASK_STATE_COMPLETED, A2aState.TASK_STATE_FAILED, A2aState.TASK_STATE_CANCELED, A2aState.TASK_STATE_REJECTED])

export function textPart (text: string): Part {
  return { content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: undefined }
}

export function dataPart (value: unknown): Part {
  return { content: { $case: 'data', value }, mediaType: 'application/json', filename: '', metadata: undefined }
}

/** An agent-side message (status messages carry errors and questions). */
export function agentMessage (taskId: string, contextId: string, parts: Part[]): Message {
  return { messageId: randomUUID(), contextId, taskId, role: Role.ROLE_AGENT, parts, metadata: undefined, extensions: [], referenceTaskIds: [] }
}

/**
 * The task input of a message: its text parts joined become `input.text` (DESIGN), its data parts
 * `input.data` (one value, or a list when there are several). Files are not carried.
 */
export function inputOf (message: Message): { text: string, data?: unknown } {
  const texts: string[] = []
  const data: unknown[] = []
  for (const part of message.parts) {
    if (part.content?.$case === 'text') texts.push(part.content.value)
    else if (part.content?.$case === 'data') data.push(part.content.value)
  }
  return { text: texts.join('\n'), ...(data.length === 1 ? { data: data[0] } : data.length > 1 ? { data } : {}) }
}

/** The parts of a task output: a string is text; `{text}` gives a text part too; anything else is data. */
export function outputParts (output: unknown): Part[] {
  if (typeof output === 'string') return [textPart(output)]
  const parts: Part[] = []
  if (output !== null && typeof output === 'object' && typeof (output as { text?: unknown }).text === 'string') parts.push(textPart((output as { text: string }).text))
  parts.push(dataPart(output ?? null))
  return parts
}

/** The artifact holding a completed task's output. */
export function resultArtifact (view: MeshTaskView): Artifact {
  return { artifactId: `${view.id}-result`, name: 'result', description: `Output of mesh task ${view.id} on queue ${view.queue}`, parts: outputParts(view.output), metadata: undefined, extensions: [] }
}

/** The A2A status of a mesh task (with a message for failures and questions). */
export function statusOf (view: MeshTaskView, a2aTaskId: string, contextId: string, nowIso: string): TaskStatus {
  const state = a2aState(view.state)
  let message: Message | undefined
  if (view.error !== undefined && (state === A2aState.TASK_STATE_FAILED || state === A2aState.TASK_STATE_REJECTED || state === A2aState.TASK_STATE_CANCELED)) {
    message = agentMessage(a2aTaskId, contextId, [textPart(`${view.error.type}: ${view.error.message}`)])
  } else if (view.question !== undefined && state === A2aState.TASK_STATE_INPUT_REQUIRED) {
    message = agentMessage(a2aTaskId, contextId, [textPart(view.question)])
  }
  return { state, message, timestamp: nowIso }
}

/** Metadata linking an A2A task to its mesh task. */
export function meshMetadata (view: Pick<MeshTaskView, 'id' | 'queue' | 'attempt'>): Record<string, unknown> {
  return { queue: view.queue, meshTaskId: view.id, attempt: view.attempt }
}

/** An A2A task for a mesh task (tasks/get of a task the gateway did not see start). */
export function taskOf (view: MeshTaskView, a2aTaskId: string, contextId: string, nowIso: string): Task {
  return {
    id: a2aTaskId,
    contextId,
    status: statusOf(view, a2aTaskId, contextId, nowIso),
    artifacts: view.state === 'completed' ? [resultArtifact(view)] : [],
    history: [],
    metadata: meshMetadata(view)
  }
}

/** What the card says about the node. */
export interface CardIdentity { name: string, description: string, version: string, peerId: string }

/** The v1.0 Agent Card: one skill per reachable queue, JSON-RPC at `rpcUrl` (v1.0 and v0.3), bearer auth. */
export function agentCard (identity: CardIdentity, queues: QueueSkill[], rpcUrl: string): AgentCard {
  const bearer = { schemes: { [BEARER_SCHEME]: { list: [] } } }
  return {
    name: identity.name,
    description: identity.description,
    version: identity.version,
    supportedInterfaces: duplicateInterfacesForLegacy([{ url: rpcUrl, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }], ['JSONRPC']),
    provider: undefined,
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {
      [BEARER_SCHEME]: { scheme: { $case: 'httpAuthSecurityScheme', value: { scheme: 'bearer', bearerFormat: '', description: 'The node\'s API token: <data-dir>/api-token, or the one printed at start' } } }
    },
    securityRequirements: [bearer],
    defaultInputModes: ['text/plain', 'application/json'],
    defaultOutputModes: ['text/plain', 'application/json'],
    skills: queues.slice(0, CARD_SKILLS_MAX).map((queue) => ({
      id: queue.name,
      name: queue.name,
      description: queue.description ?? `Tasks on the mesh queue "${queue.name}": a worker on the mesh claims each one; text parts become input.text`,
      tags: ['agentmesh', 'queue'],
      examples: [],
      inputModes: ['text/plain', 'application/json'],
      outputModes: ['text/plain', 'application/json'],
      securityRequirements: [bearer]
    })),
    signatures: []
  }
}

/** The card in ProtoJSON, the v1.0 wire form. */
export function cardJson (card: AgentCard): unknown {
  return AgentCardCodec.toJSON(card)
}

/**
 * The same card in the v0.3 JSON shape, for clients that ask without an `A2A-Version` header or
 * with 0.3 (the SDK builds this only inside its Express router, which this server does not use).
 */
export function legacyCardJson (card: AgentCard): Record<string, unknown> {
  const legacy = card.supportedInterfaces.find((i) => i.protocolVersion.startsWith('0.3')) ?? card.supportedInterfaces[0]!
  return {
    protocolVersion: '0.3.0',
    name: card.name,
    description: card.description,
    version: card.version,
    url: legacy.url,
    preferredTransport: legacy.protocolBinding,
    additionalInterfaces: [{ url: legacy.url, transport: legacy.protocolBinding }],
    capabilities: { streaming: card.capabilities?.streaming ?? false, pushNotifications: false },
    securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', description: 'The node\'s API token: <data-dir>/api-token, or the one printed at start' } },
    security: [{ [BEARER_SCHEME]: [] }],
    defaultInputModes: card.defaultInputModes,
    defaultOutputModes: card.defaultOutputModes,
    skills: card.skills.map((s) => ({ id: s.id, name: s.name, description: s.description, tags: s.tags, inputModes: s.inputModes, outputModes: s.outputModes }))
  }
}
