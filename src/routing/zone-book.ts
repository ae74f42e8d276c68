import { InvalidOptionError } from '../errors.js'
import { parseAllowedNodes } from './allowed-nodes.js'

/**
 * `zones`: which availability zone a host is in, from the operator's map (zone name -> CIDR
 * blocks, addresses, host names or `*.domain` patterns, the syntax of `allowedNodes`). The first
 * zone (in the object's order) whose list matches wins; `undefined` for a host in none.
 */
export type ZoneMap = (host: string) => string | undefined

/** Where a node's zone came from: its own announcement (Valkey 8.1+ `availability_zone`) or `zones`. */
export type ZoneSource = 'announced' | 'map'

/** Parse the option; `INVALID_OPTION` naming the first bad zone or entry. */
export function parseZones(value: unknown, key = 'zones'): ZoneMap {
  const expected = 'an object of zone name -> CIDR blocks, addresses or host name patterns'
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidOptionError(key, expected)
  const zones = Object.entries(value).map(([zone, nodes]) => {
    if (zone.length === 0) throw new InvalidOptionError(key, 'zone names that are not empty')
    return { zone, has: parseAllowedNodes(nodes, `${key}.${zone}`) }
  })
  if (zones.length === 0) throw new InvalidOptionError(key, expected)
  return (host) => zones.find((z) => z.has(host))?.zone
}

/**
 * The zone of a node: what it announces itself wins over the map (the operator's map may be out
 * of date; the node's own config is not); `undefined` when neither says.
 */
export function zoneOf(
  announced: string | undefined,
  hosts: readonly string[],
  map: ZoneMap | undefined,
): { zone: string; source: ZoneSource } | undefined {
  if (announced) return { zone: announced, source: 'announced' }
  for (const host of hosts) {
    const zone = map?.(host)
    if (zone !== undefined) return { zone, source: 'map' }
  }
  return undefined
}

/** The zones nodes announced themselves (`availability_zone` in `INFO server`), over the `zones` map. */
export class ZoneBook {
  /** Announced zones by address. */
  readonly #announced = new Map<string, string>()

  constructor(private readonly map: ZoneMap | undefined) {}

  /** The zone of the node at `address`: its announcement, else the map for the first of `hosts` it places. */
  of(address: string, hosts: readonly string[]): { zone: string; source: ZoneSource } | undefined {
    return zoneOf(this.#announced.get(address), hosts, this.map)
  }

  /** The node at `address` announced `zone` (if any): whether that is news. */
  announce(address: string, zone: string | undefined): boolean {
    if (!zone || this.#announced.get(address) === zone) return false
    this.#announced.set(address, zone)
    return true
  }
}
