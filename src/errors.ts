/**
 * Every error twiceredis raises is a `TwiceRedisError` with a stable `code`.
 * Match on `code` (or the class), never on the message: messages may improve.
 * No message ever contains a password.
 */
export class TwiceRedisError extends Error {
  override name = 'TwiceRedisError'
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/**
 * A write sent with `enableOfflineQueue: false` while the write fence stands: the sentinels are
 * replacing the master, which may still answer but would lose what it acknowledges.
 */
export class FailoverInProgressError extends TwiceRedisError {
  override name = 'FailoverInProgressError'
  constructor(
    readonly masterName: string,
    readonly master: string,
  ) {
    super(
      'FAILOVER_IN_PROGRESS',
      `The sentinels are replacing master "${masterName}" (${master}); with \`enableOfflineQueue: false\` ` +
        'the write is refused instead of held. Retry after the `write-unfence` event (within `failoverFenceMs`).',
    )
  }
}

/**
 * A command of a transaction sent command by command (`multi({ pipeline: false })`, `call('MULTI')`)
 * whose `MULTI` went with an earlier connection (a reconnect, or the write fence leaving a replaced
 * master): Redis discarded the transaction with it, and its remaining commands up to `EXEC`/`DISCARD`
 * are refused rather than run outside a transaction.
 */
export class TransactionAbortedError extends TwiceRedisError {
  override name = 'TransactionAbortedError'
  constructor(readonly masterName: string) {
    super(
      'TRANSACTION_ABORTED',
      `The connection to "${masterName}" was lost (a reconnect, or a failover) in the middle of a MULTI sent command by command; ` +
        'Redis discarded the transaction with it, and its remaining commands were refused rather than run outside it. ' +
        'Run it again (a `multi()` pipeline is written at once and never straddles a reconnect).',
    )
  }
}

/** Every sentinel was tried and none answered (connect or command timeout, refused, auth). */
export class NoSentinelReachableError extends TwiceRedisError {
  override name = 'NoSentinelReachableError'
  constructor(
    readonly masterName: string,
    readonly sentinels: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      'NO_SENTINEL_REACHABLE',
      `No sentinel answered for master "${masterName}" (tried ${sentinels.join(', ')}). ` +
        'Check that the sentinels are running and reachable, or raise `sentinelTimeoutMs`.',
      options,
    )
  }
}

/** Sentinels answered, but none of them monitors a master by that name. */
export class MasterNotFoundError extends TwiceRedisError {
  override name = 'MasterNotFoundError'
  constructor(
    readonly masterName: string,
    readonly sentinels: readonly string[],
  ) {
    super(
      'MASTER_NOT_FOUND',
      `No sentinel knows a master named "${masterName}" (asked ${sentinels.join(', ')}). ` +
        'Check the name against `sentinel monitor <name> ...` in the sentinel config.',
    )
  }
}

/** No replica is eligible and falling back to the master is turned off. */
export class NoHealthyReplicaError extends TwiceRedisError {
  override name = 'NoHealthyReplicaError'
  constructor(
    readonly masterName: string,
    readonly reasons: readonly { address: string; reason: string }[],
  ) {
    const detail = reasons.length
      ? reasons.map((r) => `${r.address} ${r.reason}`).join('; ')
      : 'sentinels list no replica'
    super(
      'NO_HEALTHY_REPLICA',
      `No healthy replica of "${masterName}" (${detail}). ` +
        'Wait for replication to recover, or set `readFallback: true` to read from the master meanwhile.',
    )
  }
}

/** A constructor argument or option is invalid; `option` names it. */
export class InvalidOptionError extends TwiceRedisError {
  override name = 'InvalidOptionError'
  constructor(
    readonly option: string,
    expected: string,
  ) {
    super('INVALID_OPTION', `Expected \`${option}\` to be ${expected}.`)
  }
}

/** A data node or a sentinel refused our credentials. */
export class AuthenticationError extends TwiceRedisError {
  override name = 'AuthenticationError'
  constructor(
    readonly target: 'data' | 'sentinel',
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    const which = target === 'sentinel' ? '`sentinelUsername`/`sentinelPassword`' : '`username`/`password`'
    super(
      'AUTH_FAILED',
      `Authentication to ${target === 'sentinel' ? 'sentinel' : 'Redis'} ${address} failed. Check ${which}.`,
      options,
    )
  }
}

/**
 * The sentinels named a master outside `allowedNodes` (after `natMap`): twiceredis did not connect
 * to it, so neither traffic nor credentials went there.
 */
export class NodeNotAllowedError extends TwiceRedisError {
  override name = 'NodeNotAllowedError'
  constructor(
    readonly masterName: string,
    readonly address: string,
  ) {
    super(
      'NODE_NOT_ALLOWED',
      `The sentinels name ${address} as the master of "${masterName}", which is outside \`allowedNodes\`: ` +
        'twiceredis did not connect to it. Check the sentinels (misconfigured, behind the wrong NAT, or not yours), ' +
        'or add the node to `allowedNodes`.',
    )
  }
}

/** The client was closed for good with `quit()`; create a new TwiceRedis to connect again. */
export class ClientClosedError extends TwiceRedisError {
  override name = 'ClientClosedError'
  constructor(side: string) {
    super(
      'CLIENT_CLOSED',
      `The ${side} client was closed with quit(); create a new TwiceRedis (disconnect() is the reversible one).`,
    )
  }
}

/**
 * `consistency: 'session'` (or a token) needs each node's replication offset, read with `ROLE`,
 * and a data node refused it (an ACL without `+role`, or `rename-command`). Emitted once as an
 * `error` event; `fallback` says what twiceredis does instead: read the offsets from
 * `INFO replication` (`'info'`), or, when that is refused too, send reads that follow writes to
 * the master (`'master'`). Never silently eventual.
 */
export class RoleDeniedError extends TwiceRedisError {
  override name = 'RoleDeniedError'
  constructor(
    readonly address: string,
    readonly fallback: 'info' | 'master',
    options?: { cause?: unknown },
  ) {
    const instead =
      fallback === 'info'
        ? 'reading the offsets from INFO replication instead'
        : 'INFO replication is refused too, so reads that follow writes go to the master'
    super(
      'ROLE_DENIED',
      `${address} refused ROLE, which consistency: 'session' reads replication offsets with: ${instead}. ` +
        'Allow it for this user (ACL: +role) to check replicas with it.',
      options,
    )
  }
}

/**
 * A data node refused both `INFO` and `ROLE` to this user: twiceredis checks the role of every
 * node it connects to (the Redis Sentinel client guidelines), and cannot. The commands waiting
 * for that connection reject with this; the next command tries again.
 */
export class RoleCheckDeniedError extends TwiceRedisError {
  override name = 'RoleCheckDeniedError'
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      'ROLE_CHECK_DENIED',
      `${address} refused INFO and ROLE to this user: twiceredis checks each node's role on connect with one of them. ` +
        'Allow one for this user (ACL: +info or +role; `-@dangerous` removes both).',
      options,
    )
  }
}

/**
 * With `consistency: 'session'`, a command that cannot go to the master (MULTI/EXEC, a read in
 * another db, a blocking read, a cursor, a script) waited `waitedMs` (up to `connectTimeoutMs`)
 * on its own connection and the replica never showed the session's writes: it was not sent,
 * rather than read an older state than the writes acknowledged before it.
 */
export class ReplicaBehindError extends TwiceRedisError {
  override name = 'ReplicaBehindError'
  constructor(
    readonly address: string,
    readonly reason: string,
    readonly waitedMs: number,
    /** Why it did not go to the master instead. */
    unmoved = 'this command cannot move to the master (MULTI/EXEC, another db, blocking, cursor or script)',
  ) {
    super(
      'REPLICA_BEHIND',
      `${address} did not show this session's writes within ${waitedMs} ms (${reason}), and ${unmoved}: ` +
        'it was not sent. ' +
        'Retry once replication recovers (the health check moves reads to a healthy replica), or send it on tr.master.',
    )
  }
}

/** `writeToken()`: the master did not say where its replication stream is (no answer in time). */
export class TokenUnavailableError extends TwiceRedisError {
  override name = 'TokenUnavailableError'
  constructor() {
    super(
      'TOKEN_UNAVAILABLE',
      'writeToken(): the master did not answer where its replication stream is (its connection closed or ' +
        'timed out), so no token can cover the writes sent so far. Retry once the master answers.',
    )
  }
}

/**
 * An `error` event, once per TwiceRedis: with `clientCache`, the read side's node refused what
 * Redis' tracking needs (`CLIENT TRACKING`, `CLIENT ID`, `SUBSCRIBE`: Redis before 6, or an ACL
 * user without them). Reads go to the node as without the cache; nothing is cached there.
 */
export class CacheUnavailableError extends TwiceRedisError {
  override name = 'CacheUnavailableError'
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      'CACHE_UNAVAILABLE',
      `${address} refused CLIENT TRACKING, CLIENT ID or SUBSCRIBE, which clientCache needs: reads are not cached there. ` +
        'Use Redis 6 or later, and allow them for this user (ACL: +client|tracking +client|id +subscribe &__redis__:invalidate).',
      options,
    )
  }
}

/** The lab could not find a `redis-server` binary. */
export class RedisServerNotFoundError extends TwiceRedisError {
  override name = 'RedisServerNotFoundError'
  constructor() {
    super(
      'REDIS_SERVER_NOT_FOUND',
      'redis-server was not found on PATH. Install it (Debian/Ubuntu: `apt-get install redis-server`, ' +
        'macOS: `brew install redis`) or set TWICEREDIS_REDIS_SERVER to its path.',
    )
  }
}

/** The lab failed to start, or a lab helper could not do what it was asked. */
export class LabError extends TwiceRedisError {
  override name = 'LabError'
  constructor(message: string, options?: { cause?: unknown }) {
    super('LAB_FAILED', message, options)
  }
}

/**
 * ioredis attaches the failed command to its errors (`err.command.args`); for AUTH and HELLO
 * those args hold the password. Strip them before an error leaves twiceredis.
 */
export function redact<E>(error: E): E {
  const command = (error as { command?: { name?: string; args?: unknown[] } } | null)?.command
  if (command && /^(auth|hello|migrate|config)$/i.test(command.name ?? '')) command.args = ['[redacted]']
  return error
}
