import type { Redis } from 'ioredis'
import type { ResolvedOptions } from '../options/normalize.js'
import type { EventNode, SentinelEvent } from '../protocol/sentinel-events.js'
import type { Fence } from './fence.js'
import { FenceDriver } from './fence-driver.js'
import { type Member, Members, tell, type Waiter } from './members.js'
import { bounded, catchUp, type Listener, subscribeAll } from './subscriptions.js'

export type { Member, Release, Waiter } from './members.js'

/** What the watch is given by the sentinel set that owns it. */
export interface WatchHooks {
  /** `sentinel` announced `master`: make it the process' latest answer. */
  announce(master: EventNode, sentinel: string, from: string | undefined): void
  /** The master the process' latest answer names. */
  current(): string | undefined
  /** Nobody listens any more. */
  idle(): void
}

/**
 * The process' subscriptions to the sentinels of one sentinel set, shared by every TwiceRedis on
 * it: one connection per sentinel, whatever the number of instances.
 *
 * They exist while someone listens: write-side clients with `failoverDetection: 'always'`
 * ({@link join}, for as long as the client lives, connected or not: held weakly) and any client in
 * an outage ({@link hold}).
 * All sentinels, because the leader of a failover speaks first (`+promoted-slave`); the others
 * learn of it from its hello messages up to a hello period (2 s) later.
 *
 * What it does with what it hears:
 * - a switch becomes the process' latest sentinel answer, and clients move (10 per turn);
 * - a replica's `+sdown` makes clients reading from it leave;
 * - the **write fence** (fence-driver.ts): at the first word of a failover of the master, members
 *   hold their writes until the replica promoted answers as master, the failover is called off,
 *   or `failoverFenceMs` passes.
 */
export class Watch {
  readonly #waiters = new Set<Waiter>()
  /** Held weakly: a member listens for as long as it lives, connected or not (see members.ts). */
  readonly #members = new Members<Member>(() => this.#collected())
  /** Read sides on a replica: told of its `+sdown` while anyone listens (they open nothing themselves). */
  readonly #readers = new Set<Waiter>()
  #subscribers: Redis[] = []
  /** Subscriptions in place now. */
  readonly #live = new Set<Redis>()
  #since: number | undefined
  #caughtUp: Promise<void> | undefined
  /** The write fence: its state, timer and promotion poll. */
  readonly #fence: FenceDriver
  readonly #listener: Listener = {
    heard: (sentinel, channel, event) => this.#heard(sentinel, channel, event),
    listening: (subscriber, on) => this.#listening(subscriber, on),
  }

  constructor(
    private readonly options: ResolvedOptions,
    private readonly hooks: WatchHooks,
  ) {
    this.#fence = new FenceDriver(options, this.#members, {
      announce: (master, sentinel, from) => hooks.announce(master, sentinel, from),
      current: () => hooks.current(),
      others: () => [...this.#waiters].filter((w) => !this.#members.has(w as Member)),
    })
  }

  /**
   * Since when at least one subscription has been in place without a break (`undefined`: none
   * is): a switch after that time will be announced, so a sentinel answer given since then stays
   * good for the write side until an announcement (or the slow fallback poll).
   */
  get listeningSince(): number | undefined {
    return this.#since
  }

  /** The write fence standing now, if any. */
  get fence(): Readonly<Fence> | undefined {
    return this.#fence.active
  }

  /**
   * Whether a write to the master at `address` must wait now: a fence stands for that master (for
   * a client not connected anywhere, `address` is the master the process would go to).
   */
  holds(address: string | undefined): boolean {
    const fence = this.#fence.active
    if (!fence) return false
    return (address ?? this.hooks.current() ?? fence.master) === fence.master
  }

  /** A client in an outage listens until it is back. */
  hold(waiter: Waiter): void {
    this.#waiters.add(waiter)
    this.#open()
  }

  release(waiter: Waiter): void {
    this.#waiters.delete(waiter)
    this.#closeIfIdle()
  }

  /** A read side connected to a replica: told if the sentinels flag it down. */
  follow(reader: Waiter): void {
    this.#readers.add(reader)
  }

  unfollow(reader: Waiter): void {
    if (this.#readers.delete(reader)) this.#closeIfIdle()
  }

  /** A write-side client with `failoverDetection: 'always'` listens for as long as it lives. */
  join(member: Member): void {
    const first = this.#members.size === 0
    this.#members.add(member)
    if (this.#open() || !first || this.#live.size === 0) return
    // Subscribed already, for clients in an outage: a failover's words were heard and not heeded.
    const caught = [...this.#live].map((subscriber) => catchUp(this.options, subscriber, this.#listener))
    this.#settle(Promise.all([this.#caughtUp, bounded(this.options, caught)]))
  }

  /**
   * Until the subscriptions just made (or, for a first member, those made before) asked their
   * sentinels whether a failover is under way now: a member's first connection waits for it before
   * it is ready (bounded by `sentinelTimeoutMs`), or it could write to a master being replaced
   * before the fence rose. `undefined` once caught up.
   */
  caughtUp(): Promise<void> | undefined {
    return this.#caughtUp
  }

  #settle(caughtUp: Promise<unknown>): void {
    const settled: Promise<void> = caughtUp.then(() => {
      if (this.#caughtUp === settled) this.#caughtUp = undefined
    })
    this.#caughtUp = settled
  }

  /** The member quit. */
  leave(member: Member): void {
    this.#members.delete(member)
    this.#waiters.delete(member)
    this.#collected()
  }

  /** A member left or was collected. */
  #collected(): void {
    if (this.#members.size === 0) this.#fence.end()
    this.#closeIfIdle()
  }

  /** Subscribe, unless subscribed already: whether it did. */
  #open(): boolean {
    if (this.#subscribers.length > 0) return false
    const { subscribers, caughtUp } = subscribeAll(this.options, this.#listener)
    this.#subscribers = subscribers
    this.#settle(caughtUp)
    return true
  }

  #closeIfIdle(): void {
    if (this.#waiters.size > 0 || this.#members.size > 0) return
    for (const subscriber of this.#subscribers) subscriber.disconnect()
    this.#subscribers = []
    this.#caughtUp = undefined
    this.#live.clear()
    this.#since = undefined
    this.#fence.end()
    // (Read sides that follow keep the watch, not its subscriptions.)
    if (this.#readers.size === 0) this.hooks.idle()
  }

  #heard(sentinel: string, channel: string, event: SentinelEvent): void {
    if (event.type === 'replica-down') {
      tell([...new Set([...this.#waiters, ...this.#readers])], (w) => w.replicaDown(event.replica))
      return
    }
    this.#fence.heard(sentinel, channel, event)
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
