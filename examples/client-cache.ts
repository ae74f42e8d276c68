// Client cache: tr.slave's plain reads from process memory, kept fresh by Redis' tracking. Run: npx tsx examples/client-cache.ts
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab()
const name = lab.masterName
const sentinels = lab.sentinelAddresses
try {
  const tr = new TwiceRedis({ name, sentinels, clientCache: { maxEntries: 50_000, maxBytes: 32 * 1024 * 1024 } })
  tr.on('cache-flushed', ({ reason, entries }) => console.log(`cache emptied (${reason}): ${entries} entries`))
  await tr.master.set('config:flags', 'dark-mode')
  await tr.master.wait(1, 1000) // (the replica has it: this example reads it at once)
  // Reads are cached once Redis confirms the tracking, a few round trips after tr.slave connects.
  while (!(await tr.topology()).cache?.tracking) await tr.slave.ping()
  await tr.slave.get('config:flags') // a miss: read from the replica, kept
  await tr.slave.get('config:flags') // a hit: from memory, until anyone changes the key
  console.log((await tr.topology()).cache) // { entries: 1, bytes, hits: 1, misses: 1, evictions, flushes, flushesBy, tracking: true }
  // A write by anyone invalidates it: the replica tells this process, the next read goes to it.
  await tr.master.set('config:flags', 'light-mode')
  while ((await tr.slave.get('config:flags')) !== 'light-mode') await new Promise((r) => setTimeout(r, 5))
  await tr.master.flushall() // emptied: 'server-flush'
  await tr.quit()
  console.log('client-cache: ok')
} finally {
  await lab.stop()
}
