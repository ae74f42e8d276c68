// Tracing: OpenTelemetry's ioredis instrumentation, set up as its docs say (registered before the
// client is loaded). Each span names the node that served it. Run: node examples/tracing.cjs
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node')
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { registerInstrumentations } = require('@opentelemetry/instrumentation')
const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis')

const exporter = new InMemorySpanExporter() // your exporter (OTLP, ...) here
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
provider.register()
registerInstrumentations({ instrumentations: [new IORedisInstrumentation()] })

// twiceredis' own topology events, for every instance of the process, on diagnostics_channel.
const diagnostics = require('node:diagnostics_channel')
diagnostics.subscribe('twiceredis:master-changed', ({ masterName, from, to }) =>
  console.log(`${masterName}: master ${from ?? '(none)'} -> ${to}`),
)

const { trace } = require('@opentelemetry/api')
const { TwiceRedis } = require('twiceredis')
const { startLab } = require('twiceredis/lab')

async function main() {
  const lab = await startLab()
  const name = lab.masterName
  const sentinels = lab.sentinelAddresses
  try {
    const tr = new TwiceRedis({ name, sentinels })
    await trace.getTracer('app').startActiveSpan('request', async (span) => {
      await tr.master.set('greeting', 'hello') // span "set", server.address/port: the master
      await tr.slave.get('greeting') // span "get", server.address/port: the replica
      span.end()
    })
    for (const s of exporter.getFinishedSpans()) {
      console.log(`${s.name}: ${s.attributes['server.address']}:${s.attributes['server.port']}`)
    }
    await tr.quit()
    console.log('tracing: ok')
  } finally {
    await lab.stop()
  }
}
main()
