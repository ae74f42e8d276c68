// What an application sees through the published type declarations (dist/), checked against each
// ioredis of the CI matrix: `tsc --ignoreConfig --noEmit --strict --skipLibCheck false ...` in .ci/run.
import type { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisClient } from '../../dist/index.js'

const tr = new TwiceRedis('mymaster', ['127.0.0.1:26379'], 'pw', { maxRetriesPerRequest: null, keyPrefix: 'app:' })
const takesRedis = (client: Redis) => client
takesRedis(tr.master)
takesRedis(tr.slave.duplicate())
export const client: TwiceRedisClient = tr.read
export const reply: Promise<string | null> = tr.slave.get('key')
export const token: Promise<string> = tr.writeToken()
