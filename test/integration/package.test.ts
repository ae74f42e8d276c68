import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)

describe('the published package', () => {
  it('contains only what a user needs', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { timeout: 60_000 })
    const files: string[] = JSON.parse(stdout)[0].files.map((f: { path: string }) => f.path)
    for (const file of files) {
      assert.ok(/^(dist\/|(package\.json|README\.md|LICENSE|CHANGELOG\.md)$)/.test(file), `unexpected ${file}`)
    }
    for (const needed of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/package.json',
      'dist/lab/index.js',
      'dist/cjs/lab/index.js',
      'dist/cli/index.js',
    ]) {
      assert.ok(files.includes(needed), `missing ${needed}`)
    }
  })

  it('loads with require() and with import, the lab too', async () => {
    const cjs = await run(process.execPath, [
      '-e',
      "const t = require('twiceredis'); const l = require('twiceredis/lab'); console.log(typeof t.TwiceRedis, typeof l.startLab, new t.InvalidOptionError('x', 'y').code)",
    ])
    assert.equal(cjs.stdout.trim(), 'function function INVALID_OPTION')
    const esm = await run(process.execPath, [
      '--input-type=module',
      '-e',
      "const t = await import('twiceredis'); const l = await import('twiceredis/lab'); console.log(typeof t.TwiceRedis, typeof l.startLab)",
    ])
    assert.equal(esm.stdout.trim(), 'function function')
  })
})
