import { LabError } from '../errors.js'

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
  /**
   * `tcp-backlog` of the data nodes: how many connections may wait to be accepted. Redis' default
   * (511) drops the excess of a burst, which TCP retries a second later: a fleet of a thousand
   * clients moving to a new master at once needs more (and `net.core.somaxconn` at least as much).
   * @default 511
   */
  tcpBacklog?: number | undefined
  /**
   * Announce every node and sentinel by the name `localhost` instead of `127.0.0.1`
   * (`replica-announce-ip`, `resolve-hostnames`, `announce-hostnames`, as Kubernetes charts do), so
   * clients get names from the sentinels. With `tls`, the certificates then name `localhost` only.
   * @default false
   */
  hostnames?: boolean | undefined
  /**
   * Give each data node its own loopback address, so that tests can tell nodes (and zones) apart
   * by address: the master listens on 127.0.0.11, `replica-i` on 127.0.0.(11+i); sentinels stay on
   * 127.0.0.1. Linux routes all of 127.0.0.0/8 to loopback; elsewhere (macOS) the addresses need
   * aliases first (`ifconfig lo0 alias 127.0.0.12`). Not with `hostnames` or `tls`.
   * @default false
   */
  distinctAddresses?: boolean | undefined
  /**
   * The master's port, for tools that expect a server at a fixed address (the ioredis suite's
   * 127.0.0.1:6379, bench/compat). Start-up fails if it is taken. @default a free port
   */
  masterPort?: number | undefined
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
export type Resolved = typeof defaults & {
  quorum: number
  password?: string | undefined
  sentinelPassword?: string | undefined
  tls?: boolean | undefined
  hostnames?: boolean | undefined
  tcpBacklog?: number | undefined
  distinctAddresses?: boolean | undefined
  masterPort?: number | undefined
}

/** @internal Validate and fill in defaults. */
export function resolve(options: LabOptions): Resolved {
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
  if (o.tcpBacklog !== undefined && (!Number.isInteger(o.tcpBacklog) || o.tcpBacklog < 1)) {
    throw new LabError('Expected `tcpBacklog` to be an integer >= 1.')
  }
  if (o.masterPort !== undefined && (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535)) {
    throw new LabError('Expected `masterPort` to be an integer from 1 to 65535.')
  }
  if (o.distinctAddresses && (o.hostnames || o.tls)) {
    throw new LabError('Expected `distinctAddresses` without `hostnames` and `tls`.')
  }
  if (o.distinctAddresses && o.replicas > 200)
    throw new LabError('Expected at most 200 `replicas` with `distinctAddresses`.')
  o.quorum = options.quorum ?? Math.min(2, o.sentinels)
  if (!Number.isInteger(o.quorum) || o.quorum < 1 || o.quorum > o.sentinels) {
    throw new LabError(`Expected \`quorum\` to be an integer from 1 to \`sentinels\` (${o.sentinels}).`)
  }
  return o
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}

/** @internal The address data node `i` (0: the master) listens on with `distinctAddresses`. */
export function dataNodeHost(i: number): string {
  return `127.0.0.${11 + i}`
}
