// Read routing: selection policies, freshness gates, replica-only. Run: npx tsx examples/read-routing.ts
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab()
const name = lab.masterName
const sentinels = lab.sentinelAddresses
try {
  const fastest = new TwiceRedis({ name, sentinels, replicaSelection: 'lowest-latency', maxLagBytes: 1_000_000 })
  const strict = new TwiceRedis({ name, sentinels, readFallback: false }) // replica-only: NO_HEALTHY_REPLICA when none
  const zoned = new TwiceRedis({
    name,
    sentinels,
    // "same zone first": every replica with its sentinel-reported state and verdict
    replicaSelection: (replicas) =>
      replicas.find((r) => r.eligible && r.host.startsWith('10.1.')) ?? replicas.find((r) => r.eligible),
  })
  for (const [label, tr] of Object.entries({ fastest, strict, zoned })) {
    await tr.slave.get('k')
    console.log(`${label}: reads from ${tr.slave.node?.address} (${tr.slave.node?.role})`)
  }
  const { replicas } = await fastest.topology()
  for (const r of replicas)
    console.log(`  ${r.address} eligible=${r.eligible} lag=${r.lagBytes} B latency=${r.latencyMs?.toFixed(1)} ms`)
  await Promise.all([fastest.quit(), strict.quit(), zoned.quit()])
  console.log('read-routing: ok')
} finally {
  await lab.stop()
}
