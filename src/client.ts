import { inspect } from 'node:util'
import { type Callback, Command, Redis, type RedisOptions } from 'ioredis'
import type { ReplyMappingFromOptions } from 'ioredis/built/types.js'
import type { Side, Target } from './connector.js'
import { AuthenticationError, ClientClosedError, redact, TwiceRedisError } from './errors.js'
import { isAuthError } from './sentinels.js'
import { parseInfo } from './topology.js'
import type { Watch } from './watch.js'

/** @internal What a client needs from its TwiceRedis. */
export interface ClientHooks {
  error(side: Side, error: Error): void
  /** The node failed a check after it was chosen: prefer others for a while. */
  reject(side: Side, target: Target, reason: string): void
  /** Why the connected node no longer fits its role, from its INFO (and the freshness gates), if it does not. */
  verify(target: Target, info: Record<string, string>): Promise<string | undefined>
  /** Whether the sentinels now offer an eligible replica (asked only while reads fall back to the master). */
  replicaAvailable(): Promise<boolean>
  /** A health check round trip to `address` took `ms`. */
  latency(address: string, ms: number): void
  /** Disconnect after this long without a command; 0: never. */
  idleTimeoutMs: number
  /** Ask this sentinel first next time (it just announced a switch). */
  preferSentinel(address: string): void
  /** The process-wide sentinel watch, or `undefined` when fast failover detection is off. */
  watch(): Watch | undefined
  /** Health check interval in ms; 0 turns it off. */
  healthCheckIntervalMs: number
}

type Stream = Parameters<Redis['sendCommand']>[1]
type RetryStrategy = NonNullable<RedisOptions['retryStrategy']>

/** What ioredis keeps private but a subclass has to reach. */
interface Internals {
  connector: { target?: Target; isRetry: () => boolean }
  stream?: { destroy(error?: Error): void; on(event: 'data', listener: () => void): void }
  reconnectTimeout: NodeJS.Timeout | null
  manuallyClosing: boolean
}

/**
 * One side of a TwiceRedis: a real ioredis `Redis` (every command, pipeline, MULTI and pub/sub,
 * with ioredis' types) whose connection is found through the sentinels on every (re)connect.
 *
 * Unlike a plain ioredis client, `disconnect()` is not the end: the next command reconnects,
 * resolving again (so a read may land on another replica). `quit()` is final.
 */
export class TwiceRedisClient extends Redis {
  /** `master` for the write side, `replica` for the read side. */
  readonly side: Side
  readonly #hooks: ClientHooks
  readonly #baseRetry: RetryStrategy
  #final = false
  #closing = false
  #deferred: [Command, Stream][] = []
  #readyTimer: NodeJS.Timeout | undefined
  #healthTimer: NodeJS.Timeout | undefined
  #idleTimer: NodeJS.Timeout | undefined
  #lastUse = Date.now()
  #internal = false
  #healthPending = false
  #lastData = 0
  #kicked = false
  #autoRetry = false
  #everReady = false
  #endRetries = 0
  #watch: Watch | undefined

  /** @internal created by TwiceRedis */
  constructor(side: Side, options: RedisOptions, hooks: ClientHooks) {
    super(options as RedisOptions & { replyMapping?: 'legacy' })
    this.side = side
    this.#hooks = hooks
    this.#baseRetry = options.retryStrategy ?? (() => 50)
    // ioredis reads the strategy from its options at each close: after a "kick" (the sentinels
    // announced a new master) the next attempt goes at once instead of after the backoff.
    this.options.retryStrategy = (times) => {
      this.#autoRetry = !this.#kicked
      if (!this.#kicked) return this.#baseRetry(times)
      this.#kicked = false
      return 0
    }
    // An automatic retry may reuse a sentinel answer a few hundred ms old (shared by the process);
    // a first connect, a reconnect after disconnect() and a kicked one ask afresh.
    this.#internals.connector.isRetry = () => this.#autoRetry
    this.on('error', (error: Error) => hooks.error(side, redact(error)))
    this.on('connect', () => this.#armReadyTimer())
    this.on('ready', () => this.#onReady())
    this.on('close', () => this.#onClose())
    this.on('end', () => this.#onEnd())
  }

  /**
   * The node this client is connected or connecting to, and the role it was chosen for
   * (`master` on the read side means a fallback); `undefined` while disconnected.
   */
  get node(): Target | undefined {
    return this.status === 'end' || this.status === 'wait' ? undefined : this.#internals.connector.target
  }

  override sendCommand(command: Command, stream?: Stream): unknown {
    if (this.#final) {
      command.reject(new ClientClosedError(this.side))
      return command.promise
    }
    if (this.#closing) {
      // disconnect() was called and the socket is still closing: hold the command until it has,
      // then send it over a fresh connection instead of failing it with "Connection is closed".
      this.#deferred.push([command, stream])
      return command.promise
    }
    if (this.#hooks.idleTimeoutMs > 0 && !this.#internal) this.#lastUse = Date.now()
    if (this.status === 'end') {
      this.#autoRetry = false
      this.connect().catch(() => {})
    }
    return super.sendCommand(command, stream)
  }

  /**
   * Drop the connection now (pending replies may be lost; see ioredis). The next command
   * reconnects through a fresh discovery.
   */
  override disconnect(reconnect = false): void {
    if (!reconnect && !this.#final && !this.#closing && this.status !== 'end') {
      this.#closing = true
      this.once('end', () => {
        this.#closing = false
        for (const [command, stream] of this.#deferred.splice(0)) this.sendCommand(command, stream)
      })
    }
    if (!reconnect) this.#stopTimers()
    if (!reconnect && this.status === 'reconnecting') {
      // ioredis only clears its timer here and never reaches "end"; finish the close ourselves.
      super.disconnect()
      this.#internals.manuallyClosing = false
      ;(this as unknown as { setStatus(status: string): void }).setStatus('end')
      ;(this as unknown as { flushQueue(error: Error): void }).flushQueue(new Error('Connection is closed.'))
      return
    }
    super.disconnect(reconnect)
  }

  /**
   * Close gracefully (pending replies arrive first), for good: later commands reject with
   * `CLIENT_CLOSED`. Bounded by `connectTimeoutMs` on a node that stopped answering, after which
   * the connection is dropped; either way the client is closed when this resolves.
   */
  override quit(callback?: Callback<'OK'>): Promise<'OK'> {
    this.#stopTimers()
    this.#releaseWatch()
    if (this.#final || this.status !== 'ready') {
      if (this.status !== 'end') this.disconnect()
      this.#final = true
      callback?.(null, 'OK')
      return Promise.resolve('OK')
    }
    const ms = this.options.connectTimeout ?? 2000
    const timer = setTimeout(() => super.disconnect(), ms)
    const result = super.quit().then(
      () => 'OK' as const,
      () => 'OK' as const, // the connection dropped first: closed all the same
    )
    this.#final = true
    return result.finally(() => {
      clearTimeout(timer)
      callback?.(null, 'OK')
    })
  }

  /** A new client for the same side with the same options (BullMQ and others duplicate the client they are given). */
  override duplicate<Override extends Partial<RedisOptions> | undefined = undefined>(
    override?: Override,
  ): Redis<ReplyMappingFromOptions<'legacy', Override>> {
    const options = { ...this.options, retryStrategy: this.#baseRetry, ...override }
    return new TwiceRedisClient(this.side, options, this.#hooks) as Redis as Redis<
      ReplyMappingFromOptions<'legacy', Override>
    >
  }

  /** @internal */
  override recoverFromFatalError(
    commandError: Error,
    err: Error,
    options: Parameters<Redis['recoverFromFatalError']>[2],
  ): void {
    if (!isAuthError(err)) {
      super.recoverFromFatalError(commandError, err, options)
      return
    }
    // Retrying a refused password in a loop only adds load; fail what is queued, stop, and
    // let the next command try again.
    const error = new AuthenticationError('data', this.node?.address ?? 'unknown', { cause: redact(err) })
    super.recoverFromFatalError(error, error, options)
    this.disconnect()
  }

  [inspect.custom](): string {
    const node = this.node ? `'${this.node.address}'` : 'undefined'
    return `TwiceRedisClient { side: '${this.side}', status: '${this.status}', node: ${node} }`
  }

  /**
   * @internal
   * `sentinel` announced `master` as the new master: retry now rather than after the backoff,
   * asking that sentinel first, and leave a node that is not it if this side is on the master.
   */
  kick(master: string, sentinel: string): void {
    if (this.#final) return
    this.#hooks.preferSentinel(sentinel)
    const internals = this.#internals
    if (this.status === 'reconnecting' && internals.reconnectTimeout) {
      clearTimeout(internals.reconnectTimeout)
      internals.reconnectTimeout = null
      this.#autoRetry = false // ask afresh: the topology just changed
      this.connect().catch(() => {})
      return
    }
    const onMaster = this.node?.role === 'master'
    if (this.status === 'connecting' || this.status === 'connect' || (onMaster && this.node?.address !== master)) {
      // Probably still on (or connecting to) the old master: drop it and resolve again at once.
      this.#kicked = true
      internals.stream?.destroy()
    }
  }

  /** @internal The sentinels flagged the replica at `address` down: if this side reads from it, move. */
  replicaDown(address: string): void {
    const target = this.node
    if (this.#final || target?.role !== 'replica' || target.address !== address) return
    this.#hooks.reject(this.side, target, 'flagged s_down by the sentinels')
    this.#kicked = true
    this.#internals.stream?.destroy()
  }

  get #internals(): Internals {
    return this as unknown as Internals
  }

  #onReady(): void {
    this.#autoRetry = false
    this.#clearReadyTimer()
    this.#everReady = true
    this.#endRetries = 0
    this.#releaseWatch()
    this.#lastUse = Date.now()
    this.#startIdleTimer()
    const interval = this.#hooks.healthCheckIntervalMs
    if (interval > 0 && !this.#healthTimer) {
      this.#lastData = Date.now()
      this.#internals.stream?.on('data', () => {
        this.#lastData = Date.now()
      })
      this.#healthTimer = setInterval(() => this.#healthCheck(), interval)
      this.#healthTimer.unref()
    }
  }

  #onClose(): void {
    this.#stopTimers()
    this.#healthPending = false
    // An outage (not a manual close): listen for the sentinels' switch while it lasts.
    if (!this.#closing && this.#everReady) this.#holdWatch()
  }

  #onEnd(): void {
    this.#stopTimers()
    // A reconnect that failed to resolve (no sentinel, ...) ends the client; queued commands
    // were rejected with the typed error. Unless closed on purpose, keep trying in the
    // background so subscribers and idle clients recover by themselves.
    if (this.#final || this.#closing || !this.#everReady) {
      this.#releaseWatch()
      return
    }
    const delay = this.#baseRetry(++this.#endRetries)
    if (typeof delay !== 'number') return
    const timer = setTimeout(() => {
      if (this.status !== 'end' || this.#final || this.#closing) return
      this.#autoRetry = true
      this.connect().catch(() => {})
    }, delay)
    if (!this.#watch) timer.unref()
  }

  /**
   * Cheap periodic check of the connected node (`INFO replication`): a node that stopped
   * answering (SIGSTOP, a dead network) is dropped, a demoted master or a replica that lost its
   * master link is left, and a read side that fell back to the master moves back to a replica
   * once one is healthy. Skipped while a blocking command or a monitor holds the connection.
   */
  async #healthCheck(): Promise<void> {
    if (this.status !== 'ready' || this.#final || this.#healthPending) return
    const busy = this.commandQueue.toArray().some((item) => Command.checkFlag('BLOCKING_COMMANDS', item.command.name))
    const target = this.node
    if (busy || this.mode === 'monitor' || !target) return
    this.#healthPending = true
    this.#lastData = Date.now()
    this.#watchSilence(this.options.connectTimeout ?? 2000)
    try {
      // RESP2 subscriber connections accept only PING: liveness only.
      let problem: string | undefined
      const started = performance.now()
      if (this.mode === 'subscriber') await this.#internally(() => this.ping())
      else {
        const info = parseInfo(String(await this.#internally(() => this.info('replication'))))
        if (target.role === 'replica') this.#hooks.latency(target.address, performance.now() - started)
        problem = await this.#hooks.verify(target, info)
      }
      if (problem) {
        this.#hooks.reject(this.side, target, problem)
        this.disconnect(true)
      } else if (this.side === 'replica' && target.role === 'master' && (await this.#hooks.replicaAvailable())) {
        this.disconnect(true)
      }
    } catch (err) {
      if (err instanceof TwiceRedisError) this.#hooks.error(this.side, err)
    } finally {
      this.#healthPending = false
      if (this.status === 'ready') this.#releaseWatch()
    }
  }

  /**
   * While a health check waits: after a short silence start listening to the sentinels (an
   * outage may be starting), and after `timeoutMs` without a byte from the node drop it.
   */
  #watchSilence(timeoutMs: number): void {
    const sentAt = Date.now()
    const early = Math.min(500, timeoutMs / 2)
    const tick = () => {
      if (!this.#healthPending || this.status !== 'ready') return
      const silent = Date.now() - this.#lastData
      if (silent >= timeoutMs) {
        const address = this.node?.address ?? 'node'
        this.#internals.stream?.destroy(new Error(`${address} did not answer a health check within ${timeoutMs} ms`))
        return
      }
      if (silent >= early) this.#holdWatch()
      setTimeout(tick, Math.min(early, timeoutMs - silent)).unref()
    }
    setTimeout(tick, Math.max(0, early - (Date.now() - sentAt))).unref()
  }

  /** Send a command of our own: it does not count as use for the idle timeout. */
  #internally<T>(send: () => Promise<T>): Promise<T> {
    this.#internal = true
    try {
      return send()
    } finally {
      this.#internal = false
    }
  }

  /** Disconnect (reversibly) once nothing was sent for `idleTimeoutMs` and nothing is pending. */
  #startIdleTimer(): void {
    const idle = this.#hooks.idleTimeoutMs
    if (idle <= 0 || this.#idleTimer) return
    this.#idleTimer = setInterval(
      () => {
        const quiet = Date.now() - this.#lastUse >= idle && this.commandQueue.length === 0
        if (quiet && this.status === 'ready' && this.mode === 'normal') this.disconnect()
      },
      Math.max(idle / 2, 10),
    )
    this.#idleTimer.unref()
  }

  #holdWatch(): void {
    if (this.#watch || this.#final) return
    this.#watch = this.#hooks.watch()
    this.#watch?.hold(this)
  }

  #releaseWatch(): void {
    this.#watch?.release(this)
    this.#watch = undefined
  }

  #armReadyTimer(): void {
    this.#clearReadyTimer()
    // ioredis' connectTimeout covers the TCP connect only; a hung node (SIGSTOP) accepts the
    // connection and then never answers AUTH or INFO. Bound the whole way to "ready".
    const ms = this.options.connectTimeout ?? 2000
    this.#readyTimer = setTimeout(() => {
      this.#internals.stream?.destroy(new Error(`${this.node?.address ?? 'node'} did not become ready within ${ms} ms`))
    }, ms)
    this.#readyTimer.unref()
  }

  #clearReadyTimer(): void {
    clearTimeout(this.#readyTimer)
    this.#readyTimer = undefined
  }

  #stopTimers(): void {
    this.#clearReadyTimer()
    clearInterval(this.#idleTimer)
    this.#idleTimer = undefined
    clearInterval(this.#healthTimer)
    this.#healthTimer = undefined
  }
}
