import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { LabError, RedisServerNotFoundError } from '../errors.js'

/** One `redis-server` process the lab started: a data node or a sentinel. */
export interface LabNode {
  /** Stable name within the lab: `master`, `replica-1`, `sentinel-1`, ... (the initial role). */
  readonly name: string
  readonly kind: 'data' | 'sentinel'
  /** How the sentinels announce it: `127.0.0.1`, or `localhost` in a lab with `hostnames`. */
  readonly host: string
  readonly port: number
  /** `host:port`, the form sentinels report. */
  readonly address: string
}

/** Where `redis-server` lives; found once per process. */
let binary: string | undefined

export function findRedisServer(): string {
  if (binary) return binary
  const candidates = [process.env.TWICEREDIS_REDIS_SERVER, 'redis-server'].filter(Boolean) as string[]
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' })
      binary = candidate
      return candidate
    } catch {}
  }
  throw new RedisServerNotFoundError()
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Every live child and temp dir of every lab in this process, cleaned up if it exits without `stop()`. */
const live = new Set<ChildProcess>()
export const liveDirs = new Set<string>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * A running `redis-server`: spawned from a config file in the lab's temp dir, killed by pid.
 * Children are unref'd so a forgotten lab never keeps a test process alive; the exit hook
 * above kills them when that process ends.
 */
export class ServerProcess implements LabNode {
  readonly address: string
  readonly confPath: string
  readonly logPath: string
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()

  constructor(
    readonly name: string,
    readonly kind: 'data' | 'sentinel',
    readonly host: string,
    readonly port: number,
    dir: string,
    private readonly password: string | undefined,
    private readonly tls: { ca: string } | undefined,
  ) {
    this.address = `${host}:${port}`
    this.confPath = join(dir, `${name}.conf`)
    this.logPath = join(dir, `${name}.log`)
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  writeConfig(text: string): void {
    writeFileSync(this.confPath, text)
  }

  /** Spawn and wait until the server answers, as itself (bounded by `timeoutMs`). */
  async start(timeoutMs: number): Promise<void> {
    const args = [this.confPath, ...(this.kind === 'sentinel' ? ['--sentinel'] : [])]
    const child = spawn(findRedisServer(), args, { stdio: 'ignore', detached: false })
    child.unref()
    live.add(child)
    this.#child = child
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        live.delete(child)
        if (this.#child === child) this.#child = undefined
        resolve()
      })
    })
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (!this.#child) throw new LabError(`${this.name} (${this.address}) exited during start-up; see ${this.logPath}`)
      let pid: number | undefined
      try {
        pid = Number(/process_id:(\d+)/.exec(String(await this.command(['INFO', 'server'], 250)))?.[1]) || undefined
      } catch {}
      if (pid === child.pid) return
      // Another lab took the port in between: ours fails to bind and exits, and theirs answers.
      if (pid !== undefined)
        throw new LabError(`${this.name}: port ${this.port} is taken by another server (pid ${pid})`)
      await sleep(25)
    }
    throw new LabError(`${this.name} (${this.address}) did not answer PING within ${timeoutMs} ms`)
  }

  /** Run one command on this node over a short-lived connection. */
  command(args: (string | number)[], timeoutMs = 2000): Promise<unknown> {
    return this.commands([args], timeoutMs)
  }

  /** Run commands one after another on this node over one short-lived connection: the last one's reply. */
  async commands(list: (string | number)[][], timeoutMs = 2000): Promise<unknown> {
    if (!this.#child) throw new LabError(`${this.name} (${this.address}) is not running (killed? restart() it first)`)
    const client = new Redis({
      host: this.host,
      port: this.port,
      password: this.password,
      tls: this.tls,
      lazyConnect: true,
      enableReadyCheck: false,
      enableOfflineQueue: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
    })
    client.on('error', () => {})
    try {
      let reply: unknown
      for (const [name, ...rest] of list) {
        reply = await client.call(String(name), ...rest).catch((error: Error) => {
          if (error.message !== 'Command timed out') throw error
          throw new LabError(`${this.name} (${this.address}) did not answer ${name} within ${timeoutMs} ms`, {
            cause: error,
          })
        })
      }
      return reply
    } finally {
      client.disconnect()
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.#child) throw new LabError(`${this.name} (${this.address}) is not running`)
    this.#child.kill(signal)
  }

  /** SIGKILL and wait for the process to be gone. Safe when already gone. */
  async kill(): Promise<void> {
    if (this.#child) {
      this.#child.ref() // keep the event loop up until the exit is seen
      this.#child.kill('SIGKILL')
      await this.#exited
    }
  }
}
