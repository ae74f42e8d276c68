import { Command } from 'ioredis'
import { RoleDeniedError } from '../errors.js'
import type { Emit } from '../events.js'
import { isPermissionError } from '../protocol/auth-error.js'
import { infoPosition, type Position, parseInfo, rolePosition } from '../protocol/node-info.js'
import type { NodeHistories } from './histories.js'
import type { SendOwn, SessionClient } from './session-client.js'

/** How replication offsets are read: `ROLE`, `INFO replication` when ROLE is refused, or not at all. */
export type Probing = 'role' | 'info' | 'none'

/**
 * Where a node is in its replication history: `ROLE`, then (for a user refused ROLE, said once
 * with a `ROLE_DENIED` error event) `INFO replication`, then nothing (every read after a write
 * goes to the master; what cannot move rejects).
 */
export class OffsetProbe {
  probing: Probing = 'role'
  /** The fallback being settled (once per TwiceRedis: the first refusal decides it). */
  #denial: Promise<void> | undefined

  constructor(
    private readonly send: SendOwn,
    private readonly emit: Emit,
    /** What each node's INFO said of its history: a ROLE names none. */
    private readonly histories: NodeHistories,
  ) {}

  /** Where `client`'s node is, or `undefined` if it does not say. */
  async positionOf(client: SessionClient, retry = true): Promise<Position | undefined> {
    if (this.probing === 'none') return undefined
    const probing = this.probing
    const command =
      probing === 'role'
        ? new Command('role', [], { replyEncoding: 'utf8' })
        : new Command('info', ['replication'], { replyEncoding: 'utf8' })
    try {
      const reply = await (this.send(client, command) as Promise<unknown>)
      // The node that answered (a client asked while still connecting names none when asked).
      const self = client.node?.address
      if (self === undefined) return undefined
      const at = probing === 'role' ? rolePosition(reply, self) : infoPosition(parseInfo(String(reply)), self)
      return at && this.histories.attach(self, at)
    } catch (error) {
      if (!isPermissionError(error)) return undefined
      this.#denial ??= this.#denied(client, error as Error, probing)
      await this.#denial
      // Once: a node with other ACLs than the one that settled the fallback may refuse it too.
      return retry ? this.positionOf(client, false) : undefined
    }
  }

  /** A node refused ROLE (or INFO): say so once, and use what is left. */
  async #denied(client: SessionClient, error: Error, probing: Probing): Promise<void> {
    if (probing === 'role') {
      this.probing = 'info'
      const info = await (this.send(client, new Command('info', ['replication'])) as Promise<unknown>).catch(
        (e: Error) => e,
      )
      if (info instanceof Error && isPermissionError(info)) this.probing = 'none'
    } else {
      this.probing = 'none'
    }
    const address = client.node?.address ?? 'a data node'
    const fallback = this.probing === 'info' ? 'info' : 'master'
    this.emit(
      'error',
      Object.assign(new RoleDeniedError(address, fallback, { cause: error }), { side: 'master' as const }),
    )
  }
}
