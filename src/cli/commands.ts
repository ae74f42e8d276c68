import { type TwiceRedis, TwiceRedisError } from '../index.js'
import { parseSentinel } from '../options/normalize.js'
import { connectSentinel } from '../sentinels/sentinel-query.js'
import { connect, UsageError } from './connect.js'
import { measureLag } from './lag.js'
import { formatReply, printTopology, summary } from './print.js'

/** Exit codes by error code (README and usage list them). */
export const exitCodes: Record<string, number> = {
  INVALID_OPTION: 2,
  REDIS_SERVER_NOT_FOUND: 10,
  LAB_FAILED: 11,
  NO_SENTINEL_REACHABLE: 20,
  MASTER_NOT_FOUND: 21,
  NO_HEALTHY_REPLICA: 22,
  AUTH_FAILED: 23,
  NODE_NOT_ALLOWED: 25,
}

export async function status(args: string[]): Promise<number> {
  const { tr, json, options } = await connect(args)
  try {
    const use: { read?: string; write?: string } = {}
    const errors: TwiceRedisError[] = []
    const side = async (client: TwiceRedis['master'], key: 'read' | 'write') => {
      try {
        await client.ping()
        use[key] = `${client.node?.address} (${client.node?.role})`
      } catch (err) {
        if (err instanceof TwiceRedisError) errors.push(err)
        else throw err
      }
    }
    await side(tr.master, 'write')
    await side(tr.slave, 'read')
    const topology = await tr.topology()
    const lag = await measureLag(tr, options, topology.replicas)
    const replicas = topology.replicas.map((r) => {
      const measured = lag.get(r.address)
      return { ...r, lagBytes: measured?.bytes ?? r.lagBytes, lag: measured }
    })
    if (json) console.log(JSON.stringify({ ...topology, replicas, use }, null, 2))
    else printTopology({ ...topology, replicas }, use)
    const first = errors[0]
    if (first) {
      console.error(`\ntwiceredis: ${first.message} [${first.code}]`)
      return exitCodes[first.code] ?? 1
    }
    return 0
  } finally {
    await tr.quit()
  }
}

export async function run(side: 'read' | 'write', args: string[]): Promise<number> {
  const { tr, rest } = await connect(args)
  const [command, ...commandArgs] = rest
  if (!command) throw new UsageError(`twiceredis ${side} needs a command, e.g. twiceredis ${side} GET key`)
  try {
    const client = side === 'read' ? tr.slave : tr.master
    let reply: unknown
    try {
      reply = await client.call(command, ...commandArgs)
    } catch (err) {
      if (err instanceof TwiceRedisError) throw err
      console.error(`(error) ${(err as Error).message}`)
      return 24
    }
    console.log(formatReply(reply))
    return 0
  } finally {
    await tr.quit()
  }
}

export async function watch(args: string[]): Promise<number> {
  const { tr, options } = await connect(args)
  const topology = await tr.topology()
  console.log(`watching "${topology.name}": ${summary(topology)}`)
  const ours = new RegExp(`(^|@ )${topology.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `)
  // After events that change the picture, print the topology again (once per burst of events).
  let refresh: NodeJS.Timeout | undefined
  const changed = () => {
    clearTimeout(refresh)
    refresh = setTimeout(async () => {
      const now = await tr.topology().catch(() => undefined)
      if (now) console.log(`${new Date().toISOString().slice(11, 23)}  now: ${summary(now)}`)
    }, 500)
  }
  const subscribers = topology.sentinels.map((s) => {
    const sub = connectSentinel(options, parseSentinel(s.address), {
      retryStrategy: () => 500,
      maxRetriesPerRequest: null,
    })
    sub.on('error', () => {})
    sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
      if (channel.startsWith('__') || !ours.test(message)) return
      console.log(`${new Date().toISOString().slice(11, 23)}  ${s.address}  ${channel} ${message}`)
      if (/^[+-](switch-master|sdown|odown)$/.test(channel)) changed()
    })
    sub.psubscribe('*').catch(() => {})
    return sub
  })
  console.log(`listening on ${subscribers.length} sentinel(s); Ctrl-C to stop`)
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve())
  })
  clearTimeout(refresh)
  for (const sub of subscribers) sub.disconnect()
  await tr.quit()
  return 0
}
