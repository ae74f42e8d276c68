/**
 * ioredis 6's `protocol` (RESP2 or RESP3) and `replyMapping` on the data connections: accepted
 * where any ioredis option is (top level, `redisOptions`, `masterOptions`, `replicaOptions`) and
 * passed to ioredis as they are; refused, with the reason, where they cannot be honoured.
 */
import { InvalidOptionError } from '../errors.js'
import { ioredisOptionNames } from '../ioredis-internals.js'
import type { DataRedisOptions } from './options.js'

type Key = 'protocol' | 'replyMapping'

/** Whether the installed ioredis speaks RESP3 (6+: it has a `protocol` option). */
export const resp3Installed = ioredisOptionNames().includes('protocol')

/** What {@link checkProtocols} reads of the resolved options. */
interface Layers {
  consistency: 'eventual' | 'session'
  redisOptions: DataRedisOptions
  masterOptions: DataRedisOptions
  replicaOptions: DataRedisOptions
}

/**
 * Check both sides' protocol and reply mapping. `resp3`: the installed ioredis speaks RESP3 (6+);
 * `top`: the ioredis options written at the top level (already merged into `redisOptions`), to
 * name the option where the application wrote it.
 */
export function checkProtocols(o: Layers, resp3: boolean, top: Record<string, unknown>): void {
  const mappings = (['master', 'replica'] as const).map((side) => {
    const own = (side === 'master' ? o.masterOptions : o.replicaOptions) as Record<string, unknown>
    const shared = o.redisOptions as Record<string, unknown>
    const where = (key: Key) => {
      if (own[key] !== undefined) return `${side}Options.${key}`
      return key in top && top[key] === shared[key] ? key : `redisOptions.${key}`
    }
    const value = (key: Key) => own[key] ?? shared[key]
    const protocol = value('protocol')
    const mapping = value('replyMapping')
    if (!resp3) {
      for (const key of ['protocol', 'replyMapping'] as const) {
        if (value(key) === undefined || (key === 'protocol' && protocol === 2)) continue
        throw new InvalidOptionError(
          where(key),
          'left unset: ioredis 5 speaks RESP2 only (RESP3 and replyMapping need ioredis 6)',
        )
      }
      return 'legacy'
    }
    if (protocol !== undefined && protocol !== 2 && protocol !== 3) {
      throw new InvalidOptionError(where('protocol'), 'a RESP version: 2 or 3')
    }
    if (mapping !== undefined && mapping !== 'legacy' && mapping !== 'resp3') {
      throw new InvalidOptionError(where('replyMapping'), "'legacy' or 'resp3'")
    }
    if (mapping === 'resp3' && protocol === 2) {
      throw new InvalidOptionError(
        where('replyMapping'),
        "'legacy' or unset with `protocol: 2` (the 'resp3' mapping is only supported with protocol 3, as in ioredis)",
      )
    }
    return (mapping ?? 'legacy') as string
  })
  // A read the session cannot serve fresh on the replica is answered by the master, in its shapes.
  if (o.consistency === 'session' && mappings[0] !== mappings[1]) {
    throw new InvalidOptionError(
      'replyMapping',
      "the same on both sides with consistency 'session' (a read it moves to the master is answered in the master's shapes)",
    )
  }
}
