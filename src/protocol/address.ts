/** How twiceredis spells a node's address, and where `natMap` says to reach it. Pure. */
import type { NatMap } from 'ioredis'
import type { Target } from '../events.js'

/** `host:port`, with an IPv6 host in brackets (`[::1]:6379`): the one spelling of an address everywhere. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Apply `natMap`: `address` stays the announced one; `host`/`port` are where to connect. */
export function natTarget(natMap: NatMap | undefined, host: string, port: number, role: Target['role']): Target {
  const address = formatAddress(host, port)
  const mapped = typeof natMap === 'function' ? natMap(address) : natMap?.[address]
  return { host: mapped?.host ?? host, port: mapped?.port ?? port, address, announcedHost: host, role }
}
