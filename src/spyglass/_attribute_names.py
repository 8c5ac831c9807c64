"""Names of the attributes spyglass puts on spans.

GenAI names come from the OpenTelemetry semantic conventions (`gen_ai.*`, `server.*`, `error.type`); the
`spyglass.*` names cover what those conventions leave out (the human message, span kind, cost, stream
bookkeeping). docs/spans.md describes every span shape; the console, the store and the viewer read spans
through these names only.
"""

from __future__ import annotations

from typing import Final

# --- spyglass's own ---------------------------------------------------------------------------------------
KIND: Final = "spyglass.kind"
"""What the span is: one of the `KIND_*` values below."""
KIND_SPAN: Final = "span"  # a user span from spyglass.span()
KIND_LOG: Final = "log"  # a log record from spyglass.info() and friends: a span of zero duration
KIND_LLM: Final = "llm"  # one OpenAI call (for a stream: until the response headers arrive)
KIND_LLM_STREAM: Final = "llm_stream"  # the streamed response of an OpenAI call, from hand-over to its end
KIND_API: Final = "api"  # any other OpenAI endpoint: a generic span naming method and path

MSG: Final = "spyglass.msg"  # the human message, e.g. "Chat Completion with 'gpt-4'"
MSG_TEMPLATE: Final = "spyglass.msg_template"  # the template the message was formatted from
LEVEL: Final = "spyglass.level"  # log level name: debug, info, warn, error
LEVEL_NUM: Final = "spyglass.level_num"  # OpenTelemetry severity number: 5, 9, 13, 17
JSON_KEYS: Final = "spyglass.json_keys"  # JSON list of user attribute keys whose string value is JSON

COST_USD: Final = "spyglass.cost.usd"  # float, only when the price is known
COST_STATUS: Final = "spyglass.cost.status"  # "known" or "unknown" (with COST_REASON)
COST_REASON: Final = "spyglass.cost.reason"  # why the cost is unknown
USAGE_SOURCE: Final = "spyglass.usage.source"  # "api", "estimated" (tokenizer) or "unavailable"

OPENAI_REQUEST_ID: Final = "spyglass.openai.request_id"  # the x-request-id response header
OPENAI_PATH: Final = "spyglass.openai.path"  # API path, e.g. "/chat/completions"

STREAM_CHUNKS: Final = "spyglass.stream.chunk_count"
STREAM_OUTCOME: Final = "spyglass.stream.outcome"  # one of the STREAM_* outcomes below
STREAM_COMPLETED: Final = "completed"  # read to the end
STREAM_CLOSED_EARLY: Final = "closed_early"  # closed or broken out of before the end
STREAM_ABANDONED: Final = "abandoned"  # garbage-collected without being closed
STREAM_ERROR: Final = "error"  # the stream raised
STREAM_INTERRUPTED: Final = "interrupted"  # ran out before the server said the answer was over

# --- OpenTelemetry semantic conventions (the values of the incubating semconv constants) --------------------
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
OUTPUT_TYPE: Final = "gen_ai.output.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
OPENAI_API_TYPE: Final = "openai.api.type"  # "chat_completions" or "responses"

RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds, streams only

USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"  # JSON list of parts
INPUT_MESSAGES: Final = "gen_ai.input.messages"  # JSON list of {role, parts}
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # JSON list of {role, parts, finish_reason}
TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"  # JSON list

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
TOKEN_TYPE: Final = "gen_ai.token.type"  # metrics only: "input" or "output"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
