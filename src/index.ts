export { TwiceRedisClient } from './client/client.js'
export {
  AuthenticationError,
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
  TransactionAbortedError,
  TwiceRedisError,
} from './errors.js'
export type { Side, Target } from './events.js'
export type {
  DataRedisOptions,
  NatMap,
  SentinelAddress,
  SentinelInput,
  TwiceRedisConfig,
  TwiceRedisOptions,
} from './options.js'
export type { SentinelReport } from './sentinels.js'
export type { Freshness, ReplicaReport, ReplicaSelection, ReplicaState } from './topology.js'
export { type Topology, TwiceRedis, type TwiceRedisEvents } from './twice-redis.js'
export type { ZoneSource } from './zones.js'
