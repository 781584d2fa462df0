// The events topics' GossipSub score parameters (SPEC events E13): the mesh's shared ones.

export { INVALID_MESSAGE_WEIGHT, INVALID_MESSAGE_DECAY, topicScoreParams as eventsTopicScoreParams } from '../kit/gossip-score.ts'
export type { TopicScoreParams as EventsTopicScoreParams } from '../kit/gossip-score.ts'
