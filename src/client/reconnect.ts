import type { Command, Redis, RedisOptions } from 'ioredis'
import type { TwiceRedisConnector } from '../connector.js'
import { ClientClosedError } from '../errors.js'
import type { Side, Target } from '../events.js'
import { cancelReconnectTimer, connectorOf, dropStream } from '../ioredis-internals.js'
import { initial, inOutage, type Lifecycle, type LifecycleEvent, next, retryDelay } from '../lifecycle.js'
import type { Resolver } from '../routing/resolver.js'
import type { Member, Watch } from '../sentinels/watch.js'
import { park, parkedAt } from './async-context.js'
import { isInternal } from './connection.js'
import type { Handshake } from './handshake.js'

type Stream = Parameters<Redis['sendCommand']>[1]

type RetryStrategy = NonNullable<RedisOptions['retryStrategy']>
type Client = Redis & { readonly side: Side; readonly node: Target | undefined }

/**
 * A client's lifecycle across connections: its state (see lifecycle.ts), our retries, the bound on
 * the way to "ready", and what it listens to meanwhile: the sentinel watch in an outage (`hold`),
 * the write fence for a write side with `failoverDetection: 'always'` (`join`, for its life),
 * a replica's `+sdown` for a read side on it (`follow`).
 */
export class Reconnect {
  life: Lifecycle = initial
  /** Our retry once ioredis gave up in an outage (discovery failed). */
  #retryTimer: NodeJS.Timeout | undefined
  #readyTimer: NodeJS.Timeout | undefined
  #watch: Watch | undefined
  /**
   * Write side with `failoverDetection: 'always'`: the fence's watch, joined on the first connect
   * and left on quit() only (idle, the next connect may come in the middle of a failover it must
   * be fenced for). The watch holds members weakly: a dropped TwiceRedis is still collected.
   */
  member: Watch | undefined
  /** Read side on a replica: the watch that tells it of that replica's `+sdown`, until it closes. */
  #following: Watch | undefined
  /** Commands sent while `disconnect()` closes the socket: sent again over the next connection. */
  /** Commands sent while disconnect() closes the socket, with whether they were already past the application's stages. */
  readonly deferred: [Command, Stream, boolean][] = []
  /** The client as the watch knows it (set once, right after construction). */
  as!: Member

  constructor(
    private readonly client: Client,
    private readonly resolver: Resolver,
    readonly backoff: RetryStrategy,
    /** Connect as ioredis would (a command on an ended client, a retry). */
    private readonly connect: () => void,
  ) {}

  /** The connector's hooks: each attempt, the node chosen, the socket connected. */
  wire(handshake: Handshake): void {
    const client = this.client
    const connector = connectorOf<TwiceRedisConnector>(client)
    connector.onAttempt = () => {
      handshake.reset()
      return this.attempt()
    }
    // ioredis' own tracing channels and APM instrumentations (OpenTelemetry's ioredis one) read
    // the server address from `options.host`/`options.port`: keep them on the node in use.
    // Until the first node is chosen there is none to name (not ioredis' default localhost:6379).
    connector.onTarget = (target) => Object.assign(client.options, { host: target.host, port: target.port })
    connector.onSocket = () => handshake.socket()
  }

  /** Connecting for a command after a close of ours (disconnect(), idle): commands queue until ready or closed. */
  onDemand = false

  /** disconnect() was called and the socket is still closing: `command` goes over the next connection. */
  defer(command: Command, stream: Stream, direct = false): unknown {
    park(command)
    this.deferred.push([command, stream, direct])
    return command.promise
  }

  /** quit() waits for what was sent before it (quit-first.ts): anything new is refused already. */
  quitting = false

  /** Whether `command` is refused: closed for good, or sent after a quit() that waits. */
  refuses(command: Command): boolean {
    return this.life.state === 'closed' || (this.quitting && parkedAt(command) === Number.POSITIVE_INFINITY)
  }

  /** Closed for good (quit()): `command` rejects `CLIENT_CLOSED`. */
  refuse(command: Command): unknown {
    command.reject(new ClientClosedError(this.client.side))
    return command.promise
  }

  get state(): Lifecycle['state'] {
    return this.life.state
  }

  get listeningSince(): number | undefined {
    return this.#watch?.listeningSince
  }

  transition(event: LifecycleEvent): void {
    this.life = next(this.life, event)
  }

  /** The connector starts an attempt: how old a sentinel answer it may reuse. */
  attempt(): number {
    clearTimeout(this.#retryTimer)
    const client = this.client
    const writes = client.side === 'master' && !isInternal(client)
    if (writes && !this.member && this.resolver.options.failoverDetection === 'always') {
      this.member = this.resolver.watch()
      this.member?.join(this.as)
    }
    this.transition('connect')
    const life = this.life
    return life.state === 'connecting' ? this.resolver.reuseMs(client.side, life, this.#watch?.listeningSince) : 0
  }

  /** ioredis lost the connection (not on purpose) and asks how long to wait. */
  lost(): number | null | undefined {
    this.transition('lost')
    const delay = retryDelay(this.life, (attempt) => this.#patient(attempt, this.backoff(attempt)))
    return typeof delay === 'number' ? delay : null
  }

  /**
   * The write side, while the sentinel watch listens, retries a master still gone after a first
   * quick retry (a blip) at the backoff's cap: the watch announces a switch, and a thousand clients
   * retrying a dead node every few ms would only stall their process.
   */
  #patient(attempt: number, delay: unknown): unknown {
    if (typeof delay !== 'number' || attempt < 2 || this.client.side !== 'master') return delay
    if (this.#watch?.listeningSince === undefined) return delay
    return Math.max(delay, Math.round(this.resolver.options.maxRetryDelayMs * (0.5 + Math.random() / 2)))
  }

  retryNow(): void {
    clearTimeout(this.#retryTimer)
    if (cancelReconnectTimer(this.client) || this.client.status === 'end') this.connect()
  }

  closed(): void {
    this.onDemand = false
    this.stopTimers()
    this.#unfollow()
    // An outage (not a manual close): listen for the sentinels' switch while it lasts.
    if (inOutage(this.life)) this.holdWatch()
  }

  /** ioredis ended; `resend` the commands deferred by a disconnect(). */
  ended(send: (command: Command, stream: Stream) => void, sendDirect: typeof send): void {
    this.stopTimers()
    const state = this.life.state
    if (state === 'disconnecting') {
      this.transition('ended')
      this.releaseWatch()
      for (const [command, stream, direct] of this.deferred.splice(0)) (direct ? sendDirect : send)(command, stream)
      return
    }
    if (state === 'closed' || state === 'idle') return
    // ioredis ended by itself: a reconnect failed to resolve (queued commands were rejected with
    // the typed error). After an outage keep trying in the background, so subscribers and idle
    // clients recover by themselves; a first connect waits for the next command.
    this.transition('gave-up')
    const delay = retryDelay(this.life, this.backoff)
    if (this.life.state !== 'waiting' || typeof delay !== 'number') {
      this.life = { state: 'idle' }
      this.releaseWatch()
      return
    }
    this.#retryTimer = setTimeout(() => this.retryNow(), delay)
    if (!this.#watch) this.#retryTimer.unref()
  }

  /**
   * @internal
   * `sentinel` announced `master` as the new master: retry now rather than after the backoff,
   * and leave a node that is not it if this side is on the master.
   */
  kick(master: string, sentinel: string): void {
    const life = this.life
    if (life.state === 'closed' || life.state === 'idle' || life.state === 'disconnecting') return
    // The read side asks afresh after a switch: ask one that knows. (The write side asks no one:
    // the announcement is the latest answer, and moving the announcer to the front of every
    // instance would make the failover leader everyone's first choice for the next outage.)
    if (this.client.side === 'replica') this.resolver.sentinels.prefer(sentinel) // it announced a switch: ask it first
    if (life.state === 'waiting') {
      this.transition('kick')
      this.retryNow()
      return
    }
    const node = this.client.node
    // Another sentinel announcing the same switch must not drop a connect to the new master.
    const elsewhere = node?.role === 'master' && node.address !== master
    const stale = life.state === 'connecting' && (elsewhere || (this.client.side === 'replica' && !life.afterSwitch))
    if (stale || (life.state === 'ready' && elsewhere)) {
      // Probably still on (or connecting to) the old master: drop it and resolve again at once.
      this.transition('kick')
      dropStream(this.client)
    }
  }

  /** The sentinels flagged the replica at `address` down: if this side reads from it, move. */
  replicaDown(address: string): void {
    const target = this.client.node
    const state = this.life.state
    if ((state !== 'ready' && state !== 'connecting') || target?.role !== 'replica' || target.address !== address) {
      return
    }
    connectorOf<TwiceRedisConnector>(this.client).reject('flagged s_down by the sentinels')
    this.transition('kick')
    dropStream(this.client)
  }

  /** disconnect(): whether there is a connection to close (else the client is idle at once). */
  disconnect(): boolean {
    if (this.client.status === 'end' || this.client.status === 'wait') {
      this.life = { state: 'idle' }
      return false
    }
    this.transition('disconnect')
    return true
  }

  /** The connection is ready (its role checked). */
  ready(): void {
    this.onDemand = false
    this.clearReadyTimer()
    this.transition('ready')
    this.whileReady()
  }

  holdWatch(): void {
    if (this.#watch || this.life.state === 'closed') return
    this.#watch = this.resolver.watch()
    this.#watch?.hold(this.as)
  }

  /**
   * Ready: stop listening, except a read side on the master (no healthy replica), which listens for
   * a switch: the master it reads from may be replaced while it is still up. A read side on a
   * replica follows the watch: that replica's `+sdown` moves it (heard while anyone listens).
   */
  whileReady(): void {
    const client = this.client
    if (client.side === 'replica' && client.node?.role === 'master') this.holdWatch()
    else this.releaseWatch()
    if (client.side === 'replica' && client.node?.role === 'replica' && !this.#following) {
      this.#following = this.resolver.watch()
      this.#following?.follow(this.as)
    }
  }

  releaseWatch(): void {
    this.#watch?.release(this.as)
    this.#watch = undefined
  }

  /**
   * quit(): closed for good; leave everything. What waits for a connection (`held` by the fence,
   * deferred by a disconnect()) is rejected with `closed()`. (A held command that timed out is
   * settled already, and not among them: rejected again, it would be counted twice.)
   */
  quit(held: Command[], closed: () => Error): void {
    this.transition('quit')
    this.stopTimers()
    for (const [command] of this.deferred.splice(0)) command.reject(closed())
    for (const command of held) command.reject(closed())
    this.releaseWatch()
    this.#unfollow()
    this.member?.leave(this.as)
    this.member = undefined
  }

  #unfollow(): void {
    this.#following?.unfollow(this.as)
    this.#following = undefined
  }

  armReadyTimer(): void {
    this.clearReadyTimer()
    // ioredis' connectTimeout covers the TCP connect only; a hung node (SIGSTOP) accepts the
    // connection and then never answers AUTH or INFO. Bound the whole way to "ready".
    const ms = this.client.options.connectTimeout ?? 2000
    this.#readyTimer = setTimeout(() => {
      dropStream(this.client, new Error(`${this.client.node?.address ?? 'node'} did not become ready within ${ms} ms`))
    }, ms)
    this.#readyTimer.unref()
  }

  clearReadyTimer(): void {
    clearTimeout(this.#readyTimer)
    this.#readyTimer = undefined
  }

  /** Our timers: nothing may fire after a close, disconnect() or quit(). */
  stopTimers(): void {
    this.clearReadyTimer()
    clearTimeout(this.#retryTimer)
  }
}
