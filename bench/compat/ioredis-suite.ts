/**
 * ioredis' own functional test suite, run twice against the same lab (master at 127.0.0.1:6379,
 * announced by the sentinels as `localhost`, the name the suite uses; `--announce-ip`: as 127.0.0.1):
 * once with plain ioredis, once with every client of the test files that targets the master
 * answered by `new TwiceRedis(...).master` (route.cjs). Prints each run's pass/fail/skip and the
 * tests that pass plain but fail routed.
 *
 *   npm run build   # the routed run loads dist/cjs
 *   npx tsx bench/compat/ioredis-suite.ts <ioredis checkout> [--consistency session]
 *     [--failover-detection outage] [--set <option>=<JSON>]... [--grep <mocha grep>]
 *     [--files <dir>/*.ts,...] [--keep <dir>] [--announce-ip]
 *
 * The checkout needs its dev dependencies (`npm install` there: mocha, ts-node, chai, sinon).
 * Cluster and sentinel test files are left out (they need their own servers).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startLab } from '../../src/lab/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    consistency: { type: 'string' },
    'failover-detection': { type: 'string' },
    grep: { type: 'string' },
    files: { type: 'string' },
    keep: { type: 'string' },
    'announce-ip': { type: 'boolean' },
    set: { type: 'string', multiple: true },
  },
})
const checkout = resolve(positionals[0] ?? '')
if (!positionals[0] || !existsSync(join(checkout, 'lib', 'Redis.ts'))) {
  throw new Error('usage: ioredis-suite.ts <path to an ioredis checkout (lib, test, package.json)>')
}
const mocha = join(checkout, 'node_modules', '.bin', 'mocha')
if (!existsSync(mocha)) throw new Error(`no mocha in ${checkout}: run \`npm install\` there first`)
const dist = resolve(here, '..', '..', 'dist', 'cjs', 'index.js')
if (!existsSync(dist)) throw new Error('no dist/cjs: run `npm run build` first')

const extra: Record<string, unknown> = {}
if (values.consistency) extra.consistency = values.consistency
if (values['failover-detection']) {
  const f = values['failover-detection']
  extra.failoverDetection = f === 'false' ? false : f
}
// Any other TwiceRedis option, as `key=<JSON>` (`--set lazyConnect=false`); a test's own options win.
for (const pair of values.set ?? []) {
  const at = pair.indexOf('=')
  extra[pair.slice(0, at)] = JSON.parse(pair.slice(at + 1))
}
const files = values.files?.split(',') ?? ['test/helpers/*.ts', 'test/functional/*.ts', 'test/functional/commands/*.ts']
// Sentinel files need sentinels of their own setup; cluster files a cluster.
const ignore = ['test/functional/sentinel.ts', 'test/functional/sentinel_nat.ts']
const out = values.keep ?? mkdtempSync(join(tmpdir(), 'ioredis-suite-'))

interface Outcome {
  title: string
  state: 'passed' | 'failed' | 'pending'
  error?: string
}

/** The test files, in the order mocha runs them: each pattern is a file or `<dir>/*.ts`. */
function expand(patterns: string[]): string[] {
  return patterns.flatMap((p) => {
    if (!p.endsWith('/*.ts')) return [p]
    const dir = p.slice(0, -'/*.ts'.length)
    return readdirSync(join(checkout, dir))
      .filter((f) => f.endsWith('.ts'))
      .sort()
      .map((f) => `${dir}/${f}`)
  })
}

/**
 * One run of the suite. Mocha stops at an exception thrown outside a test (ioredis' helpers throw
 * on an unhandled rejection): the run then goes on from the file after the one that threw, whose
 * remaining tests count as not run.
 */
async function run(label: string, env: Record<string, string>): Promise<Map<string, Outcome>> {
  const [helpers, tests] = [
    expand(files.filter((f) => f.startsWith('test/helpers'))),
    expand(files.filter((f) => !f.startsWith('test/helpers'))),
  ]
  let remaining = tests.filter((f) => !ignore.includes(f))
  const outcomes = new Map<string, Outcome>()
  for (let part = 0; remaining.length > 0; part++) {
    const before = outcomes.size
    const seen = await runOnce(`${label}-${part}`, env, [...helpers, ...remaining], outcomes)
    let last = remaining.length - 1
    while (last >= 0 && !seen.has(remaining[last]!)) last--
    if (last < 0 || last === remaining.length - 1 || outcomes.size === before) break
    const stopped = remaining[last]!
    console.error(`${label}: mocha stopped in ${stopped}, going on with its tests not run yet`)
    await runRest(`${label}-${part}-rest`, env, helpers, stopped, outcomes)
    remaining = remaining.slice(last + 1)
  }
  return outcomes
}

/** The tests of `file` without an outcome yet, each file run again until none is left or none runs. */
async function runRest(
  label: string,
  env: Record<string, string>,
  helpers: string[],
  file: string,
  outcomes: Map<string, Outcome>,
): Promise<void> {
  for (let i = 0; ; i++) {
    const done = [...outcomes.keys()].filter((k) => k.startsWith(`${file} :: `)).map((k) => k.slice(file.length + 4))
    const before = outcomes.size
    const escaped = done.map((t) => `^${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`).join('|')
    await runOnce(`${label}-${i}`, env, [...helpers, file], outcomes, escaped ? ['--grep', escaped, '--invert'] : [])
    if (outcomes.size === before) return
  }
}

/** Run mocha once on `list`; add its outcomes; the files it reported tests of. */
async function runOnce(
  label: string,
  env: Record<string, string>,
  list: string[],
  outcomes: Map<string, Outcome>,
  more: string[] = [],
): Promise<Set<string>> {
  const report = join(out, `${label}.json`)
  const args = ['--no-experimental-strip-types', '--require', 'ts-node/register', '--require', join(here, 'route.cjs')]
  args.push('--exit', '--timeout', '8000', '--reporter', 'json', '--reporter-option', `output=${report}`)
  if (values.grep && more.length === 0) args.push('--grep', values.grep)
  args.push(...more, ...list)
  const child = spawn(mocha, args, {
    cwd: checkout,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true', NODE_ENV: 'test', TWICE_IOREDIS: checkout, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  await new Promise((done) => child.on('exit', done))
  const seen = new Set<string>()
  if (!existsSync(report)) return seen
  const json = JSON.parse(readFileSync(report, 'utf8')) as {
    passes: { fullTitle: string; file: string }[]
    failures: { fullTitle: string; file: string; err?: { message?: string } }[]
    pending: { fullTitle: string; file: string }[]
  }
  const key = (t: { fullTitle: string; file?: string }) => {
    const file = (t.file ?? 'unknown').replace(`${checkout}/`, '')
    seen.add(file)
    return `${file} :: ${t.fullTitle}`
  }
  for (const t of json.passes) outcomes.set(key(t), { title: key(t), state: 'passed' })
  for (const t of json.pending) outcomes.set(key(t), { title: key(t), state: 'pending' })
  for (const t of json.failures) {
    outcomes.set(key(t), { title: key(t), state: 'failed', error: t.err?.message?.split('\n')[0] })
  }
  return seen
}

function count(label: string, outcomes: Map<string, Outcome>): void {
  const n = { passed: 0, failed: 0, pending: 0 }
  for (const o of outcomes.values()) n[o.state]++
  console.log(`${label}: ${n.passed} pass, ${n.failed} fail, ${n.pending} skip`)
}

// No failover in the middle of the suite: its DEBUG SLEEPs and CLIENT PAUSEs are not outages.
// The sentinels announce the nodes as `localhost`, the name the suite addresses the master by
// (`new Redis()`): traced addresses then compare. `--announce-ip`: as 127.0.0.1.
const lab = await startLab({
  masterPort: 6379,
  downAfterMs: 60_000,
  failoverTimeoutMs: 120_000,
  hostnames: !values['announce-ip'],
})
/** The suite assumes the master stays at 6379; a run after a failover would measure nothing. */
async function checkMaster(label: string): Promise<void> {
  const role = String(await lab.command(lab.master, 'ROLE').then((r) => (r as unknown[])[0]))
  if (role !== 'master' || lab.master.port !== 6379)
    throw new Error(`after the ${label} run, 6379 is no master: ${role}`)
}
try {
  const sentinels = lab.sentinelAddresses
  const plain = await run('plain', {})
  await checkMaster('plain')
  const routed = await run('routed', {
    TWICE_ROUTE: '1',
    TWICE_DIST: dist,
    TWICE_SENTINELS: JSON.stringify(sentinels),
    TWICE_NAME: lab.masterName,
    TWICE_OPTIONS: JSON.stringify(extra),
  })
  await checkMaster('routed')
  console.log(
    `ioredis ${JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')).version}, options ${JSON.stringify(extra)}`,
  )
  count('plain ', plain)
  count('routed', routed)
  const lost = [...plain.values()].filter((o) => o.state === 'passed' && routed.get(o.title)?.state !== 'passed')
  const passedPlain = [...plain.values()].filter((o) => o.state === 'passed').length
  const kept = passedPlain - lost.length
  console.log(`of ${passedPlain} passing plain, ${kept} pass routed (${((100 * kept) / passedPlain).toFixed(1)} %)`)
  for (const o of lost) {
    const r = routed.get(o.title)
    console.log(`- ${o.title}: ${r ? `${r.state}${r.error ? `: ${r.error}` : ''}` : 'not run'}`)
  }
  console.log(`reports: ${out}`)
} finally {
  await lab.stop()
}
