import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LabError } from '../errors.js'
import { parseInfo } from '../protocol/node-info.js'
import { pairs } from '../protocol/reply.js'
import { parseReplicas } from '../protocol/sentinel-replies.js'
import { dataNodeConfig, type SentinelUser, sentinelConfig } from './config.js'
import { Lab, SENTINEL_USER } from './lab.js'
import { dataNodeHost, type LabOptions, range, resolve } from './options.js'
import { findRedisServer, freePort, liveDirs, ServerProcess } from './server.js'
import { makeCertificates } from './tls.js'
import { proc, replicated } from './waits.js'

/** Start a lab: resolves once every sentinel sees the master, each replica in sync, and each other. */
export function startLab(options?: LabOptions): Promise<Lab> {
  return start(options)
}

async function start(options: LabOptions = {}): Promise<Lab> {
  findRedisServer()
  const o = resolve(options)
  const dir = mkdtempSync(join(tmpdir(), 'twiceredis-lab-'))
  liveDirs.add(dir)
  const data: ServerProcess[] = []
  const sentinels: ServerProcess[] = []
  const hostname = o.hostnames ? await loopbackName() : undefined
  const certificates = o.tls ? makeCertificates(dir, hostname) : undefined
  const tls = certificates && { ca: certificates.ca }
  const lab = new Lab(o, dir, data, sentinels, tls)
  // The sentinels' own ACL user on the data nodes: `lab.cutOffSentinels()` turns it off.
  const sentinelUser: SentinelUser = { name: SENTINEL_USER, password: randomBytes(12).toString('hex') }
  const spawn = (
    name: string,
    kind: 'data' | 'sentinel',
    password: string | undefined,
    config: (port: number) => string,
    host = hostname ?? '127.0.0.1',
    port?: number,
  ) => spawnNode({ name, kind, host, dir, password, tls, port }, config, o.startTimeoutMs)
  // With `distinctAddresses`, data node i (0: the master) on its own loopback address.
  const dataHost = (i: number) => (o.distinctAddresses ? dataNodeHost(i) : undefined)
  /** Data node `i` (0: the master; a replica of it otherwise), named `name`. */
  const spawnData = (i: number, name: string, replicaOf?: number) =>
    spawn(
      name,
      'data',
      o.password,
      (port) =>
        dataNodeConfig({
          port,
          dir,
          name,
          password: o.password,
          replicaOf,
          replTimeoutSec: o.replTimeoutSec,
          tls: certificates,
          hostname,
          tcpBacklog: o.tcpBacklog,
          sentinelUser,
          host: dataHost(i),
          masterHost: replicaOf === undefined ? undefined : dataHost(0),
        }),
      dataHost(i),
      i === 0 ? o.masterPort : undefined,
    )
  try {
    const master = await spawnData(0, 'master')
    data.push(master)
    const replicas = await Promise.all(range(o.replicas).map((i) => spawnData(i, `replica-${i}`, master.port)))
    data.push(...replicas)
    const started = await Promise.all(
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
            hostname,
            sentinelUser,
            masterHost: dataHost(0),
          }),
        ),
      ),
    )
    sentinels.push(...started)
    await Promise.all(sentinels.map((s) => lab.tuneSentinel(s)))
    await lab.waitFor(o.startTimeoutMs, 'sentinels to see the master, every replica in sync and each other', () =>
      converged(lab),
    )
    return lab
  } catch (err) {
    await lab.stop()
    throw err
  }
}

async function converged(lab: Lab): Promise<true | undefined> {
  for (const r of lab.replicas) {
    const info = parseInfo(String(await lab.command(r, 'INFO', 'replication')))
    if (info.master_link_status !== 'up') return undefined
  }
  // A replica fresh from a diskless full sync says its link is up, but Redis 7.0 streams it writes only
  // after its first REPLCONF ACK (sent once a second): until then, writes acknowledged by the master
  // are on no replica. Every replica must have a write made now.
  if (lab.replicas.length > 0) {
    const acked = await replicated(proc(lab.master), lab.replicas.length, 200)
    if (acked < lab.replicas.length) return undefined
  }
  for (const s of lab.sentinels) {
    const m = pairs(await lab.command(s, 'SENTINEL', 'MASTER', lab.masterName))
    if (m.flags !== 'master') return undefined
    if (Number(m['num-other-sentinels']) !== lab.sentinels.length - 1) return undefined
    const replicas = parseReplicas(await lab.command(s, 'SENTINEL', 'REPLICAS', lab.masterName))
    if (replicas.length !== lab.replicas.length) return undefined
    if (replicas.some((r) => r.flags.join() !== 'slave' || r.linkStatus !== 'ok')) return undefined
  }
  return true
}

/**
 * The name nodes are announced by in a lab with `hostnames`: `localhost`, which must lead to
 * 127.0.0.1 (where the lab listens) for redis-server's own lookups as well as Node's.
 */
async function loopbackName(): Promise<string> {
  const name = 'localhost'
  const first = await lookup(name).catch(() => undefined)
  if (first?.address !== '127.0.0.1') {
    throw new LabError(
      `\`hostnames\` needs ${name} to resolve to 127.0.0.1 first (it gives ${first?.address ?? 'nothing'}); fix /etc/hosts`,
    )
  }
  return name
}

/** Spawn a node on a free port; if the port was taken in between (another lab), try another. */
async function spawnNode(
  {
    name,
    kind,
    host,
    dir,
    password,
    tls,
    port: fixed,
  }: {
    name: string
    kind: 'data' | 'sentinel'
    host: string
    dir: string
    password: string | undefined
    tls: { ca: string } | undefined
    /** A port asked for: one attempt, no other port. */
    port?: number | undefined
  },
  config: (port: number) => string,
  timeoutMs: number,
): Promise<ServerProcess> {
  let last: unknown
  for (let attempt = 0; attempt < (fixed === undefined ? 3 : 1); attempt++) {
    const port = fixed ?? (await freePort())
    const p = new ServerProcess(name, kind, host, port, dir, password, tls)
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
