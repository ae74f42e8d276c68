import { AsyncLocalStorage } from 'node:async_hooks'
import { inspect } from 'node:util'
import { type Callback, Command, Redis, type RedisOptions } from 'ioredis'
import type { TwiceRedisConnector } from './connector.js'
import { ReadGate, type Session } from './consistency.js'
import {
  AuthenticationError,
  ClientClosedError,
  FailoverInProgressError,
  RoleCheckDeniedError,
  redact,
  TransactionAbortedError,
  TwiceRedisError,
} from './errors.js'
import type { Emit, Side, Target } from './events.js'
import type { Fence } from './fence.js'
import { HealthCheck, type Verdict } from './health-check.js'
import { IdleTimer } from './idle-timer.js'
import {
  cancelReconnectTimer,
  clearManualClose,
  closingManually,
  connectorOf,
  dropStream,
  endWhileReconnecting,
  onSettled,
  queueOffline,
  queueUntraced,
  type ReadyCheck,
  replaceReadyCheck,
  sendInHandshake,
  streamOf,
} from './ioredis-internals.js'
import { initial, inOutage, type Lifecycle, type LifecycleEvent, next, retryDelay } from './lifecycle.js'
import type { Metrics } from './metrics.js'
import { awaitPromotion } from './promotion.js'
import type { Resolver } from './resolver.js'
import { isAuthError } from './sentinels.js'
import { type EventNode, infoFromRole, parseInfo } from './topology.js'
import { TransactionGuard, WatchGuard } from './transactions.js'
import type { Member, Release, Watch } from './watch.js'

type Stream = Parameters<Redis['sendCommand']>[1]
type RetryStrategy = NonNullable<RedisOptions['retryStrategy']>

/** What ioredis writes as its handshake, before the ready check (ioredis' `HANDSHAKE_COMMANDS` but INFO). */
const handshakeCommands = new Set(['auth', 'hello', 'select', 'client', 'readonly'])

/**
 * The async context (an OpenTelemetry request's active span, any `AsyncLocalStorage`) a command
 * was sent in, kept while it waits to be written: ioredis sends a waiting command again from
 * wherever the connection became ready, which is another request's context, or none.
 */
const parkedIn = new WeakMap<Command, <R>(send: () => R) => R>()

function park(command: Command): void {
  parkedIn.set(command, AsyncLocalStorage.snapshot())
}

/** Call `answered` when `command` is answered, before anything that awaits it runs. */
function onAnswer(command: Command, answered: (ok: boolean) => void): void {
  const { resolve, reject } = command
  command.resolve = (value) => {
    answered(true)
    resolve(value)
  }
  command.reject = (error) => {
    answered(false)
    reject(error)
  }
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
  /** @internal the TwiceRedis' OpenTelemetry metrics (idle until a MeterProvider is registered) */
  metrics: Metrics | undefined
  readonly #resolver: Resolver
  readonly #emit: Emit
  readonly #backoff: RetryStrategy
  readonly #health: HealthCheck
  readonly #idle: IdleTimer
  readonly #session: Session
  /** Read side: holds reads until the replica has the session's writes (see consistency.ts). */
  readonly #gate: ReadGate | undefined
  #life: Lifecycle = initial
  /** Commands sent while `disconnect()` closes the socket: sent again over the next connection. */
  #deferred: [Command, Stream][] = []
  /** Our retry once ioredis gave up in an outage (discovery failed). */
  #retryTimer: NodeJS.Timeout | undefined
  #readyTimer: NodeJS.Timeout | undefined
  #watch: Watch | undefined
  /** Read side on a replica: the watch that tells it of that replica's `+sdown`, until it closes. */
  #following: Watch | undefined
  /** Write side with `failoverDetection: 'always'`: the watch it belongs to for as long as it lives. */
  #member: Watch | undefined
  /** Commands held by the write fence, in the order they were sent, with whether each has settled. */
  #held: [Command, Stream, () => boolean][] = []
  /** When this client was told of the fence standing now. */
  #fencedAt: number | undefined
  /**
   * This member holds its writes until its own {@link unfence}: the watch releases members a few
   * per turn, and one not released yet is still on the old master, whatever the fence's state.
   */
  #holding = false
  /** The application's `MULTI` sent command by command: refused whole across a reconnect. */
  readonly #transaction = new TransactionGuard()
  /** The application's `WATCH`: a transaction it guarded on a connection since lost is aborted. */
  readonly #watchGuard = new WatchGuard()
  /** The server answers `INFO` with two sections (Redis >= 7); older ones get the full `INFO`. */
  #infoSections = true
  /** This connection's handshake as ioredis writes it before the role check (see {@link #ownBeforeReady}). */
  #handshake: 'none' | 'tick' | 'sent' | 'again' | 'check' | 'checking' = 'none'

  /** @internal created by TwiceRedis */
  constructor(side: Side, options: RedisOptions, resolver: Resolver, emit: Emit, session: Session) {
    // ioredis asks the retry strategy at every unplanned close: that is where the lifecycle
    // learns of it, and the one place the delay of every retry is decided.
    // `lazyConnect: false` would connect inside ioredis' constructor, before any hook below is in
    // place: connect at its end instead.
    super({ ...options, lazyConnect: true, retryStrategy: () => (this ? this.#onLost() : null) } as RedisOptions & {
      replyMapping?: 'legacy'
    })
    this.options.lazyConnect = options.lazyConnect
    this.side = side
    this.#resolver = resolver
    this.#emit = emit
    this.#backoff = options.retryStrategy ?? (() => 50)
    this.#session = session
    this.#gate = side === 'replica' ? new ReadGate(session, this) : undefined
    const o = resolver.options
    // A replica silent for longer than maxStalenessMs may be that stale when it answers again: leave it.
    const silenceMs =
      side === 'replica' && o.maxStalenessMs !== undefined
        ? Math.min(o.connectTimeoutMs, o.maxStalenessMs)
        : o.connectTimeoutMs
    this.#health = new HealthCheck(this, side, resolver, o.healthCheckIntervalMs, silenceMs, {
      info: (target, info) => this.metrics?.health(target, info),
      silent: () => this.#holdWatch(),
      // The read side avoids it for a while: chosen again, it would hold reads for connectTimeoutMs.
      unresponsive: (reason) => this.side === 'replica' && this.#connector.reject(reason),
      verdict: (verdict) => this.#onVerdict(verdict),
      done: () => {
        if (this.status === 'ready') this.#watchWhileReady()
      },
      inTransaction: () => this.#inMulti,
    })
    this.#idle = new IdleTimer(
      o.idleTimeoutMs,
      () => this.status === 'ready' && this.mode === 'normal' && this.commandQueue.length === 0 && !this.#holdsState,
      () => this.disconnect(),
    )
    replaceReadyCheck(this, (callback) => this.#readyCheck(callback))
    this.#connector.onAttempt = () => this.#onAttempt()
    // ioredis' own tracing channels and APM instrumentations (OpenTelemetry's ioredis one) read
    // the server address from `options.host`/`options.port`: keep them on the node in use.
    // Until the first node is chosen there is none to name (not ioredis' default localhost:6379).
    this.#connector.onTarget = (target) => Object.assign(this.options, { host: target.host, port: target.port })
    // ioredis writes its handshake in the tick the socket connects, before its `connect` event.
    this.#connector.onSocket = () => {
      this.#handshake = 'tick'
      process.nextTick(() => {
        if (this.#handshake === 'tick') this.#handshake = 'sent'
      })
    }
    Object.assign(this.options, { host: undefined, port: undefined })
    this.on('error', (error: Error) => this.#error(redact(error)))
    this.on('connect', () => this.#armReadyTimer())
    this.on('ready', () => this.#onReady())
    this.on('close', () => this.#onClose())
    this.on('end', () => this.#onEnd())
    if (options.lazyConnect === false) this.#connect()
  }

  /**
   * The node this client is connected or connecting to, and the role it was chosen for
   * (`master` on the read side means a fallback); `undefined` while disconnected.
   */
  get node(): Target | undefined {
    return this.status === 'end' || this.status === 'wait' ? undefined : this.#connector.target
  }

  override sendCommand(command: Command, stream?: Stream): unknown {
    // A command that waited (for a connection, the fence, a close) goes on in its caller's context.
    const resume = parkedIn.get(command)
    if (resume) {
      parkedIn.delete(command)
      return resume(() => this.sendCommand(command, stream))
    }
    const state = this.#life.state
    // (A socket that still completes its connect after quit() runs ioredis' handshake: ioredis'.)
    if (state === 'closed' && this.status !== 'connect') {
      command.reject(new ClientClosedError(this.side))
      return command.promise
    }
    if (state === 'disconnecting' && this.status !== 'connect') {
      // disconnect() was called and the socket is still closing: hold the command until it has,
      // then send it over a fresh connection instead of failing it with "Connection is closed".
      // (During the handshake ioredis sends its own commands, which belong to the closing one.)
      park(command)
      this.#deferred.push([command, stream])
      return command.promise
    }
    if (this.#health.isOwn(command)) return this.sendDirect(command, stream)
    this.metrics?.sent(command, this)
    this.#idle.touch()
    // ioredis' own handshake (status `connect`) belongs to the connection being made; the rest waits.
    // (quit()'s own QUIT goes: it ends the connection, and what is held is rejected.)
    if (this.status !== 'connect' && command.name !== 'quit' && this.#fenced()) {
      this.#hold(command, stream)
      return command.promise
    }
    // ioredis' handshake and our ready check go before anything the gate holds (they make the
    // connection the held commands wait for).
    if (this.status === 'connect' && this.#ownBeforeReady(command)) return queueUntraced(this, command, stream)
    if (this.#gate?.take(command, stream)) return command.promise
    if (this.side === 'master') this.#session.sent(this, command)
    return this.sendDirect(command, stream)
  }

  /** @internal Send as ioredis would (connecting first if idle), past twiceredis' hooks. */
  sendDirect(command: Command, stream?: Stream): unknown {
    // After quit(), what the read gate took before it (and its probes) still goes: QUIT waits behind them.
    const beforeQuit = this.status === 'ready' && !closingManually(this)
    if (this.#life.state === 'closed' && command.name !== 'quit' && this.status !== 'connect' && !beforeQuit) {
      command.reject(new ClientClosedError(this.side))
      return command.promise
    }
    if (this.status === 'end') this.#connect()
    this.metrics?.written(command, this)
    // Not ready: a command waits in ioredis' offline queue and comes back here once ready (and
    // ioredis' own handshake is no command of the application's): no span until it is written.
    // With the socket open, only ioredis' handshake and our ready check go before the role check.
    if (this.status === 'connect' && !this.#ownBeforeReady(command)) {
      park(command)
      return queueOffline(this, command, stream)
    }
    // Ready with its socket already destroyed (a drop in progress): ioredis queues it for the next
    // connection, and aborts a queued EXEC when the close comes; a transaction's rest is refused here.
    const dropping = this.status === 'ready' && !streamOf(this)?.writable
    // Our own commands (health check, the session's probes and ROLE) are no part of the
    // application's transaction: never refused or aborted by its guards.
    const own = this.#health.isOwn(command) || this.#session.isOwn(command)
    if (dropping && !own && this.#transaction.written(command.name, true, this.#abandoned).refuse) {
      return this.#refuse(command, stream)
    }
    if (this.status !== 'ready' || dropping) {
      park(command)
      return queueUntraced(this, command, stream)
    }
    if (own) return super.sendCommand(command, stream)
    const transaction = this.#transaction.written(command.name, false, this.#abandoned)
    if (transaction.refuse) return this.#refuse(command, stream)
    if (transaction.reply) onAnswer(command, transaction.reply)
    const watch = this.#watchGuard.written(command.name)
    if (watch.abort) return this.#abortExec(command, stream)
    if (watch.reply) onAnswer(command, watch.reply)
    return super.sendCommand(command, stream)
  }

  /**
   * Whether a command sent while the socket is open but the node not yet accepted is ioredis' or
   * ours: ioredis writes its handshake (AUTH, HELLO, CLIENT, SELECT, READONLY) in the tick the
   * socket connects, and again after a server refused HELLO (RESP2 downgrade, Redis < 6); CLIENT
   * (SETINFO) may come later, until the ready check; then our ready check sends its INFO.
   * Anything else is the application's, and waits.
   */
  #ownBeforeReady(command: Command): boolean {
    if (this.#handshake === 'check') return true
    if (this.#handshake === 'checking' || !handshakeCommands.has(command.name)) return false
    // ioredis 5 sends CLIENT SETINFO once it has read its own package.json: a tick or more later.
    // Any other CLIENT is the application's: it waits for the role check like any command.
    if (command.name === 'client') return this.#handshakeClient(command)
    if (this.#handshake === 'sent') return false
    // A refused HELLO makes ioredis 6 send its handshake again, over RESP2.
    if (command.name === 'hello') {
      command.promise.catch(() => {
        if (this.#handshake === 'sent') this.#handshake = 'again'
      })
    }
    return true
  }

  /** ioredis' own CLIENT of the handshake: `SETNAME` of its `connectionName`, or `SETINFO LIB-VER|LIB-NAME`. */
  #handshakeClient(command: Command): boolean {
    const [sub, value] = command.args.map((a) => String(a).toLowerCase())
    if (sub === 'setinfo') return value === 'lib-ver' || value === 'lib-name'
    const name = this.options.connectionName
    return sub === 'setname' && typeof name === 'string' && value === name.toLowerCase()
  }

  /**
   * Drop the connection now (pending replies may be lost; see ioredis). The next command
   * reconnects through a fresh discovery.
   */
  override disconnect(reconnect = false): void {
    if (reconnect || this.#life.state === 'closed') {
      super.disconnect(reconnect)
      return
    }
    this.#stopTimers()
    if (this.status === 'end' || this.status === 'wait') {
      this.#life = { state: 'idle' }
      this.#leaveWatchIfIdle()
      return
    }
    this.#transition('disconnect')
    const reconnecting = this.status === 'reconnecting'
    super.disconnect()
    if (reconnecting) endWhileReconnecting(this)
  }

  /**
   * Close gracefully (pending replies arrive first), for good: later commands reject with
   * `CLIENT_CLOSED`. Bounded by `connectTimeoutMs` on a node that stopped answering, after which
   * the connection is dropped; either way the client has ended when this resolves.
   */
  override async quit(callback?: Callback<'OK'>): Promise<'OK'> {
    const open = this.#life.state !== 'closed' && this.status !== 'end' && this.status !== 'wait'
    // After disconnect() the socket is closing: no QUIT over it (it would wait for the next one).
    const ready = open && this.status === 'ready' && this.#life.state !== 'disconnecting'
    // On `end` only: `once(this, 'end')` would also settle on an `error` event on the way out.
    const ended = open ? new Promise<void>((resolve) => this.once('end', () => resolve())) : undefined
    // QUIT goes through sendCommand: send it before the client counts as closed.
    const sent = ready ? super.quit().catch(() => 'OK') : undefined // dropped first: closed all the same
    this.#transition('quit')
    this.#stopTimers()
    this.#releaseWatch()
    this.#unfollow()
    this.#member?.leave(this)
    this.#member = undefined
    // Commands held for the connection after a disconnect() or by the write fence: there will be none.
    // (A held command that timed out is settled already: rejecting it again would count it twice.)
    const held = this.#held.splice(0).filter(([, , settled]) => !settled())
    for (const [command] of [...this.#deferred.splice(0), ...held]) command.reject(new ClientClosedError(this.side))
    if (open) {
      const timer = setTimeout(() => super.disconnect(), this.options.connectTimeout ?? 2000)
      if (!ready) {
        const reconnecting = this.status === 'reconnecting'
        super.disconnect()
        if (reconnecting) endWhileReconnecting(this)
      }
      await sent
      await ended
      clearTimeout(timer)
    }
    callback?.(null, 'OK')
    return 'OK'
  }

  static {
    // `duplicate()`: a new client for the same side with the same options (BullMQ and others
    // duplicate the client they are given). Set on the prototype rather than declared, so the
    // type stays the installed ioredis' own (its signature differs between ioredis 5 and 6).
    TwiceRedisClient.prototype.duplicate = function (this: TwiceRedisClient, override?: Partial<RedisOptions>) {
      const options = { ...this.options, retryStrategy: this.#backoff, ...override }
      const copy = new TwiceRedisClient(this.side, options, this.#resolver, this.#emit, this.#session)
      copy.metrics = this.metrics
      return copy
    } as TwiceRedisClient['duplicate']
  }

  /** @internal */
  override recoverFromFatalError(
    commandError: Error,
    err: Error,
    options: Parameters<Redis['recoverFromFatalError']>[2],
  ): void {
    if (err instanceof RoleCheckDeniedError) {
      // As a refused password: retrying only adds load. Fail what is queued, stop.
      super.recoverFromFatalError(err, err, options)
      this.disconnect()
      return
    }
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
   * and leave a node that is not it if this side is on the master.
   */
  kick(master: string, sentinel: string): void {
    const life = this.#life
    if (life.state === 'closed' || life.state === 'idle' || life.state === 'disconnecting') return
    // The read side asks afresh after a switch: ask one that knows. (The write side asks no one:
    // the announcement is the latest answer, and moving the announcer to the front of every
    // instance would make the failover leader everyone's first choice for the next outage.)
    if (this.side === 'replica') this.#resolver.prefer(sentinel)
    if (life.state === 'waiting') {
      this.#transition('kick')
      this.#retryNow()
      return
    }
    const node = this.node
    // Another sentinel announcing the same switch must not drop a connect to the new master.
    const elsewhere = node?.role === 'master' && node.address !== master
    const stale = life.state === 'connecting' && (elsewhere || (this.side === 'replica' && !life.afterSwitch))
    if (stale || (life.state === 'ready' && elsewhere)) {
      // Probably still on (or connecting to) the old master: drop it and resolve again at once.
      this.#transition('kick')
      dropStream(this)
    }
  }

  /** @internal The sentinels flagged the replica at `address` down: if this side reads from it, move. */
  replicaDown(address: string): void {
    const target = this.node
    const state = this.#life.state
    if ((state !== 'ready' && state !== 'connecting') || target?.role !== 'replica' || target.address !== address) {
      return
    }
    this.#connector.reject('flagged s_down by the sentinels')
    this.#transition('kick')
    dropStream(this)
  }

  /** @internal The sentinels started replacing the master (write side, `failoverDetection: 'always'`). */
  fence(fence: Readonly<Fence>): void {
    if (this.#fencedAt !== undefined || !this.#fenced()) return
    this.#fencedAt = Date.now()
    this.#emit('write-fence', { master: fence.master, reason: fence.reason, sentinel: fence.sentinel })
  }

  /**
   * @internal The fence is over: leave the old master if the master changed (as on a switch), then
   * send what was held, in order (over the new connection once it is ready).
   */
  unfence(release: Release): void {
    // (A MULTI open on the master being left is discarded with its connection: the rest of that
    // transaction is refused as it is written on the next one, see TransactionGuard.)
    if (release.to) this.kick(release.to, release.sentinel ?? '')
    const held = this.#held.splice(0)
    const since = this.#fencedAt
    this.#fencedAt = undefined
    this.#holding = false
    if (since !== undefined || held.length > 0) {
      this.#emit('write-unfence', {
        reason: release.reason,
        to: release.to ?? this.#masterAddress,
        held: held.length,
        durationMs: since === undefined ? 0 : Date.now() - since,
        sentinel: release.sentinel,
      })
    }
    for (const [command, stream, settled] of held) if (!settled()) this.sendCommand(command, stream)
  }

  /** @internal Watch the replica being promoted, with this side's credentials, `natMap` and `allowedNodes`. */
  awaitPromotion(candidate: EventNode, signal: AbortSignal): Promise<boolean> {
    const target = this.#resolver.target(candidate.host, candidate.port, 'master')
    return target ? awaitPromotion(target, this.options, signal) : Promise.resolve(false)
  }

  /** @internal Ask the sentinels afresh which node is the master. */
  async askMaster(): Promise<{ master: EventNode; sentinel: string }> {
    const seen = await this.#resolver.sentinels.observe(0)
    return { master: seen.master, sentinel: seen.sentinel }
  }

  /** A `MULTI` of the application's is open on this connection. */
  get #inMulti(): boolean {
    return this.#transaction.open || this.#gate?.inMulti === true
  }

  /** A transaction or a `WATCH` is open: dropping the connection (when idle) would lose it. */
  get #holdsState(): boolean {
    return this.#watchGuard.open || this.#inMulti
  }

  /**
   * A command of a transaction whose `MULTI` went with an earlier connection: refused, not run
   * outside the transaction (see {@link TransactionGuard}); a `WATCH` that guarded it ends with it.
   */
  #refuse(command: Command, stream?: Stream): unknown {
    const name = command.name.toLowerCase()
    if (name === 'exec' || name === 'discard') this.#watchGuard.clear()
    command.reject(new TransactionAbortedError(this.#resolver.options.name))
    // In a pipeline, ioredis writes the batch once every command of it was written or refused.
    if (stream && 'isPipeline' in stream && stream.isPipeline) stream.write('')
    return command.promise
  }

  /** The application abandoned a refused transaction: the `WATCH` that guarded it ends with it. */
  readonly #abandoned = () => this.#watchGuard.clear()

  /**
   * The `WATCH` guarding this `EXEC` went with its connection: the transaction is discarded and
   * the `EXEC` answers `null`, as Redis answers when a watched key changed (see {@link WatchGuard}).
   */
  #abortExec(exec: Command, stream?: Stream): unknown {
    const discard = new Command('discard')
    // In a pipeline it takes the EXEC's place (ioredis aborts a pipeline cut by a reconnect by these).
    discard.pipelineIndex = exec.pipelineIndex
    discard.inTransaction = exec.inTransaction
    discard.promise.then(
      () => exec.resolve(null),
      (error: Error) => exec.reject(error),
    )
    this.sendDirect(discard, stream)
    return exec.promise
  }

  /** The master this side writes to now (`undefined` while not connected to one). */
  get #masterAddress(): string | undefined {
    const node = this.node
    return node?.role === 'master' ? node.address : undefined
  }

  /** Whether writes wait now: a fence stands for this side's master, or this member was not released yet. */
  #fenced(): boolean {
    if (this.#holding) return true
    this.#holding = this.#member?.holds(this.#masterAddress) === true
    return this.#holding
  }

  /** Hold a command for the fence's end; `commandTimeout` runs meanwhile, as it would in ioredis' queue. */
  #hold(command: Command, stream: Stream): void {
    if (this.options.enableOfflineQueue === false) {
      const fence = this.#member?.fence
      command.reject(new FailoverInProgressError(this.#resolver.options.name, fence?.master ?? 'unknown'))
      return
    }
    const timeout = this.options.commandTimeout
    if (typeof timeout === 'number') command.setTimeout(timeout)
    let settled = false
    // On the command itself, never on its promise: that is the application's, and a rejection it
    // leaves unhandled must stay unhandled.
    onSettled(command, () => {
      settled = true
    })
    park(command)
    this.#held.push([command, stream, () => settled])
  }

  get #connector(): TwiceRedisConnector {
    return connectorOf<TwiceRedisConnector>(this)
  }

  #transition(event: LifecycleEvent): void {
    this.#life = next(this.#life, event)
  }

  /** Every connect of ours, as ioredis would (a command on an ended client, a retry). */
  #connect(): void {
    clearManualClose(this)
    this.connect().catch(() => {})
  }

  /** The connector starts an attempt: how old a sentinel answer it may reuse. */
  #onAttempt(): number {
    clearTimeout(this.#retryTimer)
    this.#handshake = 'none'
    if (this.side === 'master' && !this.#member && this.#resolver.options.failoverDetection === 'always') {
      this.#member = this.#resolver.watch()
      this.#member?.join(this as Member)
    }
    this.#transition('connect')
    const life = this.#life
    return life.state === 'connecting' ? this.#resolver.reuseMs(this.side, life, this.#watch?.listeningSince) : 0
  }

  /** ioredis lost the connection (not on purpose) and asks how long to wait. */
  #onLost(): number | null | undefined {
    this.#transition('lost')
    const delay = retryDelay(this.#life, (attempt) => this.#patient(attempt, this.#backoff(attempt)))
    return typeof delay === 'number' ? delay : null
  }

  /**
   * The write side, while the sentinel watch listens, retries a master still gone after a first
   * quick retry (a blip) at the backoff's cap: the watch announces a switch, and a thousand clients
   * retrying a dead node every few ms would only stall their process.
   */
  #patient(attempt: number, delay: unknown): unknown {
    if (typeof delay !== 'number' || attempt < 2 || this.side !== 'master') return delay
    if (this.#watch?.listeningSince === undefined) return delay
    return Math.max(delay, Math.round(this.#resolver.options.maxRetryDelayMs * (0.5 + Math.random() / 2)))
  }

  #retryNow(): void {
    clearTimeout(this.#retryTimer)
    if (cancelReconnectTimer(this) || this.status === 'end') this.#connect()
  }

  #onReady(): void {
    this.#clearReadyTimer()
    this.#transition('ready')
    this.#watchWhileReady()
    this.#health.start()
    this.#idle.start()
    if (this.side === 'master') this.#session.connected(this)
  }

  #onClose(): void {
    this.#stopTimers()
    this.#unfollow()
    this.#transaction.closed()
    this.#watchGuard.closed()
    if (this.#gate) this.#gate.disconnected()
    else this.#session.closed(this)
    // An outage (not a manual close): listen for the sentinels' switch while it lasts.
    if (inOutage(this.#life)) this.#holdWatch()
  }

  #onEnd(): void {
    this.#stopTimers()
    const state = this.#life.state
    if (state === 'disconnecting') {
      this.#transition('ended')
      this.#releaseWatch()
      for (const [command, stream] of this.#deferred.splice(0)) this.sendCommand(command, stream)
      this.#leaveWatchIfIdle()
      return
    }
    if (state === 'closed' || state === 'idle') return
    // ioredis ended by itself: a reconnect failed to resolve (queued commands were rejected with
    // the typed error). After an outage keep trying in the background, so subscribers and idle
    // clients recover by themselves; a first connect waits for the next command.
    this.#transition('gave-up')
    const delay = retryDelay(this.#life, this.#backoff)
    if (this.#life.state !== 'waiting' || typeof delay !== 'number') {
      this.#life = { state: 'idle' }
      this.#releaseWatch()
      this.#leaveWatchIfIdle()
      return
    }
    this.#retryTimer = setTimeout(() => this.#retryNow(), delay)
    if (!this.#watch) this.#retryTimer.unref()
  }

  /**
   * ioredis' ready check, cheaper: the sections the role check reads (`replication`) and the one
   * that says whether the server still loads its dataset (`persistence`), instead of all of them.
   * While it loads, ask again after `loading_eta_seconds` (at most 1 s), as ioredis does.
   */
  #readyCheck(callback: Parameters<ReadyCheck>[0]): void {
    // `server` carries the zone a node announces (`availability_zone`, Valkey 8.1+).
    const zones = this.#resolver.options.clientZone !== undefined && this.side === 'replica'
    const sections = this.#infoSections ? ['replication', 'persistence', ...(zones ? ['server'] : [])] : []
    this.#handshake = 'check'
    const info = this.info(...sections)
    this.#handshake = 'checking'
    info.then(
      (reply) => {
        const info = parseInfo(String(reply))
        if (info.loading !== '1') return callback(null, info)
        const ms = Math.min(Number(info.loading_eta_seconds) || 1, 1) * 1000
        setTimeout(() => this.#readyCheck(callback), ms)
      },
      (error: Error) => {
        if (sections.length && /syntax error|wrong number of arguments/i.test(error.message)) {
          this.#infoSections = false
          this.#readyCheck(callback)
        } else if (/NOPERM/.test(error.message)) {
          this.#roleCheck(callback)
        } else {
          callback(error)
        }
      },
    )
  }

  /** The role check from `ROLE`, for a user refused `INFO`; refused both, no check is possible. */
  #roleCheck(callback: Parameters<ReadyCheck>[0]): void {
    const role = new Command('role', [], { replyEncoding: 'utf8' })
    sendInHandshake(this, role)
    this.#handshake = 'checking'
    role.promise.then(
      (reply) => callback(null, infoFromRole(reply)),
      (error: Error) => {
        const address = this.node?.address ?? 'a data node'
        callback(/NOPERM/.test(error.message) ? new RoleCheckDeniedError(address, { cause: redact(error) }) : error)
      },
    )
  }

  #onVerdict(verdict: Verdict): void {
    if (verdict.kind === 'error') {
      if (verdict.error instanceof TwiceRedisError) this.#error(verdict.error)
      return
    }
    if (verdict.kind === 'unfit') this.#connector.reject(verdict.reason, true)
    // A move for the better waits for the application's WATCH or MULTI (they would be lost with it).
    else if (this.#holdsState) return
    this.disconnect(true)
  }

  #error(error: Error): void {
    this.#emit('error', Object.assign(error, { side: this.side }))
  }

  #holdWatch(): void {
    if (this.#watch || this.#life.state === 'closed') return
    this.#watch = this.#resolver.watch()
    this.#watch?.hold(this)
  }

  /**
   * Ready: stop listening, except a read side on the master (no healthy replica), which listens for
   * a switch: the master it reads from may be replaced while it is still up.
   */
  #watchWhileReady(): void {
    if (this.side === 'replica' && this.node?.role === 'master') this.#holdWatch()
    else this.#releaseWatch()
    // On a replica: its `+sdown` moves this side (heard while anyone in the process listens).
    if (this.side === 'replica' && this.node?.role === 'replica' && !this.#following) {
      this.#following = this.#resolver.watch()
      this.#following?.follow(this)
    }
  }

  #unfollow(): void {
    this.#following?.unfollow(this)
    this.#following = undefined
  }

  /**
   * Disconnected for good until the next command, nothing held by the fence: leave the fence's
   * watch, which would otherwise keep this client (and its TwiceRedis) alive for as long as the
   * process; the next connect joins it again (see {@link #onAttempt}).
   */
  #leaveWatchIfIdle(): void {
    if (!this.#member || this.#life.state !== 'idle' || this.#holding || this.#held.length > 0) return
    this.#member.leave(this)
    this.#member = undefined
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
      dropStream(this, new Error(`${this.node?.address ?? 'node'} did not become ready within ${ms} ms`))
    }, ms)
    this.#readyTimer.unref()
  }

  #clearReadyTimer(): void {
    clearTimeout(this.#readyTimer)
    this.#readyTimer = undefined
  }

  /** Stop everything of ours that runs on a timer: nothing may fire after a close, disconnect() or quit(). */
  #stopTimers(): void {
    this.#clearReadyTimer()
    this.#idle.stop()
    this.#health.stop()
    clearTimeout(this.#retryTimer)
  }
}
