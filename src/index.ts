// Public entry point of the agentmesh package.

export { createAgentNode, AgentNode } from './agent-node.ts'
export type { AgentNodeOptions, AgentNodeEvents } from './agent-node.ts'
export type { DirectService, DirectHandler, RequestContext, CallOptions } from '../protocols/direct/adapter.ts'
export type { Payload } from '../protocols/direct/messages.ts'
export { HealthService } from '../protocols/health/adapter.ts'
export type { PeerInfo, HealthStats, HealthEvents } from '../protocols/health/adapter.ts'
export type { PeerStatus, HealthConfig } from '../protocols/health/core.ts'
export { UnknownMethodError, RemoteError } from '../protocols/direct/errors.ts'
export {
  AgentMeshError, DecodeError, LimitExceededError, TimeoutError, AbortedError,
  NotRunningError, PeerUnreachableError
} from '../protocols/kit/errors.ts'
export type { DocsService, DocStatus, DocsStats } from '../protocols/docs/adapter.ts'
export { PNCounter, GCounter, LWWRegister } from '../protocols/docs/crdt.ts'
export type { GroupsService, JoinOptions } from './raft/service.ts'
export type { RaftGroup, BftHandler, LockHandle, JobHandle, ProposeOptions, RequestOptions } from './raft/group.ts'
export { NoLeaderError, GroupNotJoinedError, GroupConfigError, LockUnavailableError, NotBuiltInKvError, BftNotConfiguredError, ApplyError } from './raft/errors.ts'
export type { StateService, StateEntry, PutReceipt, PutOptions, GetOptions, FindAgentsOptions } from '../protocols/state/adapter.ts'
export type { AgentCard } from '../protocols/state/card.ts'
export { RecordRejectedError, NoReplicasError } from '../protocols/state/errors.ts'
