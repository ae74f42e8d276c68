import { parseArgs } from 'node:util'
import { TwiceRedis } from '../index.js'
import { normalize, type ResolvedOptions } from '../options/normalize.js'
import { readState } from './lab-state.js'

/** Bad usage: exit code 2 with the usage text. */
export class UsageError extends Error {}

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
export async function connect(
  args: string[],
): Promise<{ tr: TwiceRedis; options: ResolvedOptions; rest: string[]; json: boolean }> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      sentinels: { type: 'string' },
      'allowed-nodes': { type: 'string' },
      'client-zone': { type: 'string' },
      zones: { type: 'string' },
      'max-staleness-ms': { type: 'string' },
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
  const config = {
    name,
    sentinels: sentinels.filter(Boolean),
    password: asked ?? (env.TWICEREDIS_PASSWORD || undefined),
    username: env.TWICEREDIS_USERNAME || undefined,
    sentinelPassword: env.TWICEREDIS_SENTINEL_PASSWORD || undefined,
    allowedNodes: (values['allowed-nodes'] ?? env.TWICEREDIS_ALLOWED_NODES)?.split(',').filter(Boolean),
    clientZone: values['client-zone'] ?? (env.TWICEREDIS_CLIENT_ZONE || undefined),
    zones: parseZonesFlag(values.zones ?? (env.TWICEREDIS_ZONES || undefined)),
    maxStalenessMs: numberFlag(values['max-staleness-ms'] ?? (env.TWICEREDIS_MAX_STALENESS_MS || undefined)) as number,
    // One-shot commands: fail fast rather than retry.
    redisOptions: { maxRetriesPerRequest: 2 },
  }
  return { tr: new TwiceRedis(config), options: normalize(config), rest: positionals, json: values.json ?? false }
}

/** `a=10.0.1.0/24,10.0.1.9;b=10.0.2.0/24` -> `{ a: [...], b: [...] }` (checked by the `zones` option itself). */
function parseZonesFlag(text: string | undefined): Record<string, string[]> | undefined {
  if (text === undefined) return undefined
  const zones: Record<string, string[]> = {}
  for (const part of text.split(';').filter(Boolean)) {
    const [zone = '', nodes = ''] = part.split('=', 2)
    zones[zone.trim()] = nodes.split(',').filter(Boolean)
  }
  return zones
}

/** A number flag as a number (anything else is left for the option's own check to refuse). */
function numberFlag(text: string | undefined): number | string | undefined {
  return text === undefined || text.trim() === '' || Number.isNaN(Number(text)) ? text : Number(text)
}
