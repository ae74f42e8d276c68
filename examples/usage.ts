// The seed README's usage, in TypeScript: every block of the README's "Usage" section, in order.
// A local lab stands in for your sentinels. Run: npx tsx examples/usage.ts
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab({ masterName: 'master01', password: 'tötes_passowrd' })
const sentinels = lab.sentinelAddresses // in production: [['10.10.10.10', 26379], ...]
try {
  const tr = new TwiceRedis('master01', sentinels, 'tötes_passowrd')

  const x = await tr.slave.get('superkey') // a healthy replica
  await tr.master.set('je mange', 'huehue') // the master
  const y = await tr.read.get('nous mangeons') // tr.read and tr.replica are tr.slave
  await tr.write.del('superkey') // tr.write is tr.master
  console.log('get superkey:', x, '| get nous mangeons:', y)

  const res = await tr.master.pipeline().set('turle', 'power').set('tr3buchet', 'tötes').exec()
  console.log('pipeline:', JSON.stringify(res))

  let value = await tr.slave.get('some key')
  tr.slave.disconnect()
  value = await tr.slave.get('some other key') // reconnects seamlessly
  console.log('after disconnect:', value, 'from', tr.slave.node?.address)

  const reading = await tr.slave.get('some key')
  await tr.master.publish('topic', reading ?? '')
  tr.disconnect()
  // ... and later on reconnect seamlessly
  await tr.master.set('some key', 'le totes!')
  await tr.quit()
  console.log('usage: ok')
} finally {
  await lab.stop()
}
