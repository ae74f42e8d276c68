import { setTimeout as sleep } from 'node:timers/promises'
import { Redis, type RedisOptions } from 'ioredis'
import { FixedConnector } from '../connector.js'
import type { Target } from '../events.js'
import { parseInfo } from '../protocol/node-info.js'

/** How often the replica being promoted is asked for its role. */
const POLL_MS = 5

/**
 * Watch the replica the failover leader is promoting until it answers as master (`true`), or
 * until `signal` aborts (`false`). One connection, `INFO replication` every {@link POLL_MS} ms:
 * the leader itself only looks once a second (its `INFO` period during a failover), so the
 * clients' writes may go there up to a second before the sentinels say so.
 *
 * `options`: the data connection's credentials and TLS; the connection to `target` (after
 * `natMap`, within `allowedNodes`) is made and closed here.
 */
export async function awaitPromotion(target: Target, options: RedisOptions, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false
  const node = new Redis({
    username: options.username,
    password: options.password,
    tls: options.tls,
    connectTimeout: options.connectTimeout,
    Connector: FixedConnector.to(target),
    lazyConnect: true,
    enableReadyCheck: false,
    disableClientInfo: true,
    // A node that is not reachable yet is tried again soon; a hung one costs at most this a poll.
    retryStrategy: () => POLL_MS * 4,
    commandTimeout: options.connectTimeout ?? 2000,
  } as RedisOptions)
  node.on('error', () => {})
  const stop = () => node.disconnect()
  signal.addEventListener('abort', stop, { once: true })
  try {
    while (!signal.aborted) {
      const info = await node.info('replication').then(String, () => '')
      if (parseInfo(info).role === 'master') return !signal.aborted
      await sleep(POLL_MS, undefined, { signal }).catch(() => {})
    }
    return false
  } finally {
    signal.removeEventListener('abort', stop)
    node.disconnect()
  }
}
