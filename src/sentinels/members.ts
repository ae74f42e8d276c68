import type { EventNode } from '../protocol/sentinel-events.js'
import type { Fence } from './fence.js'

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

/**
 * The write-side clients (`failoverDetection: 'always'`) of a sentinel watch, held weakly.
 *
 * A member stays one for as long as it lives, connected or not: one that left while it had no
 * connection (idle timeout, `disconnect()`) and reconnected in the middle of a planned failover
 * missed its start, and wrote to the old master unfenced (acknowledged, then erased). Held weakly,
 * a TwiceRedis the application dropped is still collected (the watch is process-wide); a member
 * is forgotten when it is collected or quits. While a fence stands every member is held strongly
 * ({@link pin}): its held commands are the application's, and must be released, not collected.
 */
export class Members<M extends object> {
  readonly #refs = new Set<WeakRef<M>>()
  readonly #ref = new WeakMap<M, WeakRef<M>>()
  /** Members held strongly while a fence stands. */
  #pinned: Set<M> | undefined
  readonly #finalizer: FinalizationRegistry<WeakRef<M>>

  /** `collected`: a member was collected without leaving (the watch may close its subscriptions). */
  constructor(collected: () => void) {
    this.#finalizer = new FinalizationRegistry((ref) => {
      if (this.#refs.delete(ref)) collected()
    })
  }

  /** Members not collected yet (a collected one may count until its finalizer runs). */
  get size(): number {
    return this.#refs.size
  }

  add(member: M): void {
    if (this.#ref.has(member)) return
    const ref = new WeakRef(member)
    this.#refs.add(ref)
    this.#ref.set(member, ref)
    this.#finalizer.register(member, ref, ref)
    this.#pinned?.add(member)
  }

  delete(member: M): boolean {
    const ref = this.#ref.get(member)
    if (!ref) return false
    this.#ref.delete(member)
    this.#refs.delete(ref)
    this.#finalizer.unregister(ref)
    this.#pinned?.delete(member)
    return true
  }

  has(member: M): boolean {
    return this.#ref.has(member)
  }

  /** The members alive now, in the order they joined. */
  all(): M[] {
    const alive: M[] = []
    for (const ref of this.#refs) {
      const member = ref.deref()
      if (member) alive.push(member)
    }
    return alive
  }

  first(): M | undefined {
    for (const ref of this.#refs) {
      const member = ref.deref()
      if (member) return member
    }
    return undefined
  }

  /** A fence stands: hold every member (and any joining) strongly until {@link unpin}. */
  pin(): void {
    this.#pinned ??= new Set(this.all())
  }

  unpin(): void {
    this.#pinned = undefined
  }
}

/** How many clients act per turn of the event loop after an announcement. */
const BATCH = 10

/**
 * Tell clients, {@link BATCH} per turn of the event loop: a thousand clients reconnecting in one
 * turn would stall the process for tens of ms and send the new master a thousand SYNs at once,
 * beyond its listen backlog (`tcp-backlog` 511: the rest are retried by TCP a second later).
 */
export function tell<T>(clients: T[], act: (client: T) => void): void {
  for (const client of clients.splice(0, BATCH)) act(client)
  if (clients.length) setImmediate(() => tell(clients, act))
}
