/** Asking one sentinel: a connection of its own that never retries, one pipelined round trip, closed at once. */
import { Redis, type RedisOptions } from 'ioredis'
import type { ResolvedOptions } from '../options/normalize.js'
import type { SentinelAddress } from '../options/options.js'
import { formatAddress } from '../protocol/address.js'
import { isAuthError } from '../protocol/auth-error.js'
import type { SentinelEvent } from '../protocol/sentinel-events.js'
import {
  configEpoch,
  masterFailoverState,
  masterSampleFromCache,
  parseMasterAddress,
  parseReplicas,
  parseSentinels,
  type ReplicaState,
} from '../protocol/sentinel-replies.js'
import { traceAsSentinel } from './sentinel-connect.js'

/** What one sentinel said in one round trip. */
export interface Observation {
  /** The sentinel that answered, `host:port`. */
  sentinel: string
  master: { host: string; port: number; address: string }
  replicas: ReplicaState[]
  /** The master's `master_repl_offset` as of the sentinel's last INFO (asked only for `maxLagBytes` or `maxStalenessMs`). */
  masterOffset?: number | undefined
  /** When (ms since epoch) the sentinel read that offset. */
  masterOffsetAt?: number | undefined
  /** Why `SENTINEL REPLICAS` failed, when it did (then `replicas` is empty). */
  replicasError?: string | undefined
  /** The other sentinels the answering one knows (`SENTINEL SENTINELS`). */
  sentinels: { host: string; port: number }[]
  /** The master's `config-epoch` (`SENTINEL MASTER`), if the sentinel said. */
  epoch?: number | undefined
  /**
   * Why this answer was refused, when no sentinel gave one to take: the write side then fails
   * (`NODE_NOT_ALLOWED`), the read side may still use the replicas it names that are allowed.
   */
  refused?: string | undefined
  /**
   * Not a query's answer but the answer before with the master `sentinel` announced since
   * (`announceMaster`): reusing it moves no sentinel to the front, or every instance of every
   * process would ask the failover leader first from then on.
   */
  announced?: boolean | undefined
}

/**
 * Ask one sentinel about master `o.name` in one pipelined round trip (`GET-MASTER-ADDR-BY-NAME`,
 * `REPLICAS`, `SENTINELS`, `MASTER`, and `INFO-CACHE` for `maxLagBytes`/`maxStalenessMs`) on a
 * connection of its own, closed at once, bounded by `sentinelTimeoutMs`; `undefined` if it does
 * not know the name.
 */
export async function querySentinel(o: ResolvedOptions, sentinel: SentinelAddress): Promise<Observation | undefined> {
  const address = formatAddress(sentinel.host, sentinel.port)
  const wantsCache = o.maxLagBytes !== undefined || o.maxStalenessMs !== undefined
  const client = connectSentinel(o, sentinel, { lazyConnect: true })
  // ioredis rejects queued commands with a bare "Connection is closed."; keep the real cause.
  let socketError: Error | undefined
  client.on('error', (err: Error) => {
    socketError ??= err
  })
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`sentinel ${address} did not answer within ${o.sentinelTimeoutMs} ms`)),
      o.sentinelTimeoutMs,
    )
  })
  try {
    // Connect first: a pipeline queued on a lazy client whose connection is refused never
    // settles (ioredis 6), which would turn a dead sentinel into a full timeout.
    const query = client.connect().then(() => {
      const pipeline = client
        .pipeline()
        .call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', o.name)
        .call('SENTINEL', 'REPLICAS', o.name)
        .call('SENTINEL', 'SENTINELS', o.name)
        .call('SENTINEL', 'MASTER', o.name)
      if (wantsCache) pipeline.call('SENTINEL', 'INFO-CACHE', o.name)
      return pipeline.exec()
    })
    const results = await Promise.race([query, timeout]).catch((err: unknown) => {
      throw socketError ?? err
    })
    type Result = [Error | null, unknown]
    const [[masterErr, master], [replicasErr, replicas], [, others], [, state], [, cache] = [null, undefined]] =
      results as Result[] as [Result, Result, Result, Result, Result?]
    // ioredis 5 reports a refused AUTH as an error event and goes on as the default user.
    if (socketError && isAuthError(socketError)) throw socketError
    if (masterErr) throw masterErr
    const parsed = parseMasterAddress(master)
    if (parsed === null) return undefined
    if (!parsed) throw new Error(`sentinel ${address} answered GET-MASTER-ADDR-BY-NAME with no usable address`)
    const { host, port } = parsed
    const sample = wantsCache ? masterSampleFromCache(cache, port) : undefined
    return {
      sentinel: address,
      master: { host, port, address: formatAddress(host, port) },
      replicas: replicasErr ? [] : parseReplicas(replicas),
      masterOffset: sample?.offset,
      masterOffsetAt: sample && Date.now() - sample.ageMs,
      replicasError: replicasErr ? `SENTINEL REPLICAS failed on ${address}: ${replicasErr.message}` : undefined,
      sentinels: parseSentinels(others),
      epoch: configEpoch(state),
    }
  } finally {
    clearTimeout(timer)
    client.disconnect()
  }
}

/**
 * Ask one sentinel (`SENTINEL MASTER`) whether it sees the master objectively down or is failing
 * it over now, as the events that would have said so: for a subscription just made, which did
 * not hear what came before it. Bounded by `sentinelTimeoutMs`; nothing if it cannot tell.
 */
export async function askFailoverState(
  o: ResolvedOptions,
  sentinel: SentinelAddress,
): Promise<{ channel: string; event: SentinelEvent }[]> {
  const client = connectSentinel(o, sentinel, { lazyConnect: true })
  client.on('error', () => {})
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), o.sentinelTimeoutMs)
  })
  try {
    const query = client.connect().then(() => client.call('SENTINEL', 'MASTER', o.name))
    const state = masterFailoverState(await Promise.race([query, timeout]))
    if (!state) return []
    const node = formatAddress(state.host, state.port)
    const events: { channel: string; event: SentinelEvent }[] = []
    if (state.odown) events.push({ channel: '+odown', event: { type: 'odown', master: o.name, on: true, node } })
    // As its first word (`+try-failover`): trying, not known to lead, nor which replica it promotes.
    if (state.failover) {
      events.push({ channel: '+try-failover', event: { type: 'failover', master: o.name, on: true, node } })
    }
    return events
  } finally {
    clearTimeout(timer)
    client.disconnect()
  }
}

/**
 * An ioredis connection to a sentinel that never retries by itself. RESP2 without a password
 * needs no handshake: connect, one pipelined round trip, close. Its connects are traced on
 * `twiceredis:sentinel-connect` (sentinel-connect.ts).
 */
export function connectSentinel(o: ResolvedOptions, sentinel: SentinelAddress, extra: RedisOptions = {}): Redis {
  const client = new Redis({
    host: sentinel.host,
    port: sentinel.port,
    username: o.sentinelUsername,
    password: o.sentinelPassword,
    tls: o.sentinelTls,
    protocol: 2,
    enableReadyCheck: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: o.sentinelTimeoutMs,
    disableClientInfo: true,
    ...extra,
    // Built lazy so that its first connect goes through the traced one too; then as asked.
    lazyConnect: true,
  })
  traceAsSentinel(client, { serverAddress: sentinel.host, serverPort: sentinel.port, masterName: o.name })
  client.options.lazyConnect = extra.lazyConnect ?? false
  // As ioredis' constructor does: a failed connect is reported as an `error` event.
  if (!extra.lazyConnect) client.connect().catch(() => {})
  return client
}
