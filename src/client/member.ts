import type { Command, Redis } from 'ioredis'
import type { EventNode } from '../protocol/sentinel-events.js'
import type { Resolver } from '../routing/resolver.js'
import type { Fence } from '../sentinels/fence.js'
import { awaitPromotion } from '../sentinels/promotion.js'
import type { Member, Release } from '../sentinels/watch.js'
import type { FenceMember } from './fence-member.js'
import type { Reconnect } from './reconnect.js'

type Stream = Parameters<Redis['sendCommand']>[1]

/**
 * A client as the sentinel watch knows it: told of switches (`kick`), of a replica's `+sdown`, and
 * (write side, `failoverDetection: 'always'`) of the write fence. One per client, for its life.
 */
export class WatchMember implements Member {
  constructor(
    private readonly client: Redis,
    private readonly life: Reconnect,
    private readonly member: FenceMember,
    private readonly resolver: Resolver,
    /** Send a released command again, from the top of its path. */
    private readonly resend: (command: Command, stream: Stream) => void,
  ) {}

  kick(master: string, sentinel: string): void {
    this.life.kick(master, sentinel)
  }

  replicaDown(address: string): void {
    this.life.replicaDown(address)
  }

  /** The sentinels started replacing the master. */
  fence(fence: Readonly<Fence>): void {
    this.member.told(fence)
  }

  /**
   * This member's release: leave the old master if the master changed (as on a switch), then send
   * what was held, in order (over the new connection once it is ready).
   */
  unfence(release: Release): void {
    // (A MULTI open on the master being left is discarded with its connection: the rest of that
    // transaction is refused as it is written on the next one, see TransactionGuard.)
    if (release.to) this.life.kick(release.to, release.sentinel ?? '')
    this.member.release(release, this.resend)
  }

  /** Watch the replica being promoted, with this side's credentials, `natMap` and `allowedNodes`. */
  awaitPromotion(candidate: EventNode, signal: AbortSignal): Promise<boolean> {
    const target = this.resolver.target(candidate.host, candidate.port, 'master')
    return target ? awaitPromotion(target, this.client.options, signal) : Promise.resolve(false)
  }

  /** Ask the sentinels afresh which node is the master. */
  async askMaster(): Promise<{ master: EventNode; sentinel: string }> {
    const seen = await this.resolver.sentinels.observe(0)
    return { master: seen.master, sentinel: seen.sentinel }
  }
}
