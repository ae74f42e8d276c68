export type { CacheRecord } from './cache/client-cache.js'
export type { CacheStats } from './cache/lru.js'
export { TwiceRedisClient } from './client/client.js'
export { CACHED_READS } from './command-kinds.js'
export {
  AuthenticationError,
  CacheUnavailableError,
  ClientClosedError,
  FailoverInProgressError,
  InvalidOptionError,
  MasterNotFoundError,
  NodeNotAllowedError,
  NoHealthyReplicaError,
  NoSentinelReachableError,
  ReplicaBehindError,
  RoleCheckDeniedError,
  RoleDeniedError,
  TokenUnavailableError,
  TransactionAbortedError,
  TwiceRedisError,
} from './errors.js'
export type { FlushReason, Side, Target } from './events.js'
export type {
  DataRedisOptions,
  NatMap,
  SentinelAddress,
  SentinelInput,
  TwiceRedisConfig,
  TwiceRedisOptions,
} from './options/options.js'
export type { ReplicaState } from './protocol/sentinel-replies.js'
export type { Freshness, ReplicaReport } from './routing/replica-health.js'
export type { ReplicaSelection } from './routing/replica-selection.js'
export type { OffsetSource } from './routing/staleness.js'
export type { ZoneSource } from './routing/zone-book.js'
export type { SentinelReport } from './sentinels/sentinels.js'
export { type Topology, TwiceRedis, type TwiceRedisEvents } from './twice-redis.js'
