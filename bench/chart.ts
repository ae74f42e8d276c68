// Renders bench/failover.svg from bench/RESULTS.md with Vega-Lite (no browser, no canvas):
// time from the sentinels' switch to each client's first successful write.
import { readFileSync, writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile } from 'vega-lite'

export async function renderFailoverChart(results = readFileSync(new URL('./RESULTS.md', import.meta.url), 'utf8')) {
  const section = results.split('## Failover recovery')[1]?.split('\n## ')[0] ?? ''
  const values = section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| client') && !line.startsWith('| ---'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .map((cells) => ({ client: cells[1], ms: Number.parseFloat(cells[3] ?? '') }))
    .filter((v) => Number.isFinite(v.ms))
  const spec = compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'First successful write after the sentinels switch master (median, ms; lower is better)',
    width: 520,
    height: 160,
    data: { values },
    mark: { type: 'bar', color: '#c0392b' },
    encoding: {
      y: { field: 'client', type: 'nominal', sort: null, title: null, axis: { labelLimit: 320 } },
      x: { field: 'ms', type: 'quantitative', title: 'ms after the switch' },
    },
  }).spec
  const view = new vega.View(vega.parse(spec), { renderer: 'none' })
  const svg = await view.toSVG()
  writeFileSync(new URL('./failover.svg', import.meta.url), svg)
  return svg
}

if (import.meta.url === `file://${process.argv[1]}`) await renderFailoverChart()
