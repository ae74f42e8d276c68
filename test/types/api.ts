// Type tests, checked by `npm run typecheck` (part of `npm run lint`); nothing here runs.
import type { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisClient } from '../../src/index.js'

declare const tr: TwiceRedis
const takesRedis = (client: Redis) => client

// Either side can be handed to anything that takes an ioredis client, duplicates too.
takesRedis(tr.master)
takesRedis(tr.slave)
takesRedis(tr.master.duplicate())

// The aliases are the same type.
export const aliases: TwiceRedisClient[] = [tr.write, tr.read, tr.replica]

// ioredis' command types are kept.
export const reply: Promise<string | null> = tr.slave.get('key')

// Options reject typos.
// @ts-expect-error `readFalback` is not an option
new TwiceRedis('mymaster', ['127.0.0.1:26379'], undefined, { readFalback: true })
// @ts-expect-error twiceredis sets `host` itself
new TwiceRedis({ name: 'mymaster', sentinels: ['127.0.0.1:26379'], redisOptions: { host: 'x' } })
// @ts-expect-error twiceredis sets `host` itself, at the top level too
new TwiceRedis('mymaster', ['127.0.0.1:26379'], undefined, { host: 'x' })

// ioredis options at the top level, as BullMQ's and other libraries' docs write them.
new TwiceRedis('mymaster', ['127.0.0.1:26379'], 'pw', { maxRetriesPerRequest: null, enableAutoPipelining: true })
new TwiceRedis({ name: 'mymaster', sentinels: ['127.0.0.1:26379'], keyPrefix: 'app:', tls: {} })

// Credentials and db where ioredis users write them: in the option objects, per side.
new TwiceRedis({
  name: 'mymaster',
  sentinels: ['127.0.0.1:26379'],
  redisOptions: { username: 'app', password: 'pw' },
  replicaOptions: { db: 2 },
})
// @ts-expect-error db is a number
new TwiceRedis({ name: 'mymaster', sentinels: ['127.0.0.1:26379'], masterOptions: { db: '2' } })
