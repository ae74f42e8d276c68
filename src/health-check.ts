import { Command, type Redis } from 'ioredis'
import type { Side, Target } from './events.js'
import { dropStream, streamOf } from './ioredis-internals.js'
import { parseInfo } from './protocol/node-info.js'
import type { Resolver } from './routing/resolver.js'

/** What a health check concluded about the node a client is connected to. */
export type Verdict =
  /** The node no longer fits its role (demoted master, replica link down, lag): leave it. */
  | { kind: 'unfit'; reason: string }
  /** Reads fell back to the master (or left `clientZone`) and a healthy (closer) replica is back: reconnect to it. */
  | { kind: 'replica-back' }
  | { kind: 'error'; error: Error }

/** The client a health check watches; its node is the one the connector chose. */
type Checked = Redis & { readonly node: Target | undefined }

/**
 * Cheap periodic check of the connected node (`INFO replication`, or `PING` on a RESP2
 * subscriber connection, which accepts nothing else): a node that stops answering (SIGSTOP, a
 * dead network) is dropped after `timeoutMs` of silence, and the verdict on what it answered goes
 * to the client. Skipped while a blocking command, a monitor or an open transaction holds the
 * connection.
 *
 * One check per connection at a time. A check's reply is judged only on the connection it was
 * sent on: ioredis resends unanswered commands after a reconnect, and an `INFO` from the next
 * node, judged against the old one's role, would throw out a healthy node.
 */
export class HealthCheck {
  #timer: NodeJS.Timeout | undefined
  /** Counts connections: a reply from an earlier one is ignored. */
  #connection = 0
  #pending = false
  #lastData = 0

  constructor(
    private readonly client: Checked,
    private readonly side: Side,
    private readonly resolver: Resolver,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly on: {
      /** What the node answered (for the metrics' replica lag). */
      info?(target: Target, info: Record<string, string>): void
      /** The node has been silent for a while during a check: an outage may be starting. */
      silent(): void
      /** The node stayed silent for `timeoutMs` during a check: its connection is dropped now. */
      unresponsive(reason: string): void
      verdict(verdict: Verdict): void
      /** A check finished on the current connection. */
      done(): void
      /**
       * A transaction is open on the connection (`MULTI` sent, `EXEC` not yet), or a blocking
       * command is in flight: a check would be queued behind it (or in it, run by the
       * application's `EXEC`), so none is sent. (Read from the client's connection record.)
       */
      busy(): boolean
      /** Mark a check's command as ours in the client's connection record. */
      own(command: Command): void
    },
  ) {}

  /** The client is ready on a new connection. */
  start(): void {
    this.stop()
    if (this.intervalMs <= 0) return
    this.#lastData = Date.now()
    streamOf(this.client)?.on('data', () => {
      this.#lastData = Date.now()
    })
    this.#timer = setInterval(() => this.#check(), this.intervalMs).unref()
  }

  /** The connection closed (or the client stopped): checks in flight no longer count. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#connection++
    this.#pending = false
  }

  async #check(): Promise<void> {
    const client = this.client
    const target = client.node
    if (client.status !== 'ready' || this.#pending || !target || client.mode === 'monitor') return
    if (this.on.busy()) return
    const connection = this.#connection
    const current = () => connection === this.#connection
    this.#pending = true
    this.#lastData = Date.now()
    this.#watchSilence(current)
    try {
      const started = performance.now()
      const reply = await this.#send(client.mode === 'subscriber' ? 'ping' : 'info')
      if (!current() || client.mode === 'subscriber') return
      const info = parseInfo(reply)
      this.on.info?.(target, info)
      if (target.role === 'replica') this.resolver.latency(target.address, performance.now() - started)
      const reason = await this.resolver.verify(target, info)
      if (!current()) return
      if (reason) this.on.verdict({ kind: 'unfit', reason })
      else if (this.side === 'replica') {
        // On the master as a fallback, or outside `clientZone`: back to a (closer) replica once one is healthy.
        if ((await this.resolver.replicaAvailable(target)) && current()) this.on.verdict({ kind: 'replica-back' })
      }
    } catch (error) {
      if (current()) this.on.verdict({ kind: 'error', error: error as Error })
    } finally {
      if (current()) {
        this.#pending = false
        this.on.done()
      }
    }
  }

  #send(name: 'info' | 'ping'): Promise<string> {
    const command = new Command(name, name === 'info' ? ['replication'] : [], { replyEncoding: 'utf8' })
    this.on.own(command)
    return this.client.sendCommand(command) as Promise<string>
  }

  /**
   * While a check waits: after a short silence tell the client (it starts listening to the
   * sentinels), and after `timeoutMs` without a byte from the node drop the connection.
   */
  #watchSilence(current: () => boolean): void {
    const timeoutMs = this.timeoutMs
    const early = Math.min(500, timeoutMs / 2)
    const tick = () => {
      if (!this.#pending || !current() || this.client.status !== 'ready') return
      const silent = Date.now() - this.#lastData
      if (silent >= timeoutMs) {
        const reason = `did not answer a health check within ${timeoutMs} ms`
        this.on.unresponsive(reason)
        dropStream(this.client, new Error(`${this.client.node?.address ?? 'node'} ${reason}`))
        return
      }
      if (silent >= early) this.on.silent()
      setTimeout(tick, Math.min(early, timeoutMs - silent)).unref()
    }
    setTimeout(tick, early).unref()
  }
}
