// twiceredis with BullMQ, rate-limiter-flexible and connect-redis: they take an ioredis client,
// and tr.master is one. Run: npx tsx examples/ecosystem.ts
import { Queue, Worker } from 'bullmq'
import RedisStore from 'connect-redis'
import session from 'express-session'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab()
const name = lab.masterName
const sentinels = lab.sentinelAddresses
const password = undefined // the data nodes' password, if they have one
try {
  // BullMQ: queues on tr.master; workers need maxRetriesPerRequest: null (BullMQ's rule for
  // blocking connections), so give them their own TwiceRedis.
  const tr = new TwiceRedis({ name, sentinels })
  const workers = new TwiceRedis(name, sentinels, password, { maxRetriesPerRequest: null }) // as BullMQ's docs write it
  const queue = new Queue('emails', { connection: tr.master })
  const worker = new Worker('emails', async (job) => console.log('sending', job.data.to), {
    connection: workers.master,
  })

  // rate-limiter-flexible
  const limiter = new RateLimiterRedis({ storeClient: tr.master, points: 10, duration: 1 })

  // connect-redis (v7, which supports ioredis) for express-session
  const store = new RedisStore({ client: tr.master, prefix: 'sess:' })
  const sessions = session({ store, secret: 'change me', resave: false, saveUninitialized: false })

  const done = new Promise((resolve) => worker.once('completed', resolve))
  await queue.add('welcome', { to: 'ada@example.com' })
  await done
  console.log(
    'rate limit left:',
    (await limiter.consume('ada')).remainingPoints,
    '| session middleware:',
    typeof sessions,
  )
  await worker.close()
  await queue.close()
  await Promise.all([tr.quit(), workers.quit()])
  console.log('ecosystem: ok')
} finally {
  await lab.stop()
}
