// GossipSub peer-score parameters for the mesh's topics (events SPEC E13, docs, health): a peer
// whose messages a topic validator rejects (forged, malformed, from a cut-off peer, an author
// flooding over its rate) is graylisted within a few messages; sparse topics cost honest peers
// nothing.

import type { GossipsubOpts } from '@libp2p/gossipsub'

/** GossipSub 17's TopicScoreParams (the package does not export the type by name). */
export type TopicScoreParams = NonNullable<GossipsubOpts['scoreParams']['topics']>[string]

/**
 * P4 weight: the penalty is weight × (rejected messages)², so 3 rejections (−90) pass GossipSub's
 * default graylist threshold (−80) — an honest node never sends a message our validator rejects.
 */
export const INVALID_MESSAGE_WEIGHT = -10
/** P4 decay per second: a rejection is forgotten after about 40 s (0.9^40 ≈ 0.015). */
export const INVALID_MESSAGE_DECAY = 0.9

/** Score parameters for one GossipSub topic whose validator rejects what no honest node sends. */
export function topicScoreParams (): TopicScoreParams {
  return {
    topicWeight: 1,
    // P1, P2: small rewards for staying in the mesh and delivering first (capped by topicScoreCap).
    timeInMeshWeight: 1 / 3600,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 3600,
    firstMessageDeliveriesWeight: 0.1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 100,
    // P3, P3b off: a topic may be quiet for hours, so "too few deliveries" proves nothing.
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    // P4: what graylists a hostile peer.
    invalidMessageDeliveriesWeight: INVALID_MESSAGE_WEIGHT,
    invalidMessageDeliveriesDecay: INVALID_MESSAGE_DECAY
  }
}

/** GossipSub's score table, reached through the service (the package keeps it off its public type). */
function scoreTopics (pubsub: unknown): Record<string, unknown> | undefined {
  return (pubsub as { score?: { params: { topics: Record<string, unknown> } } }).score?.params.topics
}

/** Score `topic` with topicScoreParams on this GossipSub instance (no-op when scoring is off). */
export function scoreTopic (pubsub: unknown, topic: string): void {
  const topics = scoreTopics(pubsub)
  if (topics !== undefined) topics[topic] = topicScoreParams()
}

/** Stop scoring `topic` (on unsubscribe). */
export function unscoreTopic (pubsub: unknown, topic: string): void {
  const topics = scoreTopics(pubsub)
  if (topics !== undefined) Reflect.deleteProperty(topics, topic)
}
