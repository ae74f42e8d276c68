import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'

const examples = readdirSync('examples').filter((f) => /\.(ts|cjs)$/.test(f) && f !== 'demo.ts') // demo.test.ts runs the demo
const sources = Object.fromEntries(readdirSync('examples').map((f) => [f, readFileSync(`examples/${f}`, 'utf8')]))

/** Code lines with comments and spacing normalized, so a README line matches its example line. */
const lines = (code: string) =>
  code
    .split('\n')
    .map((l) =>
      l
        .trim()
        .replace(/(^|\s+)\/\/.*$/, '')
        .replace(/\s+/g, ' '),
    )
    .filter(Boolean)

/** Whether every line of `block` appears in `source`, in order. */
function contains(source: string, block: string): boolean {
  const have = lines(source)
  let at = 0
  for (const line of lines(block)) {
    at = have.indexOf(line, at)
    if (at < 0) return false
    at++
  }
  return true
}

describe('README and examples', () => {
  const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)].map((m) => m[1]!)

  it('every TypeScript block of the README comes from an example file', () => {
    assert.ok(blocks.length >= 6)
    for (const block of blocks) {
      assert.ok(
        Object.values(sources).some((source) => contains(source, block)),
        `no example contains this README block:\n${block}`,
      )
    }
  })

  for (const file of examples) {
    it(`examples/${file} runs against a lab`, async () => {
      const args = file.endsWith('.cjs') ? [`examples/${file}`] : ['--import', 'tsx', `examples/${file}`]
      const { stdout } = await promisify(execFile)(process.execPath, args, {
        timeout: 60_000,
      })
      assert.match(stdout, new RegExp(`${file.replace(/\.(ts|cjs)$/, '')}: ok`))
    })
  }
})
