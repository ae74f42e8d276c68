import { Command, type Redis } from 'ioredis'
import { kindOf } from '../command-kinds.js'
import { RoleCheckDeniedError, redact } from '../errors.js'
import type { Target } from '../events.js'
import { type ReadyCheck, sendInHandshake } from '../ioredis-internals.js'
import { isPermissionError } from '../protocol/auth-error.js'
import { infoFromRole, parseInfo } from '../protocol/node-info.js'

/** What ioredis writes as its handshake, before the ready check (command-kinds.ts `handshake`, but INFO: ours). */
function handshakeCommand(name: string): boolean {
  const kind = kindOf(name)
  return kind.handshake && kind.name !== 'info' && name === kind.name // ioredis spells its own in lower case
}

type Checked = Redis & { readonly node: Target | undefined }

/**
 * A connection's way to "ready": ioredis' handshake, then our role check (the ready check).
 *
 * Tells ioredis' own commands and our check (written before the role check) from the
 * application's (which wait for it): ioredis writes its handshake (AUTH, HELLO, CLIENT, SELECT,
 * READONLY) in the tick the socket connects, and again after a server refused HELLO (RESP2
 * downgrade, Redis < 6); CLIENT SETINFO may come later, until the ready check; then our ready
 * check sends its INFO.
 */
export class Handshake {
  #state: 'none' | 'tick' | 'sent' | 'again' | 'check' | 'checking' = 'none'
  /** The server answers `INFO` with two sections (Redis >= 7); older ones get the full `INFO`. */
  #infoSections = true
  /** The ROLE fallback was warned of (once per client). */
  #warned = false

  /**
   * @param zones the read side with a `clientZone`: the check also reads the zone a node announces.
   * @param caughtUp a write side's fence watch, just subscribed: ready once it knows whether a
   *   failover is under way (see `Watch.caughtUp`), so that writes from the start are fenced.
   */
  constructor(
    private readonly client: Checked,
    private readonly zones: boolean,
    private readonly caughtUp: () => Promise<void> | undefined = () => undefined,
  ) {}

  /** A new attempt to connect. */
  reset(): void {
    this.#state = 'none'
  }

  /** The socket connected: ioredis writes its handshake in this tick, before its `connect` event. */
  socket(): void {
    this.#state = 'tick'
    process.nextTick(() => {
      if (this.#state === 'tick') this.#state = 'sent'
    })
  }

  /** Whether a command sent while the socket is open but the node not yet accepted is ioredis' or ours. */
  ownBeforeReady(command: Command): boolean {
    if (this.#state === 'check') return true
    if (this.#state === 'checking' || !handshakeCommand(command.name)) return false
    // ioredis 5 sends CLIENT SETINFO once it has read its own package.json: a tick or more later.
    // Any other CLIENT is the application's: it waits for the role check like any command.
    if (command.name === 'client') return this.#ownClient(command)
    if (this.#state === 'sent') return false
    // A refused HELLO makes ioredis 6 send its handshake again, over RESP2.
    if (command.name === 'hello') {
      command.promise.catch(() => {
        if (this.#state === 'sent') this.#state = 'again'
      })
    }
    return true
  }

  /**
   * ioredis' ready check, cheaper: the sections the role check reads (`replication`) and the one
   * that says whether the server still loads its dataset (`persistence`), instead of all of them.
   * While it loads, ask again after `loading_eta_seconds` (at most 1 s), as ioredis does.
   * Asked as ioredis asks its own (`info(sections, callback)`), so that what answers ioredis' INFO
   * (an APM wrapper, a test's stub) answers ours alike.
   */
  readyCheck(callback: Parameters<ReadyCheck>[0]): void {
    // `server` carries the zone a node announces (`availability_zone`, Valkey 8.1+).
    const sections = this.#infoSections ? ['replication', 'persistence', ...(this.zones ? ['server'] : [])] : []
    this.#state = 'check'
    const answered = (error: Error | null | undefined, reply?: unknown) => {
      if (error) return this.#refused(callback, sections, error)
      const info = parseInfo(String(reply))
      if (info.loading === '1') {
        const ms = Math.min(Number(info.loading_eta_seconds) || 1, 1) * 1000
        setTimeout(() => this.readyCheck(callback), ms)
      } else if (info.role) this.#checked(callback, info)
      // No role in it (a proxy's INFO, a stub): ROLE can still tell.
      else this.#roleCheck(callback, 'answers INFO without a role')
    }
    // The callback gets the outcome; the promise is ours, its rejection already handled there.
    // ioredis flattens the array (its reply to a section list is the same).
    const info = this.client.info as unknown as (sections: string[], cb: typeof answered) => Promise<unknown>
    info.call(this.client, sections, answered).catch(() => {})
    this.#state = 'checking'
  }

  /** INFO failed: a server that takes one section at most (Redis < 7) is asked the full INFO. */
  #refused(callback: Parameters<ReadyCheck>[0], sections: string[], error: Error): void {
    if (sections.length && /syntax error|wrong number of arguments/i.test(error.message)) {
      this.#infoSections = false
      this.readyCheck(callback)
    } else if (isPermissionError(error)) {
      this.#roleCheck(callback, `refuses INFO (${redact(error).message})`, ' Allow INFO for this user.')
    } else {
      callback(error)
    }
  }

  /**
   * The role check from `ROLE`, for a user refused `INFO` (or an INFO without a role); refused
   * both, no check is possible. ioredis warns where it cannot read INFO (and skips its check):
   * so do we, once per client, for what ROLE does not say.
   */
  #roleCheck(callback: Parameters<ReadyCheck>[0], why: string, advice = ''): void {
    if (!this.#warned) {
      this.#warned = true
      const address = this.client.node?.address ?? 'a data node'
      console.warn(
        `twiceredis: ${address} ${why}: its role is checked with ROLE instead, which does not say whether ` +
          'the node is still loading its data, how long a replica has been cut off from its master ' +
          `(maxLinkDownMs) or its zone.${advice}`,
      )
    }
    const role = new Command('role', [], { replyEncoding: 'utf8' })
    sendInHandshake(this.client, role)
    this.#state = 'checking'
    role.promise.then(
      (reply) => this.#checked(callback, infoFromRole(reply)),
      (error: Error) => {
        const address = this.client.node?.address ?? 'a data node'
        callback(isPermissionError(error) ? new RoleCheckDeniedError(address, { cause: redact(error) }) : error)
      },
    )
  }

  /** The node checked: ready, once the fence's watch has caught up if it just subscribed. */
  #checked(callback: Parameters<ReadyCheck>[0], info: Record<string, string>): void {
    const wait = this.caughtUp()
    if (wait) void wait.then(() => callback(null, info))
    else callback(null, info)
  }

  /** ioredis' own CLIENT of the handshake: `SETNAME` of its `connectionName`, or `SETINFO LIB-VER|LIB-NAME`. */
  #ownClient(command: Command): boolean {
    const [sub, value] = command.args.map((a) => String(a).toLowerCase())
    if (sub === 'setinfo') return value === 'lib-ver' || value === 'lib-name'
    const name = this.client.options.connectionName
    return sub === 'setname' && typeof name === 'string' && value === name.toLowerCase()
  }
}
