import type { EventNode, SentinelEvent } from '../protocol/sentinel-events.js'

/** What the write fence of a sentinel set is doing: the master it fences, since when, and why. */
export interface Fence {
  /** The master no write may go to while the fence stands (`host:port` as the sentinels name it). */
  master: string
  since: number
  /** The event that raised it (`+odown`, `+try-failover`, ...). */
  reason: string
  /** The sentinel that said it. */
  sentinel: string
  /** The replica the failover leader is promoting, once it named one. */
  candidate?: EventNode | undefined
}

/** What a step of the fence asks its owner to do. */
export interface FenceStep {
  /** A fence went up: hold writes to its master. */
  raise?: Fence
  /** The leader named the replica it promotes: watch it become master. */
  candidate?: EventNode
  /**
   * The failover is over without a switch: send held writes to the same master. Comes before
   * `raise` when one step ends a fence and raises another (for another master).
   */
  lower?: string
  /** The master is now `switchTo`: send held writes there. */
  switchTo?: EventNode
}

/** What one sentinel last said of the fenced master. */
interface Word {
  odown: boolean
  failover: boolean
  /** It leads a failover (elected, or forced by `SENTINEL FAILOVER`), promoting this replica once named. */
  leads?: EventNode | true | undefined
}

/** Masters retired by a switch that are remembered, so late words about them fence nothing. */
const RETIRED = 8

/**
 * The write fence's state, pure (no timers, no I/O): fed the sentinels' events, it says when to
 * hold writes, where to watch for the promotion, and when and where to let them go.
 *
 * The fence rises at the first sign that the sentinels are replacing the master: `+odown` from any
 * sentinel, or any step of a failover (`+try-failover`, `+selected-slave`, `+failover-state-*`).
 * One sentinel's `+sdown` is an opinion and raises nothing. It stands while any sentinel still says
 * the master is objectively down or failing over; it falls when every one of them took it back
 * (`-odown`, `-failover-abort-*`), or with a switch (`+switch-master`, the leader's
 * `+promoted-slave`, or the owner's own sighting of the candidate answering as master).
 */
export class FenceState {
  #fence: Fence | undefined
  readonly #words = new Map<string, Word>()
  readonly #retired: string[] = []
  /** A switch announced while another leader still promotes another replica. */
  #pending: { to: EventNode; from?: string | undefined } | undefined

  /** The fence standing now, if any. */
  get active(): Readonly<Fence> | undefined {
    return this.#fence
  }

  /**
   * Two sentinels lead failovers of the master toward different replicas (two `SENTINEL FAILOVER`
   * at once, or an election retried while the first leader still works): whichever promotes first
   * may lose to the other's higher epoch, and what it acknowledged with it. Writes stay held until
   * one is left, or the bound passes.
   */
  get contested(): boolean {
    return this.#contested()
  }

  /**
   * `sentinel` published `event`; `current` is the master the process uses now (its latest
   * answer), against which a late announcement is judged.
   */
  step(sentinel: string, channel: string, event: SentinelEvent, now: number, current?: string): FenceStep {
    if (event.type === 'switch-master') return this.switched(event.newMaster, event.from, current)
    if (event.type !== 'odown' && event.type !== 'failover') return {}
    if (this.#retired.includes(event.node)) return {}
    const out: FenceStep = {}
    // Sentinels that disagree about the master (or spell it differently): the fence standing for
    // the other one ends with a release (its members must not wait for a release that never comes).
    if (this.#fence && this.#fence.master !== event.node) {
      this.#clear()
      out.lower = channel
    }
    const word = this.#words.get(sentinel) ?? { odown: false, failover: false }
    if (event.type === 'odown') word.odown = event.on
    else {
      word.failover = event.on
      // Trying is not leading: most attempts of an election end `-failover-abort-not-elected`.
      if (!event.on) word.leads = undefined
      else if (channel !== '+try-failover') word.leads = event.candidate ?? word.leads ?? true
    }
    this.#words.set(sentinel, word)
    const pending = this.#pending
    if (pending && !this.#contested(pending.to.address)) return this.switched(pending.to, pending.from)
    const standing = [...this.#words.values()].some((w) => w.odown || w.failover)
    if (!this.#fence && standing) {
      this.#fence = { master: event.node, since: now, reason: channel, sentinel }
      out.raise = this.#fence
    } else if (this.#fence && !standing) {
      this.#clear()
      out.lower = channel
      return out
    }
    const candidate = event.type === 'failover' ? event.candidate : undefined
    if (this.#fence && candidate && this.#fence.candidate?.address !== candidate.address) {
      this.#fence.candidate = candidate
      out.candidate = candidate
    }
    return out
  }

  /**
   * The master is `to` now (announced, or seen answering as master): the fence falls and words
   * about the master before (`from`, or the fenced one) fence nothing any more.
   *
   * Unless the announcement is late: a sentinel that learns of a switch from hello messages
   * announces it up to a hello period after the leader, so after two failovers in a row (A to B,
   * then B to C) `+switch-master A B` may come after the process moved to C. A switch from a
   * master other than `current` to one the process already left changes nothing.
   */
  switched(to: EventNode, from?: string, current?: string, sentinel?: string): FenceStep {
    if (from && current && from !== current && this.#retired.includes(to.address)) return {}
    if (sentinel && this.#fence) {
      // The announcing sentinel's failover is over; another leader's may not be.
      const word = this.#words.get(sentinel)
      if (word) Object.assign(word, { failover: false, leads: undefined })
      if (this.#contested(to.address)) {
        this.#pending = { to, from }
        return {}
      }
    }
    for (const old of [from, this.#fence?.master]) {
      if (old && old !== to.address && !this.#retired.includes(old)) this.#retired.push(old)
    }
    this.#retired.splice(0, Math.max(0, this.#retired.length - RETIRED))
    const i = this.#retired.indexOf(to.address)
    if (i >= 0) this.#retired.splice(i, 1) // a node may become master again in a later failover
    this.#clear()
    return { switchTo: to }
  }

  /** Give up on the fence (its bound passed, or the owner found out where the master is). */
  reset(): void {
    this.#clear()
  }

  /** Some leader still promotes a replica other than `to` (or than another leader's). */
  #contested(to?: string): boolean {
    const led = [...this.#words.values()].flatMap((w) => (w.leads ? [w.leads === true ? '?' : w.leads.address] : []))
    const targets = new Set(to ? [to, ...led] : led)
    return led.length > 0 && (targets.size > 1 || targets.has('?')) && (led.length > 1 || to !== undefined)
  }

  #clear(): void {
    this.#fence = undefined
    this.#words.clear()
    this.#pending = undefined
  }
}
