// Typed errors of the events API.

import { AgentMeshError } from '../kit/errors.ts'

/** `from: eventId` or `after: eventId` names an event this node does not hold (never seen, or compacted). */
export class EventNotFoundError extends AgentMeshError {
  override name = 'EventNotFoundError'
  constructor (topic: string, id: string) {
    super('ERR_EVENT_NOT_FOUND', `Event ${id} is not stored in topic "${topic}" on this node (never received, or removed by retention)`)
  }
}

/** A subscriber fell so far behind that retention removed events it had not read yet (SPEC E5). */
export class SubscriberLaggedError extends AgentMeshError {
  override name = 'SubscriberLaggedError'
  constructor (topic: string, cursor: number) {
    super('ERR_SUBSCRIBER_LAGGED', `Subscriber of topic "${topic}" fell behind retention: events after local position ${cursor} were compacted before it read them; resubscribe from 'start' or from a retained event id`)
  }
}
