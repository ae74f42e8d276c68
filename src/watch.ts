import type { Redis } from 'ioredis'
import type { ResolvedOptions } from './options.js'
import { sentinelSetFor } from './registry.js'
import { connectSentinel } from './sentinels.js'
import { formatAddress, parseSentinelEvent } from './topology.js'

/** A client waiting for its master or replica to come back. */
export interface Waiter {
  /**
   * `sentinel` announced `master` (`host:port`) as the new master: reconnect now instead of
   * after the backoff, asking that sentinel first.
   */
  kick(master: string, sentinel: string): void
  /** The sentinels flagged the replica at `address` subjectively down: leave it if on it. */
  replicaDown(address: string): void
}

/** How often a lost subscription to a sentinel is tried again while someone waits. */
const RESUBSCRIBE_MS = 500

/**
 * Fast failover detection without idle sentinel connections: subscriptions to `+switch-master`
 * (and replicas' `+sdown`) on every sentinel that exist only while at least one client is in an
 * outage, shared by every client of the process on the same sentinel set. All sentinels,
 * because the leader of the failover announces the switch first; the others learn it from its
 * hello messages up to a couple of seconds later.
 *
 * Events only speed things up: clients keep re-resolving on their own backoff, as the
 * guidelines ask, in case a message is lost.
 */
export class Watch {
  readonly #waiters = new Set<Waiter>()
  #subscribers: Redis[] = []

  constructor(
    private readonly options: ResolvedOptions,
    private readonly onIdle: () => void,
  ) {}

  hold(waiter: Waiter): void {
    this.#waiters.add(waiter)
    if (this.#subscribers.length === 0) this.#subscribers = this.options.sentinels.map((s) => this.#subscribe(s))
  }

  release(waiter: Waiter): void {
    this.#waiters.delete(waiter)
    if (this.#waiters.size > 0) return
    for (const subscriber of this.#subscribers) subscriber.disconnect()
    this.#subscribers = []
    this.onIdle()
  }

  #subscribe(sentinel: ResolvedOptions['sentinels'][number]): Redis {
    const o = this.options
    const address = formatAddress(sentinel.host, sentinel.port)
    // ioredis reconnects a lost sentinel (or one not reached yet) and re-subscribes by itself.
    const subscriber = connectSentinel(o, sentinel, { retryStrategy: () => RESUBSCRIBE_MS, maxRetriesPerRequest: null })
    subscriber.on('error', () => {})
    subscriber.on('message', (channel: string, message: string) => {
      const event = parseSentinelEvent(channel, message, o.name)
      for (const w of [...this.#waiters]) {
        if (event?.type === 'switch-master') w.kick(event.newMaster, address)
        else if (event?.type === 'replica-down') w.replicaDown(event.replica)
      }
    })
    subscriber.subscribe('+switch-master', '+sdown').catch(() => {})
    return subscriber
  }
}

/** The process-wide watch of these options' sentinel set. */
export function watchFor(options: ResolvedOptions): Watch {
  const set = sentinelSetFor(options)
  set.watch ??= new Watch(options, () => {
    set.watch = undefined
  })
  return set.watch
}
