import type { Redis } from 'ioredis'
import type { ResolvedOptions, SentinelAddress } from './options.js'
import { connectSentinel, format, sentinelKey } from './sentinels.js'
import { parseSentinelEvent } from './topology.js'

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

/**
 * Fast failover detection without idle sentinel connections: subscriptions to `+switch-master`
 * (and replicas' `+sdown`) on every sentinel that exist only while at least one client is in an outage, shared by every
 * client of the process that watches the same master through the same sentinels. All
 * sentinels, because the leader of the failover announces the switch first; the others learn
 * it from its hello messages up to a couple of seconds later.
 *
 * Events only speed things up: clients keep re-resolving on their own backoff, as the
 * guidelines ask, in case a message is lost.
 */
class Watch {
  readonly #waiters = new Set<Waiter>()
  readonly #subscribers = new Map<string, Redis>()

  constructor(
    private readonly options: ResolvedOptions,
    private readonly onIdle: () => void,
  ) {}

  hold(waiter: Waiter): void {
    this.#waiters.add(waiter)
    for (const sentinel of this.options.sentinels) {
      if (!this.#subscribers.has(format(sentinel))) this.#subscribe(sentinel)
    }
  }

  release(waiter: Waiter): void {
    this.#waiters.delete(waiter)
    if (this.#waiters.size > 0) return
    for (const subscriber of this.#subscribers.values()) subscriber.disconnect()
    this.#subscribers.clear()
    this.onIdle()
  }

  #subscribe(sentinel: SentinelAddress): void {
    const o = this.options
    const address = format(sentinel)
    const subscriber = connectSentinel(o, sentinel)
    this.#subscribers.set(address, subscriber)
    subscriber.on('error', () => {})
    subscriber.on('message', (channel: string, message: string) => {
      const event = parseSentinelEvent(channel, message, o.name)
      for (const w of [...this.#waiters]) {
        if (event?.type === 'switch-master') w.kick(event.newMaster, address)
        else if (event?.type === 'replica-down') w.replicaDown(event.replica)
      }
    })
    subscriber.on('end', () => {
      if (this.#subscribers.get(address) !== subscriber) return
      this.#subscribers.delete(address)
      // Lost this sentinel (or never reached it): try it again a little later.
      const retry = setTimeout(() => {
        if (this.#waiters.size && !this.#subscribers.has(address)) this.#subscribe(sentinel)
      }, 500)
      retry.unref()
    })
    subscriber.subscribe('+switch-master', '+sdown').catch(() => {})
  }
}

const watches = new Map<string, Watch>()

/** The process-wide watch for this master name, sentinels and sentinel credentials. */
export function watchFor(options: ResolvedOptions): Watch {
  const key = sentinelKey(options)
  let watch = watches.get(key)
  if (!watch) {
    watch = new Watch(options, () => watches.delete(key))
    watches.set(key, watch)
  }
  return watch
}

export type { Watch }
