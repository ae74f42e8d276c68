#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { TwiceRedisError } from '../index.js'
import { exitCodes, run, status, watch } from './commands.js'
import { UsageError } from './connect.js'
import { lab } from './lab.js'

const usage = `twiceredis: a Redis Sentinel client that reads from replicas and writes to the master

Usage:
  twiceredis status [--json]         master, replicas (health, lag, why not eligible),
                                     sentinels (reachable, round trip), and the nodes a read
                                     and a write would use now
  twiceredis read <command...>       run one command on the read side, print the reply
  twiceredis write <command...>      run one command on the write side, print the reply
  twiceredis watch                   live sentinel events (switch-master, sdown/odown, ...)
  twiceredis lab up [--replicas N] [--sentinels N] [--name NAME] [--hostnames]
                                     start a local Sentinel lab (real redis-server processes on
                                     loopback) until Ctrl-C or \`twiceredis lab down\`
  twiceredis lab down | status | failover
  twiceredis --help | --version

Where to connect (status, read, write, watch):
  --sentinels host:port,...   or TWICEREDIS_SENTINELS   (default: the running lab's)
  --name NAME                 or TWICEREDIS_MASTER_NAME (default: the running lab's, else mymaster)
  --allowed-nodes CIDR,...    or TWICEREDIS_ALLOWED_NODES: where data nodes may be (10.0.0.0/8,
                              *.redis.svc.cluster.local); nothing else is connected to
  --client-zone ZONE          or TWICEREDIS_CLIENT_ZONE: read from this zone's replicas first
  --zones ZONE=CIDR,...;...   or TWICEREDIS_ZONES: where each zone's nodes are (a=10.0.1.0/24;b=10.0.2.0/24)
  --max-staleness-ms MS       or TWICEREDIS_MAX_STALENESS_MS: skip replicas estimated further behind
  passwords never from arguments: TWICEREDIS_PASSWORD (or --ask-password: prompt without
  echo, or the first line of standard input), TWICEREDIS_USERNAME, TWICEREDIS_SENTINEL_PASSWORD

Exit codes: 0 ok, 1 unexpected error, 2 bad usage or INVALID_OPTION, 3 no lab running,
  10 REDIS_SERVER_NOT_FOUND, 11 LAB_FAILED, 20 NO_SENTINEL_REACHABLE, 21 MASTER_NOT_FOUND,
  22 NO_HEALTHY_REPLICA, 23 AUTH_FAILED, 24 the command got an error reply, 25 NODE_NOT_ALLOWED.`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
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
