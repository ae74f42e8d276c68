import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { LabError } from '../errors.js'
import { pairs, parseInfo } from '../topology.js'
import { dataNodeConfig, sentinelConfig } from './config.js'
import { findRedisServer, freePort, type LabNode, liveDirs, ServerProcess } from './server.js'
import { makeCertificates } from './tls.js'

/** Options of {@link startLab}. Durations are in milliseconds. */
export interface LabOptions {
  /** Name the sentinels monitor the master under. @default 'mymaster' */
  masterName?: string | undefined
  /** Number of replicas. @default 2 */
  replicas?: number | undefined
  /** Number of sentinels. @default 3 */
  sentinels?: number | undefined
  /** Sentinels that must agree the master is down. @default 2 (1 with a single sentinel) */
  quorum?: number | undefined
  /** `requirepass`/`masterauth` of the data nodes (and `auth-pass` in the sentinels). @default none */
  password?: string | undefined
  /** `requirepass` of the sentinels. @default none */
  sentinelPassword?: string | undefined
  /** `down-after-milliseconds`. @default 1000 */
  downAfterMs?: number | undefined
  /** `failover-timeout`. @default 3000 */
  failoverTimeoutMs?: number | undefined
  /**
   * How often sentinels refresh INFO from the nodes (`SENTINEL DEBUG INFO-PERIOD`). Production
   * sentinels use 10000, which makes a broken replica link visible only 6-10 s later.
   * @default 1000
   */
  sentinelInfoPeriodMs?: number | undefined
  /** Replicas drop a silent master link after this many seconds (`repl-timeout`). @default 5 */
  replTimeoutSec?: number | undefined
  /**
   * Serve TLS only (`tls-port`), with a throwaway CA made by `openssl`; replication and sentinels
   * use TLS too. Clients need `lab.tls.ca`.
   * @default false
   */
  tls?: boolean | undefined
  /** Bound on start-up, including sentinels agreeing on the topology. @default 20000 */
  startTimeoutMs?: number | undefined
}

const defaults = {
  masterName: 'mymaster',
  replicas: 2,
  sentinels: 3,
  downAfterMs: 1000,
  failoverTimeoutMs: 3000,
  sentinelInfoPeriodMs: 1000,
  replTimeoutSec: 5,
  startTimeoutMs: 20_000,
}

/** @internal */
type Resolved = typeof defaults & {
  quorum: number
  password?: string | undefined
  sentinelPassword?: string | undefined
  tls?: boolean | undefined
}

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
    if (p.kind === 'sentinel') await this.#tuneSentinel(p)
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
    return this.#waitFor(timeoutMs, `sentinels to agree on master ${address ?? ''}`.trim(), async () => {
      const seen = await this.#sentinelMasters()
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

  /** Wait until the sentinels agree on a master other than the current {@link master}. */
  async waitForNewMaster(timeoutMs = 15_000): Promise<LabNode> {
    const old = this.master.address
    return this.#waitFor(timeoutMs, `a new master (old: ${old})`, async () => {
      const seen = await this.#sentinelMasters()
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

  /** Undo {@link breakReplicaLink}; with `wait`, until every sentinel reports the link ok again. */
  async restoreReplicaLink(replica: LabNode, { wait = true } = {}): Promise<void> {
    await this.command(replica, 'CONFIG', 'SET', 'masterauth', this.#options.password ?? '')
    if (wait) await this.#waitForLink(replica, true)
  }

  /** What each sentinel reports about each replica (`SENTINEL REPLICAS`), by sentinel address. */
  async sentinelReplicas(): Promise<Map<string, Record<string, string>[]>> {
    const out = new Map<string, Record<string, string>[]>()
    for (const s of this.sentinels) {
      const reply = await this.command(s, 'SENTINEL', 'REPLICAS', this.masterName)
      out.set(s.address, (reply as unknown[]).map(pairs))
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
    await this.#waitFor(15_000, `sentinels to report ${replica.address} ${want}`, async () => {
      const all = await this.sentinelReplicas()
      for (const replicas of all.values()) {
        const r = replicas.find((x) => `${x.ip}:${x.port}` === replica.address)
        if (!r || (r['master-link-status'] === 'ok') !== ok) return undefined
      }
      return true
    })
  }

  /** The master address each running sentinel reports; unreachable or paused ones are skipped. */
  async #sentinelMasters(): Promise<string[]> {
    const replies = await Promise.allSettled(
      this.sentinels.map((s) => proc(s).command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName], 500)),
    )
    return replies.flatMap((r) =>
      r.status === 'fulfilled' && Array.isArray(r.value) ? [`${r.value[0]}:${r.value[1]}`] : [],
    )
  }

  async #waitFor<T>(timeoutMs: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs
    let last: unknown
    while (Date.now() < deadline) {
      try {
        const value = await probe()
        if (value !== undefined) return value
      } catch (err) {
        last = err
      }
      await sleep(50)
    }
    throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last })
  }

  async #tuneSentinel(s: ServerProcess): Promise<void> {
    // Faster INFO refresh and hello messages so the lab converges in a second, not ten.
    const period = this.#options.sentinelInfoPeriodMs
    await s.command(['SENTINEL', 'DEBUG', 'INFO-PERIOD', period, 'PUBLISH-PERIOD', 500, 'TILT-PERIOD', 5000])
  }

  /** @internal */
  static async start(options: LabOptions = {}): Promise<Lab> {
    findRedisServer()
    const o = resolve(options)
    const dir = mkdtempSync(join(tmpdir(), 'twiceredis-lab-'))
    liveDirs.add(dir)
    const data: ServerProcess[] = []
    const sentinels: ServerProcess[] = []
    const certificates = o.tls ? makeCertificates(dir) : undefined
    const tls = certificates && { ca: certificates.ca }
    const lab = new Lab(o, dir, data, sentinels, tls)
    const spawn = (
      name: string,
      kind: 'data' | 'sentinel',
      password: string | undefined,
      config: (port: number) => string,
    ) => spawnNode(name, kind, dir, password, tls, config, o.startTimeoutMs)
    try {
      const master = await spawn('master', 'data', o.password, (port) =>
        dataNodeConfig({
          port,
          dir,
          name: 'master',
          password: o.password,
          replTimeoutSec: o.replTimeoutSec,
          tls: certificates,
        }),
      )
      data.push(master)
      const started = await Promise.all([
        ...range(o.replicas).map((i) =>
          spawn(`replica-${i}`, 'data', o.password, (port) =>
            dataNodeConfig({
              port,
              dir,
              name: `replica-${i}`,
              password: o.password,
              replicaOf: master.port,
              replTimeoutSec: o.replTimeoutSec,
              tls: certificates,
            }),
          ),
        ),
      ])
      data.push(...started)
      const started2 = await Promise.all(
        range(o.sentinels).map((i) =>
          spawn(`sentinel-${i}`, 'sentinel', o.sentinelPassword, (port) =>
            sentinelConfig({
              port,
              dir,
              name: `sentinel-${i}`,
              masterName: o.masterName,
              masterPort: master.port,
              quorum: o.quorum,
              downAfterMs: o.downAfterMs,
              failoverTimeoutMs: o.failoverTimeoutMs,
              password: o.password,
              sentinelPassword: o.sentinelPassword,
              tls: certificates,
            }),
          ),
        ),
      )
      sentinels.push(...started2)
      await Promise.all(sentinels.map((s) => lab.#tuneSentinel(s)))
      await lab.#waitFor(o.startTimeoutMs, 'sentinels to see the master, every replica in sync and each other', () =>
        lab.#converged(),
      )
      return lab
    } catch (err) {
      await lab.stop()
      throw err
    }
  }

  async #converged(): Promise<true | undefined> {
    for (const r of this.replicas) {
      const info = parseInfo(String(await this.command(r, 'INFO', 'replication')))
      if (info.master_link_status !== 'up') return undefined
    }
    for (const s of this.sentinels) {
      const m = pairs(await this.command(s, 'SENTINEL', 'MASTER', this.masterName))
      if (m.flags !== 'master') return undefined
      if (Number(m['num-other-sentinels']) !== this.sentinels.length - 1) return undefined
      const replicas = ((await this.command(s, 'SENTINEL', 'REPLICAS', this.masterName)) as unknown[]).map(pairs)
      if (replicas.length !== this.replicas.length) return undefined
      if (replicas.some((r) => r.flags !== 'slave' || r['master-link-status'] !== 'ok')) return undefined
    }
    return true
  }
}

/** Start a lab: resolves once every sentinel sees the master, each replica in sync, and each other. */
export function startLab(options?: LabOptions): Promise<Lab> {
  return Lab.start(options)
}

function proc(node: LabNode): ServerProcess {
  if (!(node instanceof ServerProcess))
    throw new LabError(`${String((node as LabNode)?.name)} is not a node of this lab`)
  return node
}

/** Spawn a node on a free port; if the port was taken in between (another lab), try another. */
async function spawnNode(
  name: string,
  kind: 'data' | 'sentinel',
  dir: string,
  password: string | undefined,
  tls: { ca: string } | undefined,
  config: (port: number) => string,
  timeoutMs: number,
): Promise<ServerProcess> {
  let last: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const p = new ServerProcess(name, kind, port, dir, password, tls)
    p.writeConfig(config(port))
    try {
      await p.start(timeoutMs)
      return p
    } catch (err) {
      last = err
      await p.kill()
    }
  }
  throw new LabError(`could not start ${name}`, { cause: last })
}

function resolve(options: LabOptions): Resolved {
  const o = { ...defaults, ...stripUndefined(options) } as Resolved
  for (const key of [
    'replicas',
    'sentinels',
    'downAfterMs',
    'failoverTimeoutMs',
    'sentinelInfoPeriodMs',
    'replTimeoutSec',
    'startTimeoutMs',
  ] as const) {
    const min = key === 'replicas' ? 0 : 1
    if (!Number.isInteger(o[key]) || o[key] < min) throw new LabError(`Expected \`${key}\` to be an integer >= ${min}.`)
  }
  o.quorum = options.quorum ?? Math.min(2, o.sentinels)
  if (!Number.isInteger(o.quorum) || o.quorum < 1 || o.quorum > o.sentinels) {
    throw new LabError(`Expected \`quorum\` to be an integer from 1 to \`sentinels\` (${o.sentinels}).`)
  }
  return o
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}
