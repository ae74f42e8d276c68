// `npm run bench`: every scenario against fresh labs, each peer in the same run; writes
// bench/RESULTS.md. Not part of `npm test`: figures depend on the machine.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { renderFailoverChart } from './chart.js'
import { coldStartBench } from './cold-start.js'
import { cpuBench } from './cpu.js'
import { failoverBench } from './failover.js'
import { fleetBench } from './fleet.js'
import { metricsBench } from './metrics.js'
import { optimisticLockBench } from './optimistic-lock.js'
import { readAfterWriteBench } from './read-after-write.js'
import { sentinelLoadBench } from './sentinel-load.js'
import { switchoverBench } from './switchover.js'
import { throughputBench } from './throughput.js'
import { zonesBench } from './zones.js'

const version = (path: string) =>
  (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version
const redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1]

const sections = [
  ['Throughput', () => throughputBench(5)],
  ['CPU per command against plain ioredis', () => cpuBench(16)],
  ['Sentinel load', () => sentinelLoadBench(200)],
  ['Failover recovery (master SIGKILL, 5 runs)', () => failoverBench(5)],
  ['Master replaced while still up (5 runs)', () => switchoverBench(5)],
  ['Optimistic locking through connection drops', () => optimisticLockBench(8)],
  ['Cold start and reconnect', () => coldStartBench(20)],
  ['Read after write', () => readAfterWriteBench(5)],
  ['Fleet (processes x instances through a master SIGKILL, 2 runs)', () => fleetBench(2)],
  ['Metrics overhead (OpenTelemetry)', () => metricsBench(7)],
  ['Zones and staleness', () => zonesBench(15)],
] as const

// `npm run bench -- failover` reruns one section and keeps the others from the last full run.
const only = process.argv.slice(2)
const previous = only.length ? readFileSync(new URL('./RESULTS.md', import.meta.url), 'utf8') : ''
const previousSection = (title: string) =>
  previous.match(new RegExp(`\\n## ${title.replace(/[()]/g, '\\$&')}\\n\\n[\\s\\S]*?\\n(?=\\n## )`))?.[0]
let out = `# Benchmark results

Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version};
Redis ${redis}; twiceredis ${version('../package.json')}; ioredis ${version('../node_modules/ioredis/package.json')};\nnode-redis ${version('../node_modules/redis/package.json')}.
Date: ${new Date().toISOString().slice(0, 10)}. Produced by \`npm run bench\`; lab: 1 master, 2 replicas,
3 sentinels on loopback, \`down-after-milliseconds\` 1000.
`
for (const [title, run] of sections) {
  if (only.length && !only.some((o) => title.toLowerCase().includes(o))) {
    out += previousSection(title) ?? ''
    continue
  }
  process.stderr.write(`== ${title}\n`)
  out += `\n## ${title}\n\n${await run()}\n`
}
out += `
## Reading these figures

- Once connected, twiceredis *is* an ioredis client: its throughput rows match plain ioredis within
  the noise of a 2-core machine. Where node-redis is ahead (explicit pipelines), that is ioredis'
  own limit; the \`enableAutoPipelining\` row shows what that ioredis setting changes (a gain for
  many single commands in flight, none for explicit pipelines: 0.66x to 0.97x across runs).
- node-redis' SET row is not a typo: commands its sentinel client sends to the master ran at
  ~19k/s in a separate check against ~110k/s for its plain client on the same node, with or
  without a replica pool; its reads through the replica pool run at full speed.
- Sentinel load: every TwiceRedis of one process on the same sentinels shares the discovery in
  flight, so a storm inside one process opens one or two sentinel connections and the "busiest
  sentinel share" says nothing; across processes the per-instance shuffle spreads the load.
- Failover: all clients run in the same failover; "after the switch" counts from the first moment
  any sentinel reports the new master (polled every 5 ms).
- Fleet: the floor rows are plain ioredis clients straight to a known node, every connection
  dropped at once: what reconnecting that many clients costs this machine, with no sentinel, no
  failover and no queued commands; "2000 ms later", all reconnecting at once after a 2 s outage
  with its queued commands (22 per instance). A "quiet window" count above 0 is the sentinels failing over a
  second time after the measured one (the new master missed their PINGs for
  \`down-after-milliseconds\`, 1000 in the lab, under this load; seen in their logs), which moves
  every client once more, whatever the client. Busiest-sentinel shares of one-process rows are
  2 of 4 connections.
`
writeFileSync(new URL('./RESULTS.md', import.meta.url), out)
if (out.includes('## Failover recovery')) await renderFailoverChart(out)
console.log(out)
