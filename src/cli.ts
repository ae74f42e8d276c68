#!/usr/bin/env node
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { TwiceRedisError } from './errors.js'
import { startLab } from './lab/index.js'

const usage = `twiceredis: a Redis Sentinel client that reads from replicas and writes to the master

Usage:
  twiceredis lab up [--replicas N] [--sentinels N] [--name NAME]
                         start a local Sentinel lab (real redis-server processes on
                         loopback) and keep it up until Ctrl-C or \`twiceredis lab down\`
  twiceredis lab down    stop the lab started by \`twiceredis lab up\`
  twiceredis lab status  print the running lab's sentinels and master name
  twiceredis --help      this text
  twiceredis --version   the version

Exit codes: 0 ok, 1 unexpected error, 2 bad usage, 3 no lab running,
            10 redis-server not found, 11 the lab failed to start.`

/** Where `lab up` tells `lab down`/`lab status` about itself. */
const stateFile =
  process.env.TWICEREDIS_LAB_STATE ?? join(tmpdir(), `twiceredis-lab-${process.getuid?.() ?? 'user'}.json`)

interface LabState {
  pid: number
  masterName: string
  sentinels: string[]
  master: string
  replicas: string[]
}

const exitCodes: Record<string, number> = { REDIS_SERVER_NOT_FOUND: 10, LAB_FAILED: 11 }

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

function printState(state: LabState): void {
  console.log(`master name: ${state.masterName}`)
  console.log(`sentinels:   ${state.sentinels.join(',')}`)
  console.log(`master:      ${state.master}`)
  console.log(`replicas:    ${state.replicas.join(', ')}`)
  console.log(`\ntry: TWICEREDIS_SENTINELS=${state.sentinels.join(',')} TWICEREDIS_MASTER_NAME=${state.masterName}`)
}

async function labUp(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { replicas: { type: 'string' }, sentinels: { type: 'string' }, name: { type: 'string' } },
  })
  if (readState()) {
    console.error(`a lab is already running (see \`twiceredis lab status\`); stop it with \`twiceredis lab down\``)
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

async function labDown(): Promise<number> {
  const state = readState()
  if (!state) {
    console.error('no lab is running')
    return 3
  }
  process.kill(state.pid, 'SIGTERM')
  for (let i = 0; i < 100 && readState(); i++) await new Promise((r) => setTimeout(r, 100))
  console.log('lab stopped')
  return 0
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') {
    console.log(version())
    return 0
  }
  try {
    if (command === 'lab' && sub === 'up') return await labUp(rest)
    if (command === 'lab' && sub === 'down') return await labDown()
    if (command === 'lab' && sub === 'status') {
      const state = readState()
      if (!state) {
        console.error('no lab is running; start one with `twiceredis lab up`')
        return 3
      }
      printState(state)
      return 0
    }
  } catch (err) {
    if (err instanceof TwiceRedisError) {
      console.error(`twiceredis: ${err.message} [${err.code}]`)
      return exitCodes[err.code] ?? 1
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`twiceredis: ${err.message}\n\n${usage}`)
      return 2
    }
    throw err
  }
  console.error(`twiceredis: unknown command "${argv.join(' ')}"\n\n${usage}`)
  return 2
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
