// Sends a small trace to an OTLP/HTTP endpoint with the OpenTelemetry JavaScript SDK.
// Usage: node send_spans.mjs <traces URL> <proto|json>
import { context, trace, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

const [url, encoding] = process.argv.slice(2);
const Exporter = encoding === "json" ? JsonExporter : ProtoExporter;
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "node-sender", "deployment.environment": "test" }),
  spanProcessors: [new SimpleSpanProcessor(new Exporter({ url }))],
});
const tracer = provider.getTracer("node-interop", "1.0.0");

const parent = tracer.startSpan("node parent", { kind: SpanKind.SERVER });
const inParent = trace.setSpan(context.active(), parent);
const child = tracer.startSpan(
  "node child",
  {
    kind: SpanKind.CLIENT,
    attributes: {
      str: "text", bool: true, int: 42, float: 2.5,
      strs: ["a", "b"], bools: [true, false], ints: [1, 2], floats: [0.5, 1.5],
    },
    links: [{ context: parent.spanContext(), attributes: { "link.reason": "retry" } }],
  },
  inParent,
);
child.addEvent("thinking", { step: 1 });
child.setStatus({ code: SpanStatusCode.ERROR, message: "it broke" });
child.end();

// A GenAI span as OpenLLMetry's JavaScript instrumentation writes it.
const llm = tracer.startSpan(
  "openai.chat",
  {
    kind: SpanKind.CLIENT,
    attributes: {
      "gen_ai.system": "OpenAI",
      "llm.request.type": "chat",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.prompt.0.role": "user",
      "gen_ai.prompt.0.content": "Hello from Node",
      "gen_ai.completion.0.role": "assistant",
      "gen_ai.completion.0.content": "Hello, Node!",
      "gen_ai.completion.0.finish_reason": "stop",
      "gen_ai.usage.prompt_tokens": 4,
      "gen_ai.usage.completion_tokens": 3,
    },
  },
  inParent,
);
llm.end();
parent.end();

await provider.forceFlush();
await provider.shutdown();
