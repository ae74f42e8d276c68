import { inspect } from 'node:util'
import { type Callback, type Command, Redis, type RedisOptions } from 'ioredis'
import { type CommandKind, kindOf } from '../command-kinds.js'
import { TwiceRedisConnector } from '../connector.js'
import { ReadGate } from '../consistency/read-gate.js'
import type { Session } from '../consistency/session.js'
import { ClientClosedError, redact } from '../errors.js'
import type { Emit, Side, Target } from '../events.js'
import type { HealthCheck } from '../health-check.js'
import { IdleTimer } from '../idle-timer.js'
import {
  clearManualClose,
  closingManually,
  connectorOf,
  endWhileReconnecting,
  queueOffline,
  queueUntraced,
  replaceReadyCheck,
  streamOf,
} from '../ioredis-internals.js'
import type { Metrics } from '../metrics/metrics.js'
import { checkDuplicate } from '../options/normalize.js'
import type { Resolver } from '../routing/resolver.js'
import { park, unpark } from './async-context.js'
import { fatalError, healthCheckOf } from './checks.js'
import { Connection } from './connection.js'
import { FenceMember } from './fence-member.js'
import { Handshake } from './handshake.js'
import { WatchMember } from './member.js'
import { answeredFirst } from './quit-first.js'
import { Reconnect } from './reconnect.js'
import { TransactionStage } from './transaction-stage.js'

type Stream = Parameters<Redis['sendCommand']>[1]
type FatalOptions = Parameters<Redis['recoverFromFatalError']>[2]

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
  /** @internal this client's connection record: read it, never write it (see connection.ts). */
  readonly connection: Connection
  readonly #resolver: Resolver
  readonly #emit: Emit
  readonly #health: HealthCheck
  readonly #idle: IdleTimer
  readonly #session: Session
  /** Read side: holds reads until the replica has the session's writes (consistency/read-gate.ts). */
  readonly #gate: ReadGate | undefined
  readonly #life: Reconnect
  readonly #fence: FenceMember
  readonly #handshake: Handshake
  readonly #transaction: TransactionStage

  /** @internal created by TwiceRedis */
  constructor(side: Side, options: RedisOptions, resolver: Resolver, emit: Emit, session: Session) {
    // ioredis asks the retry strategy at every unplanned close: where the lifecycle learns of it and
    // decides every retry's delay. (`lazyConnect: false` would connect before our hooks: at the end.)
    super({ ...options, lazyConnect: true, retryStrategy: () => (this ? this.#life.lost() : null) } as RedisOptions & {
      replyMapping?: 'legacy'
    })
    this.options.lazyConnect = options.lazyConnect
    this.side = side
    this.#resolver = resolver
    this.#emit = emit
    this.#session = session
    this.connection = new Connection(this)
    const o = resolver.options
    const master = () => (this.node?.role === 'master' ? this.node.address : undefined) // the master written to now
    this.#fence = new FenceMember(this, emit, () => this.#life.member, master, o.name)
    this.#transaction = new TransactionStage(this.connection, o.name, (c, s) => super.sendCommand(c, s))
    const backoff = options.retryStrategy ?? (() => 50)
    this.#life = new Reconnect(this, resolver, backoff, () => this.#connect())
    const send = (c: Command, s?: Stream) => this.sendCommand(c, s)
    this.#life.as = new WatchMember(this, this.#life, this.#fence, resolver, send)
    this.#gate = side === 'replica' ? new ReadGate(session, this) : undefined
    const caughtUp = () => this.#life.member?.caughtUp()
    this.#handshake = new Handshake(this, o.clientZone !== undefined && side === 'replica', caughtUp)
    const holdsState = () => this.#holdsState
    const report = (error: Error) => emit('error', Object.assign(error, { side }))
    this.#health = healthCheckOf(this, resolver, this.#life, holdsState, report)
    // Idle: nothing in flight or held by the read gate, no MULTI, WATCH or subscription (RESP3 too) to lose.
    const idle = () => this.status === 'ready' && this.mode === 'normal' && !this.commandQueue.length
    const unused = () => idle() && !this.#holdsState && !this.connection.subscriber && !this.#gate?.holding
    this.#idle = new IdleTimer(o.idleTimeoutMs, unused, () => this.disconnect())
    replaceReadyCheck(this, (callback) => this.#handshake.readyCheck(callback))
    this.#life.wire(this.#handshake)
    Object.assign(this.options, { host: undefined, port: undefined })
    this.on('error', (error: Error) => report(redact(error)))
    this.on('connect', () => this.#life.armReadyTimer())
    this.on('ready', () => this.#onReady())
    this.on('close', () => this.#onClose())
    this.on('end', () => {
      this.#stopTimers()
      this.#life.ended(send, (c, s) => this.sendDirect(c, s))
    })
    if (options.lazyConnect === false) this.#connect()
  }

  /**
   * The node this client is connected or connecting to, and the role it was chosen for
   * (`master` on the read side means a fallback); `undefined` while disconnected.
   */
  get node(): Target | undefined {
    return this.status === 'end' || this.status === 'wait' ? undefined : connectorOf<TwiceRedisConnector>(this).target
  }

  /**
   * The path of one command of the application's, stage by stage, each one question (see
   * ARCHITECTURE.md, "the path of one command"); {@link sendDirect} is the rest of the way.
   */
  override sendCommand(command: Command, stream?: Stream): unknown {
    // A command that waited (for a connection, the fence, a close) goes on in its caller's context.
    const resume = unpark(command)
    if (resume) return resume(() => this.sendCommand(command, stream))
    const connecting = this.status === 'connect'
    // 1. Closed? (A socket that still completes its connect after quit() runs ioredis' handshake.)
    // 2. Deferred by disconnect()? Held until the socket closed, then sent on a fresh connection.
    if (!connecting && this.#life.refuses(command)) return this.#life.refuse(command)
    if (this.#life.state === 'disconnecting' && !connecting) return this.#life.defer(command, stream)
    // 3. Ours (the health check's)? Past every stage of the application's.
    if (this.connection.isOwn(command)) return this.#direct(command, stream, true)
    this.metrics?.sent(command, this)
    this.#idle.touch()
    const kind = kindOf(command.name) // what it is (command-kinds.ts), once for every stage below
    // 4. Held by the fence? (Not ioredis' handshake, nor quit()'s QUIT: what is held is rejected.)
    if (!connecting && this.#life.member && !kind.disconnects && this.#fence.fenced()) {
      if (kind.mayWrite && this.side === 'master') this.#session.held.add(command) // writeToken() covers it
      return this.#fence.hold(command, stream)
    }
    // 5. ioredis' handshake or our role check? They make the connection everything else waits for.
    if (connecting && this.#handshake.ownBeforeReady(command)) return queueUntraced(this, command, stream)
    // 6. Gated by the session (read side: until the replica has the session's writes)?
    if (this.#gate?.take(command, stream, kind)) return command.promise
    if (this.side === 'master') this.#session.sent(this, command, kind)
    return this.#direct(command, stream, false, kind)
  }

  /** @internal Send as ioredis would (connecting first if idle), past twiceredis' hooks. */
  sendDirect(command: Command, stream?: Stream): unknown {
    return this.#direct(command, stream, this.connection.isOwn(command))
  }

  /** The rest of the way (`own`: twiceredis' own, never refused or aborted by the application's guards). */
  #direct(command: Command, stream: Stream, own: boolean, kind?: CommandKind): unknown {
    // After quit(), what the read gate took before it (and its probes) still goes: QUIT waits behind them.
    if (this.#life.state === 'closed' && this.status !== 'connect' && !kindOf(command.name).disconnects) {
      if (this.status !== 'ready' || closingManually(this)) return this.#life.refuse(command)
    }
    // disconnect() is closing the socket: what the session or the gate sends now goes on the next connection.
    if (this.#life.state === 'disconnecting' && this.status !== 'connect')
      return this.#life.defer(command, stream, true)
    // A connect of ours (after disconnect(), idle): commands wait for it (as ours do), whatever enableOfflineQueue says.
    if (this.status === 'end') this.#life.onDemand = this.#connect()
    const force = own || this.#life.onDemand
    this.metrics?.written(command, this)
    // Not ready: it waits in ioredis' offline queue and comes back here once ready (no span till then).
    if (this.status === 'connect' && !this.#handshake.ownBeforeReady(command)) {
      park(command)
      return queueOffline(this, command, stream, force)
    }
    // Ready with its socket already destroyed (a drop in progress): ioredis queues it for the next
    // connection, and aborts a queued EXEC when the close comes; a transaction's rest is refused here.
    const dropping = this.status === 'ready' && !streamOf(this)?.writable
    if (dropping && !own) {
      const refused = this.#transaction.refusesWhileDropping(command, stream)
      if (refused) return refused
    }
    if (this.status !== 'ready' || dropping) {
      park(command)
      return queueUntraced(this, command, stream, force)
    }
    if (own) return super.sendCommand(command, stream)
    // 7. Guarded by a transaction? (Not when none is open and it changes no connection state.)
    const k = kind ?? kindOf(command.name)
    if (this.#transaction.passes(k)) return super.sendCommand(command, stream)
    return this.#transaction.send(command, stream, k)
  }

  /** Drop the connection now (replies pending may be lost); the next command reconnects, resolving afresh. */
  override disconnect(reconnect = false): void {
    if (reconnect || this.#life.state === 'closed') {
      super.disconnect(reconnect)
      return
    }
    this.#stopTimers()
    // ioredis ends a client that never connected ('close', 'end'); the next command connects all the same.
    if (!this.#life.disconnect() && this.status !== 'wait') return
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
    // What was sent before and still waits for a connection is answered first (quit-first.ts).
    const first = this.#life.state !== 'closed' && answeredFirst(this, this.#life)
    if (first) await first
    const state = this.#life.state
    const open = state !== 'closed' && this.status !== 'end' && this.status !== 'wait'
    // After disconnect() the socket is closing: no QUIT over it (it would wait for the next one).
    const ready = open && this.status === 'ready' && state !== 'disconnecting'
    // On `end` only: `once(this, 'end')` would also settle on an `error` event on the way out.
    const ended = open ? new Promise<void>((resolve) => this.once('end', () => resolve())) : undefined
    // QUIT goes through sendCommand: send it before the client counts as closed.
    const sent = ready ? super.quit().catch(() => 'OK') : undefined // dropped first: closed all the same
    this.#stopTimers()
    // Commands held by the write fence: there will be no connection for them.
    this.#life.quit(this.#fence.drop(), () => new ClientClosedError(this.side))
    this.connection.closedForGood = true
    const timer = open ? setTimeout(() => super.disconnect(), this.options.connectTimeout ?? 2000) : undefined
    // One that never connected ends as in ioredis ('close', 'end'), with no QUIT to send.
    if ((open && !ready) || (state !== 'closed' && this.status === 'wait')) {
      const reconnecting = this.status === 'reconnecting'
      super.disconnect()
      if (reconnecting) endWhileReconnecting(this)
    }
    // As ioredis: called back once QUIT is answered, before 'end'; the promise waits for the end.
    await sent
    callback?.(null, 'OK')
    await ended
    clearTimeout(timer)
    return 'OK'
  }

  static {
    // duplicate(): same side, same options (BullMQ and others duplicate theirs); on the prototype: ioredis' type.
    TwiceRedisClient.prototype.duplicate = function (this: TwiceRedisClient, override?: Partial<RedisOptions>) {
      checkDuplicate(this.options, override)
      const { coalesce } = connectorOf<TwiceRedisConnector>(this)
      const Connector = TwiceRedisConnector.for(this.side, this.#resolver, false, coalesce) // not the side's owner
      const options = { ...this.options, retryStrategy: this.#life.backoff, ...override, Connector }
      const copy = new TwiceRedisClient(this.side, options, this.#resolver, this.#emit, this.#session)
      copy.metrics = this.metrics
      return copy
    } as TwiceRedisClient['duplicate']
  }

  /** @internal */
  override recoverFromFatalError(commandError: Error, err: Error, options: FatalOptions): void {
    const fatal = fatalError(commandError, err, this.node?.address)
    super.recoverFromFatalError(fatal.commandError, fatal.err, options)
    if (fatal.stop) this.disconnect()
  }

  [inspect.custom](): string {
    const node = this.node ? `'${this.node.address}'` : 'undefined'
    return `TwiceRedisClient { side: '${this.side}', status: '${this.status}', node: ${node} }`
  }

  /** @internal `sentinel` announced `master` as the new master (see {@link Reconnect.kick}). */
  kick(master: string, sentinel: string): void {
    this.#life.kick(master, sentinel)
  }

  /** A MULTI or WATCH of the application's is open (dropping the connection would lose it; not one the gate holds). */
  get #holdsState(): boolean {
    return this.connection.multi || this.connection.watching
  }

  /** Every connect of ours, as ioredis would (a command on an ended client, a retry). */
  #connect(): true {
    clearManualClose(this)
    this.connect().catch(() => {})
    return true
  }

  #onReady(): void {
    this.#life.ready()
    this.#health.start()
    this.#idle.start()
    if (this.side === 'master') this.#session.connected(this)
  }

  #onClose(): void {
    this.#stopTimers()
    this.connection.closed()
    this.#gate?.disconnected()
    this.#life.closed()
  }

  /** Stop everything of ours that runs on a timer: nothing may fire after a close, disconnect() or quit(). */
  #stopTimers(): void {
    this.#life.stopTimers()
    this.#idle.stop()
    this.#health.stop()
  }
}
