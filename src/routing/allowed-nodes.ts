import { BlockList, isIP } from 'node:net'
import { InvalidOptionError } from '../errors.js'

/**
 * `allowedNodes`: where data nodes may be, so that a sentinel (lying, compromised, or behind the
 * wrong NAT) cannot send an application's traffic and credentials elsewhere. Entries are CIDR
 * blocks (`10.0.0.0/8`, `fd00::/8`), single addresses (`10.1.2.3`), and host names, exact
 * (`redis-0.example`) or with a leading `*.` for any name below a domain
 * (`*.redis.svc.cluster.local`). Host names are compared as names (no DNS lookup), case-insensitively.
 */
export type AllowedNodes = ((host: string) => boolean) & {
  /** The entries as given, normalized (lower case, sorted): equal lists allow the same nodes. */
  readonly entries: readonly string[]
}

const HOST_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i

/** Parse the option into a predicate over hosts; `INVALID_OPTION` naming the first bad entry. */
export function parseAllowedNodes(entries: unknown, key = 'allowedNodes'): AllowedNodes {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new InvalidOptionError(key, 'a non-empty array of CIDR blocks, addresses or host name patterns')
  }
  const blocks = new BlockList()
  const names: string[] = []
  const suffixes: string[] = []
  for (const [i, entry] of entries.entries()) {
    const bad = () =>
      new InvalidOptionError(
        `${key}[${i}]`,
        'a CIDR block (10.0.0.0/8, fd00::/8), an address or a host name (*.example.com)',
      )
    if (typeof entry !== 'string') throw bad()
    const [network, prefix, ...rest] = entry.split('/')
    const family = isIP(network ?? '')
    if (family) {
      const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix)
      if (rest.length || !/^\d+$/.test(prefix ?? String(bits)) || bits > (family === 4 ? 32 : 128)) throw bad()
      blocks.addSubnet(network!, bits, family === 4 ? 'ipv4' : 'ipv6')
    } else if (prefix === undefined && HOST_NAME.test(entry)) {
      if (entry.startsWith('*.')) suffixes.push(entry.slice(1).toLowerCase())
      else names.push(entry.toLowerCase())
    } else {
      throw bad()
    }
  }
  const allowed = (host: string) => {
    const bare = host.replace(/^\[|\]$/g, '')
    const family = isIP(bare)
    if (family) return blocks.check(bare, family === 4 ? 'ipv4' : 'ipv6')
    const name = bare.toLowerCase().replace(/\.$/, '')
    return names.includes(name) || suffixes.some((suffix) => name.endsWith(suffix))
  }
  return Object.assign(allowed, { entries: (entries as string[]).map((e) => e.toLowerCase()).sort() })
}
