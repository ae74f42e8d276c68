import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where `lab up` tells the other commands about itself. */
export const stateFile =
  process.env.TWICEREDIS_LAB_STATE ?? join(tmpdir(), `twiceredis-lab-${process.getuid?.() ?? 'user'}.json`)

export interface LabState {
  pid: number
  masterName: string
  sentinels: string[]
  master: string
  replicas: string[]
}

export function readState(): LabState | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LabState
    process.kill(state.pid, 0)
    return state
  } catch {
    return undefined
  }
}
