// Public entry point of the agentmesh package.

// First: on a too-old Node.js, fail here with a message rather than deep inside libp2p.
import './node-version.ts'

export { createAgentNode, AgentNode } from './agent-node.ts'
export type { AgentNodeOptions, AgentNodeEvents } from './agent-node.ts'
export type { UnreachablePeer, UnreachableReason } from './bootstrap.ts'
export { DataDirError } from './storage.ts'
export { NODE_MAJOR_MIN } from './node-version-check.ts'
export type { DirectService, DirectHandler, RequestContext, CallOptions } from '../protocols/direct/adapter.ts'
export type { Payload } from '../protocols/direct/messages.ts'
export { HealthService } from '../protocols/health/adapter.ts'
export type { PeerInfo, HealthStats, HealthEvents } from '../protocols/health/adapter.ts'
export type { PeerStatus, HealthConfig } from '../protocols/health/core.ts'
export { UnknownMethodError, RemoteError } from '../protocols/direct/errors.ts'
export { RateLimitedError } from '../protocols/direct/errors.ts'
export { installPeerErrorGuard, isPeerError, PEER_ERROR_NAMES } from './peer-error-guard.ts'
export type { PeerErrorGuard, PeerErrorGuardOptions, PeerErrorGuardStats } from './peer-error-guard.ts'
export {
  AgentMeshError, DecodeError, LimitExceededError, TimeoutError, AbortedError,
  NotRunningError, PeerUnreachableError, NotAWriterError
} from '../protocols/kit/errors.ts'
export type { DocsService, DocStatus, DocsStats } from '../protocols/docs/adapter.ts'
export { PNCounter, GCounter, LWWRegister } from '../protocols/docs/crdt.ts'
export type { BftService, BftServiceStats } from '../protocols/bft/adapter.ts'
export type { BftGroup, BftDecision, BftGroupRef, BftJoinOptions, BftValue, ProposeOptions, BftGroupStatus } from '../protocols/bft/adapter-group.ts'
export { bftProposeHandler } from '../protocols/bft/adapter-handler.ts'
export type { BftProposeHandler } from '../protocols/bft/adapter-handler.ts'
export { verifyChain, verifyDecision } from '../protocols/bft/certificate.ts'
export type { VerifyOptions, VerifyResult } from '../protocols/bft/certificate.ts'
export type { Verifier } from '../protocols/bft/signing.ts'
// The verifier verifyChain/verifyDecision need: members' libp2p Ed25519 keys, read from their peer ids.
export { createEd25519Verifier } from '../protocols/bft/ed25519.ts'
export { NotAMemberError, GroupSizeError, ValidationRejectedError, AlreadyJoinedError } from '../protocols/bft/adapter-errors.ts'
export type { GroupsService, JoinOptions } from './raft/service.ts'
export type { RaftGroup, BftHandler, LockHandle, JobHandle, ProposeOptions as GroupProposeOptions, RequestOptions } from './raft/group.ts'
export { NoLeaderError, GroupNotJoinedError, GroupConfigError, LockUnavailableError, NotBuiltInKvError, BftNotConfiguredError, ApplyError } from './raft/errors.ts'
export type { StateService, StateEntry, PutReceipt, PutOptions, GetOptions, FindAgentsOptions } from '../protocols/state/adapter.ts'
export type { AgentCard } from '../protocols/state/card.ts'
export { RecordRejectedError, NoReplicasError } from '../protocols/state/errors.ts'
export type { EventsService, EventsStatus, EventsStats, RetentionLimits } from '../protocols/events/adapter.ts'
export type { AgentEvent, EventData } from '../protocols/events/messages.ts'
export type { SubscribeOptions } from '../protocols/events/subscriptions.ts'
export type { Projection, ProjectionOptions } from '../protocols/events/projection.ts'
export { EventNotFoundError, SubscriberLaggedError } from '../protocols/events/errors.ts'
// tasks (node.tasks)
export type {
  TasksService, TaskQueue, OpenQueueOptions, SubmitOptions, SubmittedTask, TaskInfo, TaskUpdateInfo, WaitOptions,
  ClaimOptions, ClaimedTask, RenewResult, FailOptions, GateFunction, WorkContext, WorkHandler, BidFunction, WorkOptions,
  WorkerHandle, TasksStats, HostedQueueCounts, QueueWorkerInfo, TaskState, TaskError, RetryPolicy, LeaseKind, DispatchMode, BreakerPolicy, DeadLetterPolicy
} from '../protocols/tasks/api.ts'
export { StaleLeaseError, TaskFailedError, TaskRefusedError, QueueNotFoundError, TaskRequestRefusedError } from '../protocols/tasks/errors.ts'
export { TASKS_PROTOCOL, TASK_INPUT_BYTES_MAX, TASK_OUTPUT_BYTES_MAX } from '../protocols/tasks/messages.ts'
export { AccessConfigError, AllowList, generateSwarmKey, parseSwarmKey, readSwarmKeyFile, writeSwarmKeyFile, readAllowFile } from './access.ts'
export type { AllowListStats } from './access.ts'
