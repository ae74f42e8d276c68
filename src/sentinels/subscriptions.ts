import { AsyncResource } from 'node:async_hooks'
import type { Redis } from 'ioredis'
import { guardReplies, unrefReconnectTimer } from '../ioredis-internals.js'
import type { ResolvedOptions } from '../options/normalize.js'
import { formatAddress } from '../protocol/address.js'
import { parseSentinelEvent, type SentinelEvent } from '../protocol/sentinel-events.js'
import { isSubscriberReply } from '../protocol/subscriber-replies.js'
import { askFailoverState, connectSentinel } from './sentinel-query.js'

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

/** The subscriptions of a watch, and when they have caught up with what was said before them. */
export interface Subscriptions {
  subscribers: Redis[]
  /** See {@link caughtUp}: every subscription caught up (or found its sentinel unreachable), or the bound passed. */
  caughtUp: Promise<void>
}

/** One subscription per sentinel of `options`, made in the module's async context. */
export function subscribeAll(options: ResolvedOptions, listener: Listener): Subscriptions {
  const made = detached.runInAsyncScope(() => options.sentinels.map((s) => subscribe(options, s, listener)))
  return {
    subscribers: made.map((m) => m.subscriber),
    caughtUp: bounded(
      options,
      made.map((m) => m.caughtUp),
    ),
  }
}

function subscribe(
  options: ResolvedOptions,
  sentinel: ResolvedOptions['sentinels'][number],
  listener: Listener,
): { subscriber: Redis; caughtUp: Promise<void> } {
  const address = formatAddress(sentinel.host, sentinel.port)
  // ioredis reconnects a lost sentinel (or one not reached yet); we subscribe on every connect.
  // (ioredis' own re-subscribe leaves its promise unhandled: on ioredis 5 a refused AUTH rejects
  // it, an unhandled rejection in the application.)
  const subscriber = connectSentinel(options, sentinel, {
    retryStrategy: () => RESUBSCRIBE_MS,
    maxRetriesPerRequest: null,
    autoResubscribe: false,
  })
  // The first subscription's catch-up, or the first close (a sentinel not reached has nothing to tell).
  let first: () => void = () => {}
  const caughtUp = new Promise<void>((resolve) => {
    first = resolve
  })
  subscriber.on('error', () => {})
  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    const event = parseSentinelEvent(channel, message, options.name)
    if (event) listener.heard(address, channel, event)
  })
  const psubscribe = () => {
    subscriber.psubscribe(...PATTERNS).then(
      () => {
        listener.listening(subscriber, true)
        catchUp(options, subscriber, listener).then(first)
      },
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
  subscriber.on('close', () => {
    first()
    listener.listening(subscriber, false)
  })
  return { subscriber, caughtUp }
}

/**
 * A subscription just made (or one a watch had before its first member, whose events went
 * unheeded): ask the sentinel behind `subscriber` whether the master is objectively down or
 * failing over now, and tell `listener` as if it had heard it. Asked after subscribing, so nothing
 * falls between: an answer outdated by an event heard since raises at worst a fence for a master
 * the switch retired (ignored), or one its bound ends. Settles once told (never rejects).
 */
export function catchUp(options: ResolvedOptions, subscriber: Redis, listener: Listener): Promise<void> {
  const { host, port } = subscriber.options
  if (host === undefined || port === undefined) return Promise.resolve()
  const address = formatAddress(host, port)
  return detached.runInAsyncScope(() =>
    askFailoverState(options, { host, port }).then(
      (heard) => {
        if (subscriber.status !== 'ready') return // closed meanwhile
        for (const { channel, event } of heard) listener.heard(address, channel, event)
      },
      () => {},
    ),
  )
}

/**
 * When subscriptions just made know what a subscription made long ago would have heard: all
 * `caught` up, or `sentinelTimeoutMs` passed (a sentinel that neither answers nor refuses).
 */
export function bounded(options: ResolvedOptions, caught: Promise<void>[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, options.sentinelTimeoutMs)
    timer.unref()
  })
  return Promise.race([Promise.all(caught).then(() => {}), bound]).finally(() => clearTimeout(timer))
}
