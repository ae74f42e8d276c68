import { exists, hasFlag } from '@ioredis/commands'
import { Command } from 'ioredis'

/**
 * The one table of command facts every part of twiceredis reads: what a command name does to
 * data and to its connection. Worked out once per name (`kindOf`, memoized) from Redis' own
 * command table as `@ioredis/commands` ships it (its flags: `readonly`, `blocking`, `pubsub`, ...),
 * and from ioredis' own lists (`Command.FLAGS`) where ioredis acts on a list of its own.
 *
 * Where the two differ, and what is decided here:
 * - Blocking: `@ioredis/commands` flags BLPOP & co., XREAD/XREADGROUP, WAIT and WAITAOF; ioredis'
 *   `BLOCKING_COMMANDS` (ioredis 6; which arms `blockingTimeout`) lacks WAIT and WAITAOF. Both
 *   hold their connection until answered, so `blocking` is the union: a command of ours behind
 *   any of them waits as long.
 * - Subscriber mode: `@ioredis/commands` flags (S|P)SUBSCRIBE, their UN- forms and PUBLISH as
 *   `pubsub`; ioredis decides the connection's mode by its `ENTER_SUBSCRIBER_MODE` /
 *   `EXIT_SUBSCRIBER_MODE` lists, which are what `subscriber` follows (PUBLISH is a write).
 * - Handshake: ioredis' `HANDSHAKE_COMMANDS` (AUTH, HELLO, SELECT, CLIENT, READONLY, INFO), which
 *   Redis' table has no flag for.
 * - Disconnects: ioredis' `WILL_DISCONNECT` (QUIT).
 *
 * No other file classifies commands by name: each reads a `CommandKind` (looked up once per
 * command on its path, client/client.ts, and handed to each stage).
 * - Reads: Redis' `readonly` flag, plus commands not flagged read-only that read data all the same
 *   (EXEC, EVAL, EVALSHA, FCALL, SORT: on a replica a script or SORT may only read). Names Redis'
 *   table does not know (module commands, `call()` with any name) may read and may write.
 */
export interface CommandKind {
  /** The name in lower case. */
  readonly name: string
  /** In Redis' command table (`@ioredis/commands`). */
  readonly known: boolean
  /**
   * A plain read of the keyspace: read-only, not blocking, not pub/sub, not a cursor. The only
   * kind a read may be moved to another node for (same data, same reply).
   */
  readonly plainRead: boolean
  /** Reads data: must not run on a replica below what the session must see. Unknown names do. */
  readonly readsData: boolean
  /** May change data: anything not known to be a read or connection state. Unknown names may. */
  readonly mayWrite: boolean
  /** Holds its connection until answered (BLPOP, XREAD, WAIT, ...): see above. */
  readonly blocking: boolean
  /** MULTI, EXEC, DISCARD or RESET: opens or ends a transaction. */
  readonly transaction: boolean
  /** Enters or leaves subscriber mode (ioredis' lists). */
  readonly subscriber: boolean
  /**
   * Changes what its connection holds (the connection record follows it as it is written): a
   * transaction, a `WATCH`, a blocking wait, the db. Most commands do not: one check for them.
   */
  readonly state: boolean
  /** Changes the selected db: SELECT (its argument), RESET (back to 0). */
  readonly selectsDb: boolean
  /** A cursor read (SCAN family): its cursor only means something on the node that gave it. */
  readonly cursor: boolean
  /** Part of ioredis' connection handshake. */
  readonly handshake: boolean
  /** Ends the connection (QUIT). */
  readonly disconnects: boolean
}

/** Commands not flagged read-only that read data all the same. */
const readsToo = new Set(['exec', 'eval', 'evalsha', 'fcall', 'sort'])

/** Commands that change no data although Redis' table does not flag them read-only. */
const noData = new Set([
  'ping',
  'echo',
  'select',
  'client',
  'info',
  'role',
  'time',
  'auth',
  'hello',
  'multi',
  'discard',
  'watch',
  'unwatch',
  'quit',
  'reset',
])

const cursors = new Set(['scan', 'sscan', 'hscan', 'zscan'])

/** ioredis' own list `flag` names `name` (`false` for a list this ioredis does not have). */
function ioredisFlag(flag: string, name: string): boolean {
  try {
    return Boolean((Command.checkFlag as (flag: string, name: string) => unknown)(flag, name))
  } catch {
    return false
  }
}

function work(name: string): CommandKind {
  const n = name.toLowerCase()
  const known = exists(n)
  const flag = (f: Parameters<typeof hasFlag>[1]) => known && hasFlag(n, f)
  const readonly = flag('readonly')
  const pubsub = flag('pubsub')
  const blocking = flag('blocking') || ioredisFlag('BLOCKING_COMMANDS', n)
  const cursor = cursors.has(n)
  const transaction = n === 'multi' || n === 'exec' || n === 'discard' || n === 'reset'
  const selectsDb = n === 'select' || n === 'reset'
  return {
    name: n,
    known,
    plainRead: readonly && !blocking && !pubsub && !cursor,
    readsData: !known || (readonly && !pubsub) || readsToo.has(n),
    mayWrite: !noData.has(n) && !readonly,
    blocking,
    transaction,
    state: transaction || blocking || selectsDb || n === 'watch' || n === 'unwatch',
    subscriber: ioredisFlag('ENTER_SUBSCRIBER_MODE', n) || ioredisFlag('EXIT_SUBSCRIBER_MODE', n),
    selectsDb,
    cursor,
    handshake: ioredisFlag('HANDSHAKE_COMMANDS', n),
    disconnects: ioredisFlag('WILL_DISCONNECT', n),
  }
}

const kinds = new Map<string, CommandKind>()

/**
 * The facts about command `name` (any case), worked out on first use and kept per spelling (names
 * come from the application's code, `call()` may send any: at most 1000 are kept).
 */
export function kindOf(name: string): CommandKind {
  let kind = kinds.get(name)
  if (!kind) {
    kind = work(name)
    if (kinds.size < 1000) kinds.set(name, kind)
  }
  return kind
}

/**
 * The reads `clientCache` answers from memory (issue 29), and which of their arguments are keys:
 * `first` (the first), `all` (every one). Each is a plain read (above) whose reply depends only on
 * the values of its keys, so Redis' tracking invalidates it whenever the reply could change.
 */
export const CACHED_READS = {
  get: 'first',
  mget: 'all',
  strlen: 'first',
  exists: 'all',
  type: 'first',
  hget: 'first',
  hmget: 'first',
  hgetall: 'first',
  hexists: 'first',
  hlen: 'first',
  smembers: 'first',
  sismember: 'first',
  scard: 'first',
  zrange: 'first',
  zscore: 'first',
  zcard: 'first',
  lrange: 'first',
  llen: 'first',
} as const satisfies Record<string, 'first' | 'all'>
