/** Config files for the lab's processes. Pure: text in, text out. */
import type { LabCertificates } from './tls.js'

/**
 * What every lab process shares: loopback only, in the foreground, files in the lab dir. With TLS
 * it listens on `tls-port` only and talks TLS to its master (and sentinels to everyone).
 */
function common(c: {
  port: number
  dir: string
  name: string
  tls?: LabCertificates | undefined
  host?: string | undefined
}): string[] {
  const base = [
    `bind ${c.host ?? '127.0.0.1'}`,
    'protected-mode no',
    'daemonize no',
    `dir ${c.dir}`,
    `logfile ${c.name}.log`,
  ]
  const tls = c.tls
  if (!tls) return [`port ${c.port}`, ...base]
  return [
    ...base,
    'port 0',
    `tls-port ${c.port}`,
    `tls-cert-file ${tls.certFile}`,
    `tls-key-file ${tls.keyFile}`,
    `tls-ca-cert-file ${tls.caFile}`,
    'tls-auth-clients no',
    'tls-replication yes',
  ]
}

/** The ACL user sentinels authenticate as on the data nodes (so the lab can cut them off alone). */
export interface SentinelUser {
  name: string
  password: string
}

export interface DataNodeConfig {
  port: number
  dir: string
  name: string
  password?: string | undefined
  /** Port of the master this node replicates at start, if it is a replica. */
  replicaOf?: number | undefined
  /** The name nodes are announced by (`replica-announce-ip`), instead of their IP. */
  hostname?: string | undefined
  replTimeoutSec: number
  tls?: LabCertificates | undefined
  /** `tcp-backlog`; Redis' default (511) when not given. */
  tcpBacklog?: number | undefined
  /** A user for the sentinels alone. */
  sentinelUser?: SentinelUser | undefined
  /** The loopback address this node listens on and is announced by, when not 127.0.0.1. */
  host?: string | undefined
  /** The address of the master it replicates at start, when not 127.0.0.1. */
  masterHost?: string | undefined
}

export function dataNodeConfig(c: DataNodeConfig): string {
  return lines([
    ...common(c),
    `dbfilename ${c.name}.rdb`,
    'save ""',
    'appendonly no',
    // Diskless, undelayed full syncs: a replica is in sync within milliseconds.
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    'repl-ping-replica-period 1',
    `repl-timeout ${c.replTimeoutSec}`,
    c.password !== undefined && `requirepass ${quote(c.password)}`,
    c.password !== undefined && `masterauth ${quote(c.password)}`,
    c.tcpBacklog !== undefined && `tcp-backlog ${c.tcpBacklog}`,
    c.sentinelUser !== undefined &&
      `user ${c.sentinelUser.name} on ${quote(`>${c.sentinelUser.password}`)} ~* &* +@all`,
    c.hostname !== undefined && `replica-announce-ip ${c.hostname}`,
    // A replica's own address, not the source address of its link (127.0.0.1 on loopback).
    c.host !== undefined && `replica-announce-ip ${c.host}`,
    c.replicaOf !== undefined && `replicaof ${c.hostname ?? c.masterHost ?? '127.0.0.1'} ${c.replicaOf}`,
  ])
}

export interface SentinelConfig {
  port: number
  dir: string
  name: string
  masterName: string
  masterPort: number
  quorum: number
  downAfterMs: number
  failoverTimeoutMs: number
  /** Password of the data nodes. */
  password?: string | undefined
  /** Password of the sentinels themselves (also used between sentinels). */
  sentinelPassword?: string | undefined
  tls?: LabCertificates | undefined
  /** Monitor, announce and report nodes by this name, as Kubernetes charts do. */
  hostname?: string | undefined
  /** Authenticate to the data nodes as this user (instead of the default user with `password`). */
  sentinelUser?: SentinelUser | undefined
  /** The master's address, when not 127.0.0.1. */
  masterHost?: string | undefined
}

export function sentinelConfig(c: SentinelConfig): string {
  const m = c.masterName
  return lines([
    ...common(c),
    // Before `monitor`: the master is named by a host name only with resolve-hostnames.
    c.hostname !== undefined && 'sentinel resolve-hostnames yes',
    c.hostname !== undefined && 'sentinel announce-hostnames yes',
    c.hostname !== undefined && `sentinel announce-ip ${c.hostname}`,
    `sentinel monitor ${m} ${c.hostname ?? c.masterHost ?? '127.0.0.1'} ${c.masterPort} ${c.quorum}`,
    `sentinel down-after-milliseconds ${m} ${c.downAfterMs}`,
    `sentinel failover-timeout ${m} ${c.failoverTimeoutMs}`,
    c.sentinelUser !== undefined && `sentinel auth-user ${m} ${c.sentinelUser.name}`,
    c.sentinelUser !== undefined && `sentinel auth-pass ${m} ${quote(c.sentinelUser.password)}`,
    c.sentinelUser === undefined && c.password !== undefined && `sentinel auth-pass ${m} ${quote(c.password)}`,
    c.sentinelPassword !== undefined && `requirepass ${quote(c.sentinelPassword)}`,
    c.sentinelPassword !== undefined && `sentinel sentinel-pass ${quote(c.sentinelPassword)}`,
  ])
}

function lines(items: (string | false)[]): string {
  return `${items.filter(Boolean).join('\n')}\n`
}

/** Redis config strings: double-quoted with backslash escapes (a newline must not end the line). */
function quote(value: string): string {
  const escaped = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
  return `"${escaped}"`
}
