// Read-your-writes: consistency 'session', and a token across processes. Run: npx tsx examples/consistency.ts
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab()
const name = lab.masterName
const sentinels = lab.sentinelAddresses
try {
  const tr = new TwiceRedis({ name, sentinels, consistency: 'session' })
  tr.on('read-from-master', ({ replica, reason }) => console.log(`read went to the master: ${replica} ${reason}`))
  await tr.master.set('cart:42', 'socks')
  console.log(await tr.slave.get('cart:42')) // 'socks', from a replica, never the old value

  // Across processes: the writer hands a token on (a header, a job payload) ...
  const token = await tr.writeToken() // 'ryw1:<replication offset>'
  // ... and the reader, in another process, waits for it before reading.
  const reader = new TwiceRedis({ name, sentinels })
  reader.readAfter(token)
  console.log(await reader.slave.get('cart:42')) // 'socks'

  await Promise.all([tr.quit(), reader.quit()])
  console.log('consistency: ok')
} finally {
  await lab.stop()
}
