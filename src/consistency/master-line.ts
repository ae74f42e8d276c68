import { markInternal } from '../client/connection.js'
import { offlineQueueLength } from '../ioredis-internals.js'
import type { SessionClient } from './session-client.js'

/** How long the session's own line to the master stays open after its last use. */
const LINE_MS = 1000

/**
 * A connection to the master for commands of the session's own (a ROLE, a read moved from a
 * replica) while `tr.master` cannot take them: inside the application's MULTI (they would be
 * queued, answer QUEUED), behind its blocking command (they would wait as long) or subscribed.
 * A duplicate of `tr.master` (same credentials, TLS, db; outside the write fence), opened on demand and quit once unused
 * for `LINE_MS`, or as `tr.master` ends (`quit()`, `disconnect()`: its MULTI or BLPOP ended with
 * it); its ROLE is answered by the master after every write acknowledged before it.
 */
export class MasterLine {
  #line: SessionClient | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #lines = new WeakSet<SessionClient>()
  /** Stops listening for the end of the `tr.master` a line was opened for. */
  #unlisten: (() => void) | undefined

  /** Whether `client` is a line of ours (not a connection of the application's). */
  has(client: SessionClient): boolean {
    return this.#lines.has(client)
  }

  /** The line to `master`'s node, in `db`. */
  open(master: SessionClient, db: number): SessionClient {
    let line = this.#line
    if (line && (line.status === 'end' || (line.options.db ?? 0) !== db)) {
      this.#retire(line)
      line = undefined
    }
    if (!line) {
      // Ours, not a write client of the application's: its ROLE is a read, holding it for a fence
      // would only delay the session (lazy, so it is marked before it connects). Its commands wait
      // for its connect, whatever the application's `enableOfflineQueue` says.
      const opened = master.duplicate({ db, lazyConnect: true, enableOfflineQueue: true }) as SessionClient
      markInternal(opened)
      const ended = () => this.#retire(opened)
      // tr.master now on another node (a failover): the line may still be on the master it
      // replaced, which answers as one until the sentinels demote it, without the new writes.
      const moved = () => {
        if (opened.node && opened.node.address !== master.node?.address) this.#retire(opened)
      }
      master.once('end', ended)
      master.on('ready', moved)
      this.#unlisten = () => {
        master.off('end', ended)
        master.off('ready', moved)
      }
      this.#lines.add(opened)
      this.#line = opened
      line = opened
    }
    this.#expireLater(line)
    return line
  }

  /**
   * Unused for `LINE_MS`: retired. Not while something is queued or in flight on it: a read moved
   * there may wait for the next master in a failover (bounded as any command of `tr.master`).
   */
  #expireLater(line: SessionClient): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      if (line.commandQueue.length > 0 || offlineQueueLength(line) > 0) this.#expireLater(line)
      else this.#retire(line)
    }, LINE_MS).unref()
  }

  /**
   * Nothing new goes over `line`, and it quits: what waits for its connect is answered first (as
   * `tr.master` ends, a read moved there as its socket closed), bounded by `connectTimeoutMs`.
   */
  #retire(line: SessionClient): void {
    if (this.#line === line) {
      this.#line = undefined
      clearTimeout(this.#timer)
      this.#unlisten?.()
      this.#unlisten = undefined
    }
    line.quit().catch(() => line.disconnect())
  }
}
