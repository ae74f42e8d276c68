import { createConnection, isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { checkServerIdentity, connect as tlsConnect } from 'node:tls'
import { AbstractConnector } from 'ioredis'
import type { Side, Target } from './events.js'
import { coalesceWrites } from './protocol/coalesce.js'
import type { Resolver } from './routing/resolver.js'

/**
 * The ioredis `Connector` of one side: every (re)connect resolves through the {@link Resolver},
 * then opens a plain TCP (or TLS) stream to the chosen node. ioredis then runs its handshake and
 * its ready check (`INFO`), whose result comes back to {@link check}: a node whose role is wrong
 * is refused, and ioredis reconnects, which resolves again.
 */
export class TwiceRedisConnector extends AbstractConnector {
  #target: Target | undefined
  /** The node of this attempt passed the role check (or failed it): a later close is not a connect failure. */
  #settled = false
  /** The node of this attempt was already reported rejected: report it once. */
  #rejected = false
  #startedAt = 0
  /**
   * Set by the client: called as each attempt starts; returns how old a sentinel answer this
   * attempt may reuse (0: ask afresh).
   */
  onAttempt: () => number = () => 0
  /** Set by the client: told where this attempt goes, before the socket opens. */
  onTarget: (target: Target) => void = () => {}
  /** Set by the client: the socket connected (called before ioredis' own handler writes its handshake). */
  onSocket: () => void = () => {}
  /** The side's own client (`tr.master`, `tr.slave`), not a `duplicate()`: its resolves say where the side is. */
  owner = true

  constructor(
    private readonly side: Side,
    private readonly resolver: Resolver,
    private readonly tls: ConnectionOptions | undefined,
    disconnectTimeout: number,
    /** `enableWriteCoalescing` */
    readonly coalesce = true,
  ) {
    super(disconnectTimeout)
  }

  /** ioredis builds its connector from the options: this returns the class it will build for `side`. */
  static for(
    side: Side,
    resolver: Resolver,
    owner = true,
    coalesce = true,
  ): new (
    options: unknown,
  ) => TwiceRedisConnector {
    return class extends TwiceRedisConnector {
      constructor(options: unknown) {
        const o = options as { disconnectTimeout?: number; tls?: ConnectionOptions }
        super(side, resolver, o.tls, o.disconnectTimeout ?? 2000, coalesce)
        this.owner = owner
      }
    }
  }

  /** The node this connector last chose. */
  get target(): Target | undefined {
    return this.#target
  }

  async connect(): Promise<NonNullable<AbstractConnector['stream']>> {
    this.connecting = true
    this.#settled = false
    this.#rejected = false
    const target = await this.resolver.resolve(this.side, this.onAttempt(), this.owner)
    if (!this.connecting) throw new Error('Connection is closed.')
    this.#target = target
    this.onTarget(target)
    this.#startedAt = performance.now()
    const stream = openStream(target, this.tls, () => this.onSocket(), this.coalesce)
    stream.once('error', (err) => {
      this.firstError = err
    })
    stream.once('close', () => {
      if (!this.#settled && this.connecting) this.reject('connection failed before ready', false, true)
    })
    this.stream = stream
    return stream
  }

  override check(info: Record<string, string>): boolean {
    const target = this.#target
    if (!target) return false
    this.#settled = true
    const problem = this.resolver.verifyRole(target, info)
    if (problem) {
      this.reject(problem, true, true)
      return false
    }
    // Connect, handshake and INFO: a cheap latency sample for `lowest-latency`.
    if (target.role === 'replica') this.resolver.latency(target.address, performance.now() - this.#startedAt)
    // ioredis sends what waited in its offline queue right after this check, a write each.
    if (this.stream) corkForTick(this.stream)
    return true
  }

  /**
   * The node of this attempt must not be used: report it (once) and let the resolver avoid it for
   * a while. `refuted`: the node itself said it does not fit its role. `attempt`: on the way to
   * ready (the answer that named it did not hold).
   */
  reject(reason: string, refuted = false, attempt = false): void {
    if (this.#rejected || !this.#target) return
    this.#rejected = true
    this.resolver.reject(this.side, this.#target, reason, refuted, attempt)
  }
}

/**
 * A connector to one node, never resolved again: for a short-lived connection of ours to a node the
 * sentinels named (the write fence watching the replica being promoted).
 */
export class FixedConnector extends AbstractConnector {
  constructor(
    private readonly target: Target,
    private readonly tls: ConnectionOptions | undefined,
  ) {
    super(0)
  }

  /** The class ioredis builds for a connection to `target`. */
  static to(target: Target): new (options: unknown) => FixedConnector {
    return class extends FixedConnector {
      constructor(options: unknown) {
        super(target, (options as { tls?: ConnectionOptions }).tls)
      }
    }
  }

  async connect(): Promise<NonNullable<AbstractConnector['stream']>> {
    this.connecting = true
    this.stream = openStream(this.target, this.tls)
    this.stream.once('error', (err) => {
      this.firstError = err
    })
    return this.stream
  }
}

/** A TCP (or TLS) stream to `target`, checked against its announced name. */
function openStream(
  target: Target,
  tls: ConnectionOptions | undefined,
  onConnect: () => void = () => {},
  coalesce = false,
): NonNullable<AbstractConnector['stream']> {
  const stream = tls
    ? tlsConnect({ ...tls, host: target.host, port: target.port, ...identity(tls, target.announcedHost) })
    : createConnection({ host: target.host, port: target.port })
  // The commands of a tick leave in one write (`enableWriteCoalescing`, protocol/coalesce.ts).
  if (coalesce) coalesceWrites(stream)
  // ioredis writes its handshake (HELLO, CLIENT SETINFO) as the socket connects, a write each.
  stream.once(tls ? 'secureConnect' : 'connect', () => {
    onConnect()
    corkForTick(stream)
  })
  return stream
}

/**
 * Where ioredis writes a burst of commands one socket write each (its handshake, its offline
 * queue), cork the socket for the tick: one write instead. A thousand clients coming back from an
 * outage at once are CPU-bound, and a write is a system call.
 */
function corkForTick(stream: NonNullable<AbstractConnector['stream']>): void {
  if (stream.writableCorked) return
  stream.cork()
  process.nextTick(() => stream.uncork())
}

/**
 * TLS is checked against the name the sentinels announce, not against where `natMap` sends the
 * socket (a NAT or a forwarder's address is not what the certificate names; ioredis#1832).
 * SNI carries the announced name when it is a host name (SNI takes no IP address).
 */
function identity(tls: ConnectionOptions, announced: string): ConnectionOptions {
  const check = tls.checkServerIdentity ?? checkServerIdentity
  return {
    servername: tls.servername ?? (isIP(announced) ? undefined : announced),
    checkServerIdentity: (_host, certificate) => check(announced, certificate),
  }
}
