import { rmSync } from 'node:fs'
import { LabError } from '../errors.js'
import { parseInfo } from '../protocol/node-info.js'
import { parseReplicas, type ReplicaState } from '../protocol/sentinel-replies.js'
import type { Resolved } from './options.js'
import { type LabNode, liveDirs, type ServerProcess } from './server.js'
import { pollUntil, proc, replicated, sentinelMasters } from './waits.js'

/** The ACL user the lab's sentinels authenticate as on every data node. */
export const SENTINEL_USER = 'lab-sentinel'

/**
 * A local Redis Sentinel deployment of real `redis-server` processes on loopback ports.
 *
 * @example
 * ```ts
 * const lab = await startLab({ replicas: 2 })
 * try {
 *   const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
 *   await lab.kill(lab.master)
 *   await lab.waitForNewMaster()
 * } finally {
 *   await lab.stop()
 * }
 * ```
 */
export class Lab {
  readonly masterName: string
  readonly dir: string
  /** Every data node, in start order: the initial master first. */
  readonly dataNodes: readonly LabNode[]
  readonly sentinels: readonly LabNode[]
  /** With `tls: true`, the CA (PEM) that signed the nodes' certificates: pass it as `tls: { ca }`. */
  readonly tls: { ca: string } | undefined
  #options: Resolved
  #master: LabNode | undefined
  #stopped = false

  /** @internal use {@link startLab} */
  constructor(
    options: Resolved,
    dir: string,
    data: ServerProcess[],
    sentinels: ServerProcess[],
    tls: { ca: string } | undefined,
  ) {
    this.#options = options
    this.tls = tls
    this.masterName = options.masterName
    this.dir = dir
    this.dataNodes = data
    this.sentinels = sentinels
  }

  /** The master as last seen by the lab (updated by `waitForMaster`/`waitForNewMaster`). */
  get master(): LabNode {
    const master = this.#master ?? this.dataNodes[0]
    if (!master) throw new LabError('the lab has not started its master yet')
    return master
  }

  /** Every data node but the current master. */
  get replicas(): LabNode[] {
    return this.dataNodes.filter((n) => n !== this.master)
  }

  /** Sentinel addresses as `[host, port]` tuples, ready for `new TwiceRedis(...)`. */
  get sentinelAddresses(): [string, number][] {
    return this.sentinels.map((s) => [s.host, s.port])
  }

  /** The node at `host:port`, if the lab started it. */
  node(address: string): LabNode | undefined {
    return [...this.dataNodes, ...this.sentinels].find((n) => n.address === address)
  }

  /** Run one command on a node (data node or sentinel), authenticating as the lab was set up. */
  command(node: LabNode, ...args: (string | number)[]): Promise<unknown> {
    return proc(node).command(args)
  }

  /** SIGKILL a node and wait until the process is gone. */
  async kill(node: LabNode): Promise<void> {
    await proc(node).kill()
  }

  /** SIGSTOP: the process keeps its sockets open but answers nothing (a hung node). */
  pause(node: LabNode): void {
    proc(node).signal('SIGSTOP')
  }

  /** SIGCONT after {@link pause}. */
  resume(node: LabNode): void {
    proc(node).signal('SIGCONT')
  }

  /**
   * Start a node again on the same port, from its config file as the server last rewrote it
   * (sentinels and `REPLICAOF` rewrite them). A killed old master comes back as a master and the
   * sentinels turn it into a replica of the new one.
   */
  async restart(node: LabNode): Promise<void> {
    const p = proc(node)
    await p.kill()
    await p.start(this.#options.startTimeoutMs)
    if (p.kind === 'sentinel') await this.tuneSentinel(p)
  }

  /**
   * Cut the sentinels off from a live data node (a partition between them, a firewall change): the
   * sentinels' own ACL user there may run no command any more, so every sentinel sees the node
   * down (its `PING` answered `NOPERM`) while clients still reach it and it keeps serving.
   * (The user stays on: a refused `AUTH` would leave the sentinel connected as the default user.)
   * {@link restoreSentinels} undoes it.
   */
  async cutOffSentinels(node: LabNode): Promise<void> {
    await this.command(node, 'ACL', 'SETUSER', SENTINEL_USER, '-@all')
  }

  /** Let the sentinels reach `node` again after {@link cutOffSentinels}. */
  async restoreSentinels(node: LabNode): Promise<void> {
    await this.command(node, 'ACL', 'SETUSER', SENTINEL_USER, '+@all')
  }

  /** Ask a sentinel for a failover (`SENTINEL FAILOVER`), without waiting for it to finish. */
  async failover(): Promise<void> {
    const errors: unknown[] = []
    for (const s of this.sentinels) {
      try {
        await this.command(s, 'SENTINEL', 'FAILOVER', this.masterName)
        return
      } catch (err) {
        errors.push(err)
      }
    }
    throw new LabError('no sentinel accepted SENTINEL FAILOVER', { cause: errors[0] })
  }

  /**
   * Wait until every reachable sentinel reports the same master (the one at `address` if given)
   * and that master answers as a master. Returns it.
   */
  async waitForMaster(address?: string, timeoutMs = 15_000): Promise<LabNode> {
    return this.waitFor(timeoutMs, `sentinels to agree on master ${address ?? ''}`.trim(), async () => {
      const seen = await sentinelMasters(this.sentinels, this.masterName)
      const first = seen[0]
      if (!first || seen.some((a) => a !== first) || (address && first !== address)) return undefined
      const node = this.node(first)
      if (!node) return undefined
      const info = parseInfo(String(await this.command(node, 'INFO', 'replication')))
      if (info.role !== 'master') return undefined
      this.#master = node
      return node
    })
  }

  /**
   * Wait until every replica of the master has everything the master had written when this was
   * called. (`WAIT` alone, on a connection of its own, would not do: it waits for that
   * connection's own writes only, and returns at once.)
   */
  async waitForReplication(timeoutMs = 5_000): Promise<void> {
    const master = this.master
    const info = parseInfo(String(await this.command(master, 'INFO', 'replication')))
    if (info.role !== 'master') {
      throw new LabError(
        `${master.name} (${master.address}) is no longer the master: after a failover, call waitForNewMaster() first`,
      )
    }
    const replicas = Number(info.connected_slaves ?? 0)
    const acked = await replicated(proc(master), replicas, timeoutMs)
    if (acked < replicas)
      throw new LabError(`${replicas - acked} replica(s) did not acknowledge within ${timeoutMs} ms`)
  }

  /** Wait until the sentinels agree on a master other than the current {@link master}. */
  async waitForNewMaster(timeoutMs = 15_000): Promise<LabNode> {
    const old = this.master.address
    return this.waitFor(timeoutMs, `a new master (old: ${old})`, async () => {
      const seen = await sentinelMasters(this.sentinels, this.masterName)
      const first = seen[0]
      if (!first || first === old || seen.some((a) => a !== first)) return undefined
      return this.waitForMaster(first, timeoutMs)
    })
  }

  /**
   * Break a replica's replication link while the process stays up and reachable: it gets a
   * wrong `masterauth` and its master connection is killed, so every resync fails. With
   * `wait` (the default) this returns once every sentinel reports its `master-link-status` not ok.
   */
  async breakReplicaLink(replica: LabNode, { wait = true } = {}): Promise<void> {
    await this.command(replica, 'CONFIG', 'SET', 'masterauth', `broken-by-lab-${Date.now()}`)
    await this.command(replica, 'CLIENT', 'KILL', 'TYPE', 'master')
    if (wait) await this.#waitForLink(replica, false)
  }

  /**
   * Undo {@link breakReplicaLink}; with `wait`, until the replica's link is up and every sentinel
   * reports it ok. (A sentinel's INFO may still be from before the link broke: only once the link
   * is up again is its `ok` current.)
   */
  async restoreReplicaLink(replica: LabNode, { wait = true } = {}): Promise<void> {
    await this.command(replica, 'CONFIG', 'SET', 'masterauth', this.#options.password ?? '')
    if (!wait) return
    await this.waitFor(15_000, `${replica.address} to reconnect to its master`, async () => {
      const info = parseInfo(String(await this.command(replica, 'INFO', 'replication')))
      return info.master_link_status === 'up' || undefined
    })
    await this.#waitForLink(replica, true)
  }

  /** What each sentinel reports about each replica (`SENTINEL REPLICAS`), by sentinel address. */
  async sentinelReplicas(): Promise<Map<string, ReplicaState[]>> {
    const out = new Map<string, ReplicaState[]>()
    for (const s of this.sentinels) {
      out.set(s.address, parseReplicas(await this.command(s, 'SENTINEL', 'REPLICAS', this.masterName)))
    }
    return out
  }

  /**
   * Client connections a node holds now, not counting other sentinels' links (named
   * `sentinel-*`) nor the connection of this very query.
   */
  async clientConnections(node: LabNode): Promise<number> {
    const list = String(await this.command(node, 'CLIENT', 'LIST'))
    return list
      .split('\n')
      .filter((line) => line && !/ name=sentinel-/.test(line) && !/ cmd=client\|list( |$)/.test(line)).length
  }

  /** Connections a node has accepted since it started (`INFO stats`), this query's own included. */
  async connectionsReceived(node: LabNode): Promise<number> {
    return Number(parseInfo(String(await this.command(node, 'INFO', 'stats'))).total_connections_received)
  }

  /** Kill every process the lab started and remove its temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await Promise.all([...this.dataNodes, ...this.sentinels].map((n) => proc(n).kill()))
    rmSync(this.dir, { recursive: true, force: true })
    liveDirs.delete(this.dir)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  async #waitForLink(replica: LabNode, ok: boolean): Promise<void> {
    const want = ok ? 'link ok' : 'link down'
    await this.waitFor(15_000, `sentinels to report ${replica.address} ${want}`, async () => {
      const all = await this.sentinelReplicas()
      for (const replicas of all.values()) {
        const r = replicas.find((x) => x.address === replica.address)
        if (!r || (r.linkStatus === 'ok') !== ok) return undefined
      }
      return true
    })
  }

  /** @internal Poll `probe` every 50 ms until it returns a value, or throw `LabError` after `timeoutMs`. */
  async waitFor<T>(timeoutMs: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
    return pollUntil(timeoutMs, what, probe)
  }

  /** @internal */
  async tuneSentinel(s: ServerProcess): Promise<void> {
    // Faster INFO refresh and hello messages so the lab converges in a second, not ten.
    const period = this.#options.sentinelInfoPeriodMs
    await s.command(['SENTINEL', 'DEBUG', 'INFO-PERIOD', period, 'PUBLISH-PERIOD', 500, 'TILT-PERIOD', 5000])
  }
}
