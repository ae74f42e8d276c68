import { rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startLab } from '../lab/index.js'
import { normalize, parseSentinel } from '../options/normalize.js'
import { connectSentinel } from '../sentinels/sentinel-query.js'
import { UsageError } from './connect.js'
import { type LabState, readState, stateFile } from './lab-state.js'

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
    options: {
      replicas: { type: 'string' },
      sentinels: { type: 'string' },
      name: { type: 'string' },
      hostnames: { type: 'boolean' },
    },
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
    hostnames: values.hostnames,
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

export async function lab(sub: string | undefined, rest: string[]): Promise<number> {
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
    const options = normalize({ name: state.masterName, sentinels: state.sentinels })
    const sentinel = connectSentinel(options, parseSentinel(state.sentinels[0]!), { lazyConnect: true })
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
