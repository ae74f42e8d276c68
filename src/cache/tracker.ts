import type { Socket } from 'node:net'
import { Command, Redis, type RedisOptions } from 'ioredis'
import { FixedConnector } from '../connector.js'
import { type SessionClient, sendOwn } from '../consistency/session-client.js'
import type { FlushReason } from '../events.js'
import { streamOf } from '../ioredis-internals.js'
import { isPermissionError } from '../protocol/auth-error.js'

/** Why a tracking pair ended (the cache is flushed with it). */
export type PairEnd = Extract<FlushReason, 'reconnect' | 'tracking-lost'>

export interface TrackerEvents {
  /** Keys changed on the node (`null`: everything, FLUSHALL/FLUSHDB or a full resync). */
  invalidate(keys: string[] | null): void
  /** The pair ended after it was active: an invalidation may have been missed from now on. */
  ended(reason: PairEnd): void
  /** The node refused a command tracking needs (rights, or Redis before 6). */
  refused(error: Error): void
}

const CHANNEL = '__redis__:invalidate'
/** A read of this size or more may have left data unread (TLS records are 16 KiB; plain reads 64 KiB). */
const FULL_READ = 16 * 1024

/**
 * One tracking pair: `tr.slave`'s connection of one epoch and an invalidation connection of ours
 * to the same node (RESP2 redirect mode, ioredis 5 and 6: see ARCHITECTURE.md). Active once Redis
 * answered `CLIENT TRACKING ON REDIRECT <id>` on `tr.slave`'s connection, after our connection
 * subscribed (a RESP2 client not subscribed gets no invalidations). Ends, for good, when either
 * connection closes; the next pair starts afresh.
 */
export class Tracker {
  active = false
  #ended = false
  /** When either socket of the pair last received anything (a reply, an invalidation, a PONG). */
  #heard = Date.now()
  #pinging = false
  /** The redirect connection's last read was a full one: invalidations may wait unread. */
  #backlog = false
  readonly #redirect: Redis
  readonly epoch: number

  constructor(
    readonly client: SessionClient,
    readonly on: TrackerEvents,
  ) {
    this.epoch = client.connection.epoch
    const node = client.node
    const o = client.options
    this.#redirect = new Redis({
      username: o.username,
      password: o.password,
      tls: o.tls,
      connectTimeout: o.connectTimeout,
      // Every step is bounded: a node that stops answering ends the pair, never holds it.
      commandTimeout: o.connectTimeout ?? 2000,
      Connector: node ? FixedConnector.to(node) : undefined,
      lazyConnect: true,
      enableReadyCheck: false,
      enableOfflineQueue: false,
      autoResubscribe: false,
      disableClientInfo: true,
      retryStrategy: () => null, // a lost redirect connection ends the pair: no reconnect
      // RESP2: a RESP3 redirect client gets `invalidate` push frames, which ioredis 6 drops.
      protocol: 2,
      connectionName: 'twiceredis:cache-invalidations', // findable in CLIENT LIST
    } as RedisOptions)
    this.#redirect.on('error', () => {}) // its close ends the pair
    this.#redirect.on('close', () => this.end('tracking-lost'))
    this.#redirect.on('messageBuffer', (channel: Buffer, message: unknown) => {
      if (String(channel) !== CHANNEL || this.#ended) return
      this.on.invalidate(Array.isArray(message) ? message.map(String) : null)
    })
    // A socket's 'end' (the node closed it) comes a turn or more before ioredis' 'close'.
    this.#stream = streamOf(client)
    this.#stream?.on('end', this.#closed).on('data', this.#data)
    if (!node) this.end('reconnect')
  }

  /** `tr.slave`'s socket this pair tracks (its listeners are removed as the pair ends). */
  readonly #stream: Socket | undefined
  readonly #closed = (): void => this.end('reconnect')

  readonly #data = (): void => {
    this.#heard = Date.now()
  }

  /**
   * A chunk of the redirect connection. A full one (libuv reads 64 KiB at a time, TLS 16 KiB, and at
   * most 32 reads per socket per turn) says more may wait unread past the end of this turn: an
   * invalidation among them would come after a hit answered now (red team 5, F3). No hits then,
   * until a shorter chunk; a PING asks for one (its PONG comes after everything sent before it).
   */
  readonly #invalidations = (chunk: Buffer): void => {
    this.#heard = Date.now()
    this.#backlog = chunk.length >= FULL_READ
    if (this.#backlog) this.#ping()
  }

  /**
   * The node showed life within `ms` of `now` (a paused or hung replica must not serve hits until
   * the health check drops it: red team 5, F4). Silent for half of it, a PING on the redirect
   * connection asks (allowed while subscribed): an idle pair stays servable.
   */
  heardWithin(now: number, ms: number): boolean {
    const silent = now - this.#heard
    if (silent >= ms / 2) this.#ping()
    return silent < ms
  }

  #ping(): void {
    if (this.#pinging || this.#ended) return
    this.#pinging = true
    const done = () => {
      this.#pinging = false
    }
    this.#redirect.ping().then(done, done)
  }

  /**
   * Active, and both sockets still open: asked at each hit. ioredis changes `status` only at the
   * socket's 'close', a turn or more after its 'end' (red team 5, F2): a hit in between would be
   * served from a pair whose invalidations may never come.
   */
  get alive(): boolean {
    return this.active && !this.#backlog && open(streamOf(this.client)) && open(streamOf(this.#redirect))
  }

  /** The connection of `tr.slave` this pair tracks is still the one open. */
  get current(): boolean {
    return !this.#ended && this.client.connection.epoch === this.epoch && this.client.status === 'ready'
  }

  /** Open the redirect connection, subscribe, and turn tracking on; `false` if the pair could not start. */
  async start(): Promise<boolean> {
    try {
      await this.#redirect.connect()
      streamOf(this.#redirect)
        ?.once('end', () => this.end('tracking-lost'))
        .on('data', this.#invalidations)
      const id = await this.#redirect.client('ID')
      await this.#redirect.subscribe(CHANNEL)
      if (!this.current) return this.#fail()
      const on = new Command('client', ['TRACKING', 'ON', 'REDIRECT', String(id)], { replyEncoding: 'utf8' })
      sendOwn(this.client, on)
      await on.promise
      if (!this.current) return this.#fail()
      this.active = true
      this.#heard = Date.now()
      return true
    } catch (error) {
      // Redis before 6, a user refused CLIENT, the node gone: no cache on this connection.
      if (isPermissionError(error)) this.on.refused(error as Error)
      return this.#fail()
    }
  }

  /** End the pair (either connection closed): nothing it cached may be served any more. */
  end(reason: PairEnd): void {
    if (this.#ended) return
    this.#ended = true
    const was = this.active
    this.active = false
    this.#stream?.off('end', this.#closed).off('data', this.#data)
    this.#redirect.disconnect()
    if (was) this.on.ended(reason)
  }

  #fail(): false {
    this.end('reconnect')
    return false
  }
}

/** Neither destroyed nor ended by the other side. */
function open(stream: Socket | undefined): boolean {
  return stream !== undefined && !stream.destroyed && !stream.readableEnded
}
