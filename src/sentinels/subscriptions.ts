import { AsyncResource } from 'node:async_hooks'
import type { Redis } from 'ioredis'
import { guardReplies, unrefReconnectTimer } from '../ioredis-internals.js'
import type { ResolvedOptions } from '../options/normalize.js'
import { formatAddress } from '../protocol/address.js'
import { parseSentinelEvent, type SentinelEvent } from '../protocol/sentinel-events.js'
import { isSubscriberReply } from '../protocol/subscriber-replies.js'
import { connectSentinel } from './sentinel-query.js'

/**
 * The async context the watch's connections are made in: the module's, not that of whichever
 * command first connected a client. Otherwise the subscriptions, and the write fence's polls of a
 * replica being promoted, would run inside that request's trace (an APM span per poll, children
 * of a request that ended long before) and keep any AsyncLocalStorage store of it alive.
 */
export const detached = new AsyncResource('twiceredis:watch')

/** How often a lost subscription to a sentinel is tried again. */
const RESUBSCRIBE_MS = 500

/**
 * The sentinels' channels a watch listens to (patterns): switches, replicas' `+sdown`, the
 * master's `+odown`/`-odown`, and every step of a failover (`+try-failover`, `+elected-leader`,
 * `+selected-slave`, `+failover-state-*`, `+failover-end*`, `-failover-abort-*`).
 */
const PATTERNS = [
  '+switch-master',
  '+promoted-slave',
  '+sdown',
  '+odown',
  '-odown',
  '+try-failover',
  '+elected-leader',
  '+selected-slave',
  '+failover-*',
  '-failover-abort-*',
]

/** What a subscription tells its watch. */
export interface Listener {
  /** `sentinel` (`host:port`) published `event` on `channel`. */
  heard(sentinel: string, channel: string, event: SentinelEvent): void
  /** The subscription on `subscriber` is in place (`true`) or lost (`false`). */
  listening(subscriber: Redis, on: boolean): void
}

/** One subscription per sentinel of `options`, made in the module's async context. */
export function subscribeAll(options: ResolvedOptions, listener: Listener): Redis[] {
  return detached.runInAsyncScope(() => options.sentinels.map((s) => subscribe(options, s, listener)))
}

function subscribe(
  options: ResolvedOptions,
  sentinel: ResolvedOptions['sentinels'][number],
  listener: Listener,
): Redis {
  const address = formatAddress(sentinel.host, sentinel.port)
  // ioredis reconnects a lost sentinel (or one not reached yet); we subscribe on every connect.
  // (ioredis' own re-subscribe leaves its promise unhandled: on ioredis 5 a refused AUTH rejects
  // it, an unhandled rejection in the application.)
  const subscriber = connectSentinel(options, sentinel, {
    retryStrategy: () => RESUBSCRIBE_MS,
    maxRetriesPerRequest: null,
    autoResubscribe: false,
  })
  subscriber.on('error', () => {})
  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    const event = parseSentinelEvent(channel, message, options.name)
    if (event) listener.heard(address, channel, event)
  })
  const psubscribe = () => {
    subscriber.psubscribe(...PATTERNS).then(
      () => listener.listening(subscriber, true),
      () => {},
    )
  }
  // The subscriptions alone never keep the process alive (a client at rest holds them for good).
  // A sentinel answering what ioredis' subscriber mode cannot take drops this connection, not the process.
  subscriber.on('connect', () => {
    guardReplies(subscriber, (reply) => isSubscriberReply(reply, subscriber.status === 'ready'))
    subscriber.stream?.unref?.()
  })
  subscriber.on('reconnecting', () => unrefReconnectTimer(subscriber))
  subscriber.on('ready', psubscribe)
  subscriber.on('close', () => listener.listening(subscriber, false))
  return subscriber
}
