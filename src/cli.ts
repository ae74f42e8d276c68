#!/usr/bin/env node
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { type Topology, TwiceRedis, TwiceRedisError } from './index.js'
import { startLab } from './lab/index.js'

const usage = `twiceredis: a Redis Sentinel client that reads from replicas and writes to the master

Usage:
  twiceredis status [--json]         master, replicas (health, lag, why not eligible),
                                     sentinels (reachable, round trip), and the nodes a read
                                     and a write would use now
  twiceredis read <command...>       run one command on the read side, print the reply
  twiceredis write <command...>      run one command on the write side, print the reply
  twiceredis watch                   live sentinel events (switch-master, sdown/odown, ...)
  twiceredis lab up [--replicas N] [--sentinels N] [--name NAME]
                                     start a local Sentinel lab (real redis-server processes on
                                     loopback) until Ctrl-C or \`twiceredis lab down\`
  twiceredis lab down | status | failover
  twiceredis --help | --version

Where to connect (status, read, write, watch):
  --sentinels host:port,...   or TWICEREDIS_SENTINELS   (default: the running lab's)
  --name NAME                 or TWICEREDIS_MASTER_NAME (default: the running lab's, else mymaster)
  passwords never from arguments: TWICEREDIS_PASSWORD (or --ask-password: prompt without
  echo, or the first line of standard input), TWICEREDIS_USERNAME, TWICEREDIS_SENTINEL_PASSWORD

Exit codes: 0 ok, 1 unexpected error, 2 bad usage or INVALID_OPTION, 3 no lab running,
  10 REDIS_SERVER_NOT_FOUND, 11 LAB_FAILED, 20 NO_SENTINEL_REACHABLE, 21 MASTER_NOT_FOUND,
  22 NO_HEALTHY_REPLICA, 23 AUTH_FAILED, 24 the command got an error reply.`

const exitCodes: Record<string, number> = {
  INVALID_OPTION: 2,
  REDIS_SERVER_NOT_FOUND: 10,
  LAB_FAILED: 11,
  NO_SENTINEL_REACHABLE: 20,
  MASTER_NOT_FOUND: 21,
  NO_HEALTHY_REPLICA: 22,
  AUTH_FAILED: 23,
}

/** Where `lab up` tells the other commands about itself. */
const stateFile =
  process.env.TWICEREDIS_LAB_STATE ?? join(tmpdir(), `twiceredis-lab-${process.getuid?.() ?? 'user'}.json`)

interface LabState {
  pid: number
  masterName: string
  sentinels: string[]
  master: string
  replicas: string[]
}

class UsageError extends Error {}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function readState(): LabState | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LabState
    process.kill(state.pid, 0)
    return state
  } catch {
    return undefined
  }
}

/**
 * Read a password without echoing it: from the terminal in raw mode, or the first line of
 * standard input when it is not a terminal (for scripts: `printf %s "$PW" | twiceredis ...`).
 */
function askPassword(prompt: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    return new Promise((resolve) => {
      let data = ''
      stdin.setEncoding('utf8')
      stdin.on('data', (chunk) => {
        data += chunk
      })
      stdin.on('end', () => resolve(data.split('\n')[0] ?? ''))
    })
  }
  process.stderr.write(prompt)
  return new Promise((resolve) => {
    let password = ''
    stdin.setRawMode(true)
    stdin.setEncoding('utf8')
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false)
          stdin.off('data', onData)
          stdin.pause()
          process.stderr.write('\n')
          resolve(password)
          return
        }
        if (ch === '\u0003') process.exit(130)
        password = ch === '\u007f' ? password.slice(0, -1) : password + ch
      }
    }
    stdin.on('data', onData)
  })
}

/** Connection settings from flags, the environment, or the running lab; passwords never from arguments. */
async function connect(args: string[]): Promise<{ tr: TwiceRedis; rest: string[]; json: boolean }> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      sentinels: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean' },
      'ask-password': { type: 'boolean' },
    },
    allowPositionals: true,
  })
  const asked = values['ask-password'] ? await askPassword('Redis password: ') : undefined
  const lab = readState()
  const sentinels = (values.sentinels ?? process.env.TWICEREDIS_SENTINELS ?? lab?.sentinels.join(','))?.split(',')
  if (!sentinels?.length)
    throw new UsageError('no sentinels: pass --sentinels host:port,... or set TWICEREDIS_SENTINELS')
  const name = values.name ?? process.env.TWICEREDIS_MASTER_NAME ?? lab?.masterName ?? 'mymaster'
  const env = process.env
  const tr = new TwiceRedis({
    name,
    sentinels: sentinels.filter(Boolean),
    password: asked ?? (env.TWICEREDIS_PASSWORD || undefined),
    username: env.TWICEREDIS_USERNAME || undefined,
    sentinelPassword: env.TWICEREDIS_SENTINEL_PASSWORD || undefined,
    // One-shot commands: fail fast rather than retry.
    redisOptions: { maxRetriesPerRequest: 2 },
  })
  return { tr, rest: positionals, json: values.json ?? false }
}

/** `host:port` or `[v6]:port` into ioredis' fields. */
function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) }
}

function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n')
}

function printTopology(t: Topology, use: { read?: string; write?: string }): void {
  console.log(`master name  ${t.name}`)
  console.log(`master       ${t.master?.address ?? '(unknown)'}`)
  console.log('\nreplicas')
  if (t.replicas.length === 0) console.log('  (none)')
  else
    console.log(
      columns([
        ['ADDRESS', 'FLAGS', 'LINK', 'LAG', 'ELIGIBLE', 'REASON'],
        ...t.replicas.map((r) => [
          r.address,
          r.flags.join(','),
          r.linkStatus,
          r.lagBytes === undefined ? '?' : `${r.lagBytes} B`,
          r.eligible ? 'yes' : 'no',
          r.reason ?? '',
        ]),
      ]),
    )
  console.log('\nsentinels')
  console.log(
    columns([
      ['ADDRESS', 'REACHABLE', 'RTT', 'NOTE'],
      ...t.sentinels.map((s) => [
        s.address,
        s.reachable ? 'yes' : 'no',
        s.rttMs === undefined ? '' : `${s.rttMs} ms`,
        s.error ?? (s.knowsMaster === false ? `does not know "${t.name}"` : ''),
      ]),
    ]),
  )
  console.log(`\na read would use   ${use.read ?? '(none)'}`)
  console.log(`a write would use  ${use.write ?? '(none)'}`)
}

async function status(args: string[]): Promise<number> {
  const { tr, json } = await connect(args)
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
    if (json) console.log(JSON.stringify({ ...topology, use }, null, 2))
    else printTopology(topology, use)
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

/** Print a reply the way redis-cli does. */
function formatReply(reply: unknown, indent = ''): string {
  if (reply === null || reply === undefined) return '(nil)'
  if (typeof reply === 'number') return `(integer) ${reply}`
  if (Buffer.isBuffer(reply)) return reply.toString()
  if (Array.isArray(reply)) {
    if (reply.length === 0) return '(empty array)'
    const width = String(reply.length).length
    return reply
      .map(
        (item, i) =>
          `${i ? indent : ''}${String(i + 1).padStart(width)}) ${formatReply(item, `${indent}${' '.repeat(width + 2)}`)}`,
      )
      .join('\n')
  }
  return String(reply)
}

async function run(side: 'read' | 'write', args: string[]): Promise<number> {
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

function summary(t: Topology): string {
  const replicas = t.replicas.map((r) => `${r.address}${r.eligible ? '' : ` (${r.reason})`}`).join(', ')
  return `master ${t.master?.address ?? '(unknown)'}, replicas ${replicas || '(none)'}`
}

async function watch(args: string[]): Promise<number> {
  const { tr } = await connect(args)
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
    const sub = new Redis({
      ...hostPort(s.address),
      password: process.env.TWICEREDIS_SENTINEL_PASSWORD || undefined,
      protocol: 2,
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

function printState(state: LabState): void {
  console.log(`master name: ${state.masterName}`)
  console.log(`sentinels:   ${state.sentinels.join(',')}`)
  console.log(`master:      ${state.master}`)
  console.log(`replicas:    ${state.replicas.join(', ')}`)
  console.log(`\ntry: twiceredis status   (or TWICEREDIS_SENTINELS=${state.sentinels.join(',')})`)
}

async function labUp(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { replicas: { type: 'string' }, sentinels: { type: 'string' }, name: { type: 'string' } },
  })
  if (readState()) {
    console.error('a lab is already running (see `twiceredis lab status`); stop it with `twiceredis lab down`')
    return 2
  }
  console.log('starting redis-server processes ...')
  const lab = await startLab({
    masterName: values.name,
    replicas: values.replicas === undefined ? undefined : Number(values.replicas),
    sentinels: values.sentinels === undefined ? undefined : Number(values.sentinels),
  })
  const state: LabState = {
    pid: process.pid,
    masterName: lab.masterName,
    sentinels: lab.sentinels.map((s) => s.address),
    master: lab.master.address,
    replicas: lab.replicas.map((r) => r.address),
  }
  writeFileSync(stateFile, JSON.stringify(state))
  printState(state)
  console.log('\nlab is up; Ctrl-C or `twiceredis lab down` stops it')
  const keepAlive = setInterval(() => {}, 1 << 30)
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => resolve())
  })
  clearInterval(keepAlive)
  await lab.stop()
  rmSync(stateFile, { force: true })
  console.log('lab stopped')
  return 0
}

async function lab(sub: string | undefined, rest: string[]): Promise<number> {
  if (sub === 'up') return labUp(rest)
  const state = readState()
  if (!state) {
    console.error('no lab is running; start one with `twiceredis lab up`')
    return 3
  }
  if (sub === 'status') {
    printState(state)
    return 0
  }
  if (sub === 'down') {
    process.kill(state.pid, 'SIGTERM')
    for (let i = 0; i < 100 && readState(); i++) await new Promise((r) => setTimeout(r, 100))
    console.log('lab stopped')
    return 0
  }
  if (sub === 'failover') {
    const sentinel = new Redis({ ...hostPort(state.sentinels[0]!), protocol: 2, lazyConnect: true })
    try {
      console.log(await sentinel.call('SENTINEL', 'FAILOVER', state.masterName))
      console.log('failover started; `twiceredis status` shows the new master within seconds')
    } finally {
      sentinel.disconnect()
    }
    return 0
  }
  throw new UsageError(`unknown command "lab ${sub ?? ''}"`)
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') {
    console.log(version())
    return 0
  }
  try {
    switch (command) {
      case 'status':
        return await status(rest)
      case 'read':
      case 'write':
        return await run(command, rest)
      case 'watch':
        return await watch(rest)
      case 'lab':
        return await lab(rest[0], rest.slice(1))
      default:
        throw new UsageError(`unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof TwiceRedisError) {
      console.error(`twiceredis: ${err.message} [${err.code}]`)
      return exitCodes[err.code] ?? 1
    }
    const parseError = err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')
    if (err instanceof UsageError || parseError) {
      console.error(`twiceredis: ${(err as Error).message}\n\n${usage}`)
      return 2
    }
    throw err
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error(err)
    process.exitCode = 1
  },
)
