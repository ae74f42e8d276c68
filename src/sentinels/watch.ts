import type { Redis } from 'ioredis'
import type { ResolvedOptions } from '../options/normalize.js'
import type { EventNode, SentinelEvent } from '../protocol/sentinel-events.js'
import { type Fence, FenceState, type FenceStep } from './fence.js'
import { Members, tell } from './members.js'
import { bounded, catchUp, type Listener, subscribeAll } from './subscriptions.js'

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

/** How a write fence ended, as told to each write-side client. */
export interface Release {
  /** The event that ended it (`promoted`, `+switch-master`, `-odown`, `-failover-abort-*`, `timeout`). */
  reason: string
  /** The master writes go to now, if it changed. */
  to?: string | undefined
  sentinel?: string | undefined
}

/** A write-side client with `failoverDetection: 'always'`: fenced while the sentinels replace its master. */
export interface Member extends Waiter {
  fence(fence: Readonly<Fence>): void
  unfence(release: Release): void
  /** Watch `candidate` until it answers as master (`true`), or until `signal` aborts (`false`). */
  awaitPromotion(candidate: EventNode, signal: AbortSignal): Promise<boolean>
  /** Ask the sentinels afresh which node is the master. */
  askMaster(): Promise<{ master: EventNode; sentinel: string }>
}

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
 * - the **write fence**: at the first word of a failover of the master (see {@link FenceState}),
 *   members hold their writes; when the leader names the replica it promotes, one member watches
 *   it and the moment it answers as master, writes go there; if the failover is called off they
 *   go back to the same master; after `failoverFenceMs`, wherever the sentinels then say.
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
  readonly #fence = new FenceState()
  readonly #listener: Listener = {
    heard: (sentinel, channel, event) => this.#heard(sentinel, channel, event),
    listening: (subscriber, on) => this.#listening(subscriber, on),
  }
  #fenceTimer: NodeJS.Timeout | undefined
  #promotion: AbortController | undefined

  constructor(
    private readonly options: ResolvedOptions,
    private readonly hooks: WatchHooks,
  ) {}

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
    if (this.#members.size === 0) this.#endFence()
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
    this.#endFence()
    // (Read sides that follow keep the watch, not its subscriptions.)
    if (this.#readers.size === 0) this.hooks.idle()
  }

  #heard(sentinel: string, channel: string, event: SentinelEvent): void {
    if (event.type === 'replica-down') {
      tell([...new Set([...this.#waiters, ...this.#readers])], (w) => w.replicaDown(event.replica))
      return
    }
    if (event.type === 'switch-master') {
      this.#act(
        this.#fence.switched(event.newMaster, event.from, this.hooks.current(), sentinel),
        sentinel,
        channel,
        event.from,
      )
      return
    }
    // Fencing is for members; a process with only outage listeners acts on switches alone.
    if (this.#members.size > 0) this.#act(this.#fence.step(sentinel, channel, event, Date.now()), sentinel, channel)
  }

  #act(step: FenceStep, sentinel: string, reason: string, from?: string): void {
    // A release first: a step may end one fence and raise another (for another master).
    if (step.lower) {
      this.#endFence()
      tell(this.#members.all(), (m) => m.unfence({ reason, sentinel }))
    }
    if (step.raise) {
      const fence = step.raise
      clearTimeout(this.#fenceTimer)
      this.#fenceTimer = setTimeout(() => this.#expire(fence), this.options.failoverFenceMs)
      this.#members.pin() // until the release: what they hold must be released, not collected
      tell(this.#members.all(), (m) => m.fence(fence))
    }
    if (step.candidate) this.#watchPromotion(step.candidate, sentinel)
    if (step.switchTo) {
      const to = step.switchTo
      this.#endFence()
      this.hooks.announce(to, sentinel, from)
      const members = this.#members.all()
      tell(members, (m) => m.unfence({ reason, sentinel, to: to.address }))
      const others = [...this.#waiters].filter((w) => !this.#members.has(w as Member))
      tell(others, (w) => w.kick(to.address, sentinel))
    }
  }

  /** The leader promotes `candidate`: one member polls it, and writes go there once it is master. */
  #watchPromotion(candidate: EventNode, sentinel: string): void {
    this.#promotion?.abort()
    const member = this.#members.first()
    if (!member) return
    const controller = new AbortController()
    this.#promotion = controller
    member.awaitPromotion(candidate, controller.signal).then(
      (promoted) => {
        const fence = this.#fence.active
        if (!promoted || controller.signal.aborted || fence?.candidate?.address !== candidate.address) return
        if (this.#fence.contested) return // another leader may still win: its switch (or the bound) decides
        this.#act(this.#fence.switched(candidate, fence.master), sentinel, 'promoted', fence.master)
      },
      () => {},
    )
  }

  /** The fence stood `failoverFenceMs`: writes go wherever the sentinels say now. */
  #expire(fence: Readonly<Fence>): void {
    const member = this.#members.first()
    const stillUp = () => this.#fence.active === fence
    const lower = () => {
      if (!stillUp()) return
      this.#fence.reset()
      this.#act({ lower: 'timeout' }, fence.sentinel, 'timeout')
    }
    if (!member) {
      lower()
      return
    }
    member.askMaster().then(({ master, sentinel }) => {
      if (!stillUp()) return
      if (master.address === fence.master) lower()
      else this.#act(this.#fence.switched(master, fence.master), sentinel, 'timeout', fence.master)
    }, lower)
  }

  #endFence(): void {
    clearTimeout(this.#fenceTimer)
    this.#fenceTimer = undefined
    this.#promotion?.abort()
    this.#promotion = undefined
    this.#members.unpin()
    if (this.#members.size === 0) this.#fence.reset()
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
