// OpenTelemetry metrics scraped by Prometheus. Run: npx tsx examples/metrics.ts
import { createServer } from 'node:http'
import { metrics } from '@opentelemetry/api'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

// Register a MeterProvider before building a TwiceRedis: it records from its first command on.
const exporter = new PrometheusExporter({ preventServerStart: true }) // without it: listens on :9464
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }))
// /metrics on a free port (the lab's tests run side by side).
const server = createServer((req, res) => exporter.getMetricsRequestHandler(req, res))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as { port: number }

const lab = await startLab()
try {
  const tr = new TwiceRedis({ name: lab.masterName, sentinels: lab.sentinelAddresses })
  for (let i = 0; i < 10; i++) await tr.master.set(`k${i}`, 'v')
  await tr.master.wait(2, 1000)
  for (let i = 0; i < 10; i++) await tr.slave.get(`k${i}`)
  const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const shown = /^(db_client_operation_duration_seconds_count|twiceredis_reads|twiceredis_sentinel_queries)/
  for (const line of scrape.split('\n').filter((l) => shown.test(l))) console.log(line)
  await tr.quit()
  console.log('metrics: ok')
} finally {
  await lab.stop()
  server.close()
  await exporter.shutdown()
}
