import { inspect } from 'node:util'
import { type Callback, type Command, Redis, type RedisOptions } from 'ioredis'
import type { Side, Target } from './connector.js'
import { AuthenticationError, ClientClosedError, redact } from './errors.js'
import { isAuthError } from './sentinels.js'

/** What a client tells its TwiceRedis. */
export interface ClientHooks {
  error(side: Side, error: Error): void
}

type Deferred = [Command, Parameters<Redis['sendCommand']>[1]]

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
  #final = false
  #closing = false
  #deferred: Deferred[] = []
  #readyTimer: NodeJS.Timeout | undefined

  /** @internal created by TwiceRedis */
  constructor(side: Side, options: RedisOptions, hooks: ClientHooks) {
    super(options as RedisOptions & { replyMapping?: 'legacy' })
    this.side = side
    this.#hooks = hooks
    this.on('error', (error: Error) => hooks.error(side, redact(error)))
    // ioredis' connectTimeout covers the TCP connect only; a hung node (SIGSTOP) accepts the
    // connection and then never answers AUTH or INFO. Bound the whole way to "ready".
    this.on('connect', () => this.#armReadyTimer())
    for (const event of ['ready', 'close', 'end']) this.on(event, () => this.#clearReadyTimer())
  }

  /**
   * The node this client is connected or connecting to, and the role it was chosen for
   * (`master` on the read side means a fallback); `undefined` while disconnected.
   */
  get node(): Target | undefined {
    return this.status === 'end' || this.status === 'wait' ? undefined : this.#target()
  }

  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
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
    if (this.status === 'end') this.connect().catch(() => {})
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
    super.disconnect(reconnect)
  }

  /** Close gracefully (pending replies arrive first). Final: later commands reject with `CLIENT_CLOSED`. */
  override quit(callback?: Callback<'OK'>): Promise<'OK'> {
    if (this.#final || this.status === 'end' || this.status === 'wait') {
      if (this.status === 'wait') super.disconnect()
      this.#final = true
      callback?.(null, 'OK')
      return Promise.resolve('OK')
    }
    const result = super.quit(callback)
    this.#final = true
    return result
  }

  /** A new client for the same side with the same options (used by BullMQ and others). */
  // @ts-expect-error ioredis types duplicate() by reply mapping; ours keeps the defaults.
  override duplicate(override?: Partial<RedisOptions>): TwiceRedisClient {
    return new TwiceRedisClient(this.side, { ...this.options, ...override }, this.#hooks)
  }

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
    const error = new AuthenticationError('data', this.#target()?.address ?? 'unknown', { cause: redact(err) })
    super.recoverFromFatalError(error, error, options)
    this.disconnect()
  }

  [inspect.custom](): string {
    return `TwiceRedisClient { side: '${this.side}', status: '${this.status}', node: ${this.node ? `'${this.node.address}'` : 'undefined'} }`
  }

  #target(): Target | undefined {
    return (this as unknown as { connector: { target?: Target } }).connector.target
  }

  #armReadyTimer(): void {
    this.#clearReadyTimer()
    const ms = this.options.connectTimeout ?? 2000
    this.#readyTimer = setTimeout(() => {
      const stream = (this as unknown as { stream?: { destroy(error?: Error): void } }).stream
      stream?.destroy(new Error(`${this.#target()?.address ?? 'node'} did not become ready within ${ms} ms`))
    }, ms)
    this.#readyTimer.unref()
  }

  #clearReadyTimer(): void {
    clearTimeout(this.#readyTimer)
    this.#readyTimer = undefined
  }
}
