import { spawn } from 'node:child_process'
import { startLab } from '../src/lab/index.js'

const lab = await startLab()
try {
  const child = spawn(process.execPath, ['test/fixtures/otel.cjs'], {
    env: {
      ...process.env,
      LAB_MASTER_NAME: lab.masterName,
      LAB_SENTINELS: lab.sentinels.map((s) => s.address).join(','),
    },
  })
  child.stderr.on('data', (d) => process.stderr.write(d))
  child.stdout.on('data', (d) => console.log('OUT', String(d)))
  child.stdin.write('one\n')
  await new Promise((r) => setTimeout(r, 1500))
  child.stdin.write('reconnect\n')
  await new Promise((r) => setTimeout(r, 1500))
  child.stdin.end()
  await new Promise((r) => child.once('exit', r))
} finally {
  await lab.stop()
}
