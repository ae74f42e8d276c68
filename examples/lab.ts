// The lab in your own tests: real faults against real redis-server processes.
// Run: npx tsx examples/lab.ts
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const lab = await startLab({ replicas: 2, sentinels: 3, password: 'pw' })
try {
  const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, 'pw')
  await tr.master.set('k', 'v')
  await lab.waitForReplication() // every replica has what the master had written (WAIT)
  await lab.breakReplicaLink(lab.replicas[0]!) // replica up, its master link down
  await lab.restoreReplicaLink(lab.replicas[0]!)
  await lab.kill(lab.master) // or pause()/resume() (SIGSTOP/SIGCONT), restart()
  await lab.waitForNewMaster() // also failover(), waitForMaster(address?)
  console.log('write after the failover:', await tr.master.set('k', 'w'), 'on', tr.master.node?.address)
  await lab.cutOffSentinels(lab.master) // the sentinels see a live master down (restoreSentinels())
  await lab.waitForNewMaster() // the write fence keeps tr.master off the old master meanwhile
  console.log('write after the switchover:', await tr.master.set('k', 'x'), 'on', tr.master.node?.address)
  await tr.quit()
  console.log('lab: ok')
} finally {
  await lab.stop() // kills every process and removes the temp dir
}
