import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import { describe, it } from 'node:test'
import { Queue, Worker } from 'bullmq'
import RedisStore from 'connect-redis'
import session from 'express-session'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { withLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

describe('ioredis consumers work unchanged on tr.master and tr.slave', () => {
  it('rate-limiter-flexible: RateLimiterRedis', () =>
    withLab(async (_lab, open) => {
      const tr = open()
      const limiter = new RateLimiterRedis({ storeClient: tr.master, keyPrefix: 'rl', points: 3, duration: 5 })
      for (let i = 0; i < 3; i++) await limiter.consume('user-1')
      await assert.rejects(limiter.consume('user-1'), (r: { remainingPoints?: number }) => r.remainingPoints === 0)
      assert.equal((await limiter.get('user-1'))?.consumedPoints, 4)
    }))

  it('connect-redis: an express-session store, sessions read back across requests', () =>
    withLab(async (_lab, open) => {
      const tr = open()
      const middleware = session({
        store: new RedisStore({ client: tr.master, prefix: 'sess:' }),
        secret: 'test-secret',
        resave: false,
        saveUninitialized: false,
      })
      const server = createServer((req, res) => {
        middleware(req as never, res as never, () => {
          const s = (req as unknown as { session: { visits?: number } }).session
          s.visits = (s.visits ?? 0) + 1
          res.end(String(s.visits))
        })
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      const { port } = server.address() as { port: number }
      const get = (cookie?: string) =>
        new Promise<{ body: string; cookie?: string }>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, headers: cookie ? { cookie } : {} }, (res) => {
            let body = ''
            res.on('data', (d) => {
              body += d
            })
            res.on('end', () => resolve({ body, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] }))
          })
          req.on('error', reject)
          req.end()
        })
      try {
        const first = await get()
        assert.equal(first.body, '1')
        assert.ok(first.cookie)
        assert.equal((await get(first.cookie)).body, '2')
        assert.equal((await get(first.cookie)).body, '3')
        assert.equal((await tr.master.keys('sess:*')).length, 1)
      } finally {
        await new Promise((r) => server.close(r))
      }
    }))

  it('pub/sub on both sides re-subscribes by itself after a failover', () =>
    withLab(async (lab, open) => {
      const sub = open()
      const pub = open()
      const got: Record<string, string[]> = { replica: [], master: [] }
      sub.slave.on('message', (_c: string, m: string) => got.replica!.push(m))
      sub.master.on('message', (_c: string, m: string) => got.master!.push(m))
      await sub.slave.subscribe('news')
      await sub.master.subscribe('news')
      await pub.master.publish('news', 'before')
      await until(() => got.replica!.includes('before') && got.master!.includes('before'), 'messages before')
      await lab.kill(lab.master)
      await lab.waitForNewMaster()
      let n = 0
      await until(
        () => got.replica!.some((m) => m.startsWith('after')) && got.master!.some((m) => m.startsWith('after')),
        'messages after the failover on both sides',
        20_000,
        async () => {
          await pub.master.publish('news', `after-${n++}`).catch(() => {})
        },
      )
    }))

  it('BullMQ: a queue and a worker through a master kill; every added job processed exactly once', () =>
    withLab(async (lab, open) => {
      // BullMQ's documented requirement for worker connections: maxRetriesPerRequest null.
      const producer = open()
      const consumer = open({ maxRetriesPerRequest: null }) // where BullMQ's docs put it
      const queue = new Queue('jobs', { connection: producer.master })
      const processed = new Map<number, number>()
      const worker = new Worker(
        'jobs',
        async (job) => {
          processed.set(job.data.n, (processed.get(job.data.n) ?? 0) + 1)
        },
        { connection: consumer.master, concurrency: 4, stalledInterval: 1000 },
      )
      queue.on('error', () => {})
      worker.on('error', () => {})
      const added = new Set<number>()
      const failed = new Set<number>()
      try {
        let killed: Promise<unknown> | undefined
        for (let n = 0; n < 80; n++) {
          if (n === 40) killed = lab.kill(lab.master).then(() => lab.waitForNewMaster())
          try {
            await queue.add('job', { n }, { removeOnComplete: true })
            added.add(n)
          } catch {
            failed.add(n)
          }
          await new Promise((r) => setTimeout(r, 20))
        }
        await killed
        await until(() => [...added].every((n) => processed.has(n)), 'every added job to be processed', 30_000)
        for (const [n, count] of processed) {
          assert.equal(count, 1, `job ${n} processed ${count} times`)
          assert.ok(added.has(n) || failed.has(n))
        }
        assert.ok(added.size >= 70, `only ${added.size} of 80 adds succeeded (failed: ${[...failed]})`)
      } finally {
        await worker.close()
        await queue.close()
      }
    }))
})
