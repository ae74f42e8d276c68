// Read routing: selection policies, freshness gates, replica-only. Run: npx tsx examples/read-routing.ts
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab()
const name = lab.masterName
const sentinels = lab.sentinelAddresses
try {
  const fastest = new TwiceRedis({ name, sentinels, replicaSelection: 'lowest-latency', maxLagBytes: 1_000_000 })
  const strict = new TwiceRedis({ name, sentinels, readFallback: false }) // replica-only: NO_HEALTHY_REPLICA when none
  const custom = new TwiceRedis({
    name,
    sentinels,
    // your own rule: every replica with its sentinel-reported state, verdict and zone
    replicaSelection: (replicas) =>
      replicas.find((r) => r.eligible && r.priority < 50) ?? replicas.find((r) => r.eligible),
  })
  const nearby = new TwiceRedis({
    name,
    sentinels,
    clientZone: 'eu-west-1a', // where this process runs
    zones: { 'eu-west-1a': ['10.1.0.0/16'], 'eu-west-1b': ['10.2.0.0/16', '*.b.redis.internal'] },
    replicaSelection: 'same-zone',
  })
  const bounded = new TwiceRedis({ name, sentinels, maxStalenessMs: 2000 }) // never data older than ~2 s
  const all = { fastest, strict, custom, nearby, bounded }
  for (const [label, tr] of Object.entries(all)) {
    await tr.slave.get('k')
    console.log(`${label}: reads from ${tr.slave.node?.address} (${tr.slave.node?.role})`)
  }
  // The lab's nodes are in no zone of this map: reads left the client's zone, and say why.
  console.log(`nearby: ${(await nearby.topology()).zones?.reason}`)
  const { replicas } = await fastest.topology()
  for (const r of replicas)
    console.log(`  ${r.address} eligible=${r.eligible} lag=${r.lagBytes} B latency=${r.latencyMs?.toFixed(1)} ms`)
  await Promise.all(Object.values(all).map((tr) => tr.quit()))
  console.log('read-routing: ok')
} finally {
  await lab.stop()
}
