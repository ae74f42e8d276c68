// From ioredis' `role: 'master'` / `role: 'slave'` pair to one TwiceRedis.
// Run: npx tsx examples/migrating.ts
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab({ password: 'secret' })
const sentinels = lab.sentinels.map(({ host, port }) => ({ host, port }))
const password = 'secret'
try {
  {
    // before
    const write = new Redis({ sentinels, name: 'mymaster', role: 'master', password })
    const read = new Redis({ sentinels, name: 'mymaster', role: 'slave', password })
    await write.set('k', 'before')
    console.log('ioredis read:', await read.get('k'))
    write.disconnect()
    read.disconnect()
  }
  {
    // after
    const tr = new TwiceRedis({ name: 'mymaster', sentinels, password })
    const { master: write, slave: read } = tr
    await write.set('k', 'after')
    console.log('twiceredis read:', await read.get('k'))
    await tr.quit()
  }
  console.log('migrating: ok')
} finally {
  await lab.stop()
}
