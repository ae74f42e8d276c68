import type { Redis } from 'ioredis'
import type { ResolvedOptions } from './options.js'
import { announceMaster, type SentinelSet, sentinelSetFor } from './registry.js'
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

/** How many waiters reconnect per turn of the event loop after an announcement. */
const BATCH = 10

/** How often a lost subscription to a sentinel is tried again while someone waits. */
const RESUBSCRIBE_MS = 500

/**
 * Fast failover detection without idle sentinel connections: subscriptions to `+switch-master`,
 * `+promoted-slave` (and replicas' `+sdown`) on every sentinel that exist only while at least one
 * client is in an outage, shared by every client of the process on the same sentinel set. All
 * sentinels, because the leader of the failover names the new master first (`+promoted-slave`);
 * the others learn it from its hello messages up to a hello period (2 s) later.
 *
 * An announcement becomes the process' latest sentinel answer; clients keep retrying on their
 * own backoff, with a slow poll of the sentinels, in case a message is lost.
 */
export class Watch {
  readonly #waiters = new Set<Waiter>()
  #subscribers: Redis[] = []
  /** Subscriptions in place now. */
  readonly #live = new Set<Redis>()
  #since: number | undefined

  constructor(
    private readonly options: ResolvedOptions,
    private readonly set: SentinelSet,
    private readonly onIdle: () => void,
  ) {}

  /**
   * Since when at least one subscription has been in place without a break (`undefined`: none
   * is): a switch after that time will be announced, so a sentinel answer given since then stays
   * good for the write side until an announcement (or the slow fallback poll).
   */
  get listeningSince(): number | undefined {
    return this.#since
  }

  hold(waiter: Waiter): void {
    this.#waiters.add(waiter)
    if (this.#subscribers.length === 0) this.#subscribers = this.options.sentinels.map((s) => this.#subscribe(s))
  }

  release(waiter: Waiter): void {
    this.#waiters.delete(waiter)
    if (this.#waiters.size > 0) return
    for (const subscriber of this.#subscribers) subscriber.disconnect()
    this.#subscribers = []
    this.#live.clear()
    this.#since = undefined
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
      if (event?.type === 'switch-master') {
        announceMaster(this.set, event.newMaster, address)
        this.#tell([...this.#waiters], (w) => w.kick(event.newMaster.address, address))
      } else if (event?.type === 'replica-down') {
        this.#tell([...this.#waiters], (w) => w.replicaDown(event.replica))
      }
    })
    let subscribed = false
    subscriber.subscribe('+switch-master', '+promoted-slave', '+sdown').then(
      () => {
        subscribed = true
        this.#listening(subscriber, true)
      },
      () => {},
    )
    // On each reconnect ioredis sends its SUBSCRIBE again, then reports ready.
    subscriber.on('ready', () => subscribed && this.#listening(subscriber, true))
    subscriber.on('close', () => this.#listening(subscriber, false))
    return subscriber
  }

  /**
   * Tell the waiters, {@link BATCH} per turn of the event loop: a thousand clients reconnecting
   * in one turn would stall the process for tens of ms and send the new master a thousand SYNs
   * at once, beyond its listen backlog (`tcp-backlog` 511: the rest are retried by TCP a second later).
   */
  #tell(waiters: Waiter[], act: (w: Waiter) => void): void {
    for (const w of waiters.splice(0, BATCH)) act(w)
    if (waiters.length) setImmediate(() => this.#tell(waiters, act))
  }

  #listening(subscriber: Redis, on: boolean): void {
    if (!this.#subscribers.includes(subscriber)) return
    if (on) {
      if (this.#live.size === 0) this.#since = Date.now()
      this.#live.add(subscriber)
    } else {
      this.#live.delete(subscriber)
      if (this.#live.size === 0) this.#since = undefined
    }
  }
}

/** The process-wide watch of these options' sentinel set. */
export function watchFor(options: ResolvedOptions): Watch {
  const set = sentinelSetFor(options)
  set.watch ??= new Watch(options, set, () => {
    set.watch = undefined
  })
  return set.watch
}
