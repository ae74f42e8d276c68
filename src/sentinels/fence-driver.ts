import type { ResolvedOptions } from '../options/normalize.js'
import type { EventNode, SentinelEvent } from '../protocol/sentinel-events.js'
import { type Fence, FenceState, type FenceStep } from './fence.js'
import { type Member, type Members, tell, type Waiter } from './members.js'

/** What the fence's driver is given by its watch. */
export interface DriverHooks {
  /** `sentinel` announced `master`: make it the process' latest answer. */
  announce(master: EventNode, sentinel: string, from: string | undefined): void
  /** The master the process' latest answer names. */
  current(): string | undefined
  /** Clients in an outage that are no members: told of a switch (`kick`). */
  others(): Waiter[]
}

/**
 * The write fence of a watch in time: it feeds the sentinels' events to {@link FenceState} (pure)
 * and does what each step asks. A fence raised holds the members (and pins them, see members.ts)
 * until `failoverFenceMs` at most; when the leader names the replica it promotes, one member polls
 * it, and the moment it answers as master, writes go there; if the failover is called off they go
 * back to the same master; at the bound, wherever the sentinels then say. Members are told a few
 * per turn of the event loop ({@link tell}).
 */
export class FenceDriver {
  readonly #state = new FenceState()
  #timer: NodeJS.Timeout | undefined
  #promotion: AbortController | undefined

  constructor(
    private readonly options: ResolvedOptions,
    private readonly members: Members<Member>,
    private readonly hooks: DriverHooks,
  ) {}

  /** The write fence standing now, if any. */
  get active(): Readonly<Fence> | undefined {
    return this.#state.active
  }

  /** `sentinel` published `event` (a switch, or a word about the master) on `channel`. */
  heard(sentinel: string, channel: string, event: SentinelEvent): void {
    if (event.type === 'switch-master') {
      const step = this.#state.switched(event.newMaster, event.from, this.hooks.current(), sentinel)
      this.#act(step, sentinel, channel, event.from)
      return
    }
    // Fencing is for members; a process with only outage listeners acts on switches alone.
    if (this.members.size > 0) this.#act(this.#state.step(sentinel, channel, event, Date.now()), sentinel, channel)
  }

  #act(step: FenceStep, sentinel: string, reason: string, from?: string): void {
    // A release first: a step may end one fence and raise another (for another master).
    if (step.lower) {
      this.end()
      tell(this.members.all(), (m) => m.unfence({ reason, sentinel }))
    }
    if (step.raise) {
      const fence = step.raise
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => this.#expire(fence), this.options.failoverFenceMs)
      this.members.pin() // until the release: what they hold must be released, not collected
      tell(this.members.all(), (m) => m.fence(fence))
    }
    if (step.candidate) this.#watchPromotion(step.candidate, sentinel)
    if (step.switchTo) {
      const to = step.switchTo
      this.end()
      this.hooks.announce(to, sentinel, from)
      tell(this.members.all(), (m) => m.unfence({ reason, sentinel, to: to.address }))
      tell(this.hooks.others(), (w) => w.kick(to.address, sentinel))
    }
  }

  /** The leader promotes `candidate`: one member polls it, and writes go there once it is master. */
  #watchPromotion(candidate: EventNode, sentinel: string): void {
    this.#promotion?.abort()
    const member = this.members.first()
    if (!member) return
    const controller = new AbortController()
    this.#promotion = controller
    member.awaitPromotion(candidate, controller.signal).then(
      (promoted) => {
        const fence = this.#state.active
        if (!promoted || controller.signal.aborted || fence?.candidate?.address !== candidate.address) return
        if (this.#state.contested) return // another leader may still win: its switch (or the bound) decides
        this.#act(this.#state.switched(candidate, fence.master), sentinel, 'promoted', fence.master)
      },
      () => {},
    )
  }

  /** The fence stood `failoverFenceMs`: writes go wherever the sentinels say now. */
  #expire(fence: Readonly<Fence>): void {
    const member = this.members.first()
    const stillUp = () => this.#state.active === fence
    const lower = () => {
      if (!stillUp()) return
      this.#state.reset()
      this.#act({ lower: 'timeout' }, fence.sentinel, 'timeout')
    }
    if (!member) {
      lower()
      return
    }
    member.askMaster().then(({ master, sentinel }) => {
      if (!stillUp()) return
      if (master.address === fence.master) lower()
      else this.#act(this.#state.switched(master, fence.master), sentinel, 'timeout', fence.master)
    }, lower)
  }

  /** Stop the fence's timer and promotion poll; forget its state once no member is left. */
  end(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#promotion?.abort()
    this.#promotion = undefined
    this.members.unpin()
    if (this.members.size === 0) this.#state.reset()
  }
}
