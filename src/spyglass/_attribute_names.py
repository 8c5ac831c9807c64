"""Names of the attributes spyglass puts on spans.

GenAI names come from the OpenTelemetry semantic conventions (`gen_ai.*`, `server.*`, `error.type`); the
`spyglass.*` names cover what those conventions leave out (the human message, span kind, cost, stream
bookkeeping). docs/spans.md describes every span shape; the console, the store and the viewer read spans
through these names only.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.attributes import openai_attributes, session_attributes
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import (
    error_attributes,
    http_attributes,
    server_attributes,
)

# --- spyglass's own ---------------------------------------------------------------------------------------
KIND: Final = "spyglass.kind"
"""What the span is: one of the `KIND_*` values below."""
KIND_SPAN: Final = "span"  # a user span from spyglass.span()
KIND_LOG: Final = "log"  # a log record from spyglass.info() and friends: a span of zero duration
KIND_LLM: Final = "llm"  # one OpenAI model call, the GenAI operation (for a stream: until it ends)
KIND_LLM_STREAM: Final = "llm_stream"  # the streaming phase of a call, from hand-over to its end
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

# --- OpenTelemetry semantic conventions -------------------------------------------------------------------
# The names come from the `opentelemetry-semantic-conventions` package (its GenAI names are marked as moved to
# the GenAI conventions repository, but keep their values). The few that package does not have yet are written
# out below, each with where it is defined.
OPERATION_NAME: Final = gen_ai.GEN_AI_OPERATION_NAME
PROVIDER_NAME: Final = gen_ai.GEN_AI_PROVIDER_NAME
CONVERSATION_ID: Final = gen_ai.GEN_AI_CONVERSATION_ID  # Responses `conversation`
SESSION_ID: Final = (
    session_attributes.SESSION_ID
)  # spyglass.span(..., session=...): groups traces into a thread
REQUEST_MODEL: Final = gen_ai.GEN_AI_REQUEST_MODEL
REQUEST_STREAM: Final = gen_ai.GEN_AI_REQUEST_STREAM
REQUEST_MAX_TOKENS: Final = gen_ai.GEN_AI_REQUEST_MAX_TOKENS
REQUEST_TEMPERATURE: Final = gen_ai.GEN_AI_REQUEST_TEMPERATURE
REQUEST_TOP_P: Final = gen_ai.GEN_AI_REQUEST_TOP_P
REQUEST_FREQUENCY_PENALTY: Final = gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY
REQUEST_PRESENCE_PENALTY: Final = gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY
REQUEST_STOP_SEQUENCES: Final = gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES
REQUEST_SEED: Final = gen_ai.GEN_AI_REQUEST_SEED
REQUEST_CHOICE_COUNT: Final = gen_ai.GEN_AI_REQUEST_CHOICE_COUNT
REQUEST_ENCODING_FORMATS: Final = gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS
# Not in the package yet: defined by the GenAI conventions repository (semantic-conventions-genai,
# docs/gen-ai/client-inference.md), after semantic-conventions v1.41.1.
REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"  # `reasoning_effort` / `reasoning.effort`
REQUEST_PREVIOUS_RESPONSE_ID: Final = (
    "gen_ai.request.previous_response.id"  # Responses `previous_response_id`
)
OUTPUT_TYPE: Final = gen_ai.GEN_AI_OUTPUT_TYPE
OPENAI_REQUEST_SERVICE_TIER: Final = openai_attributes.OPENAI_REQUEST_SERVICE_TIER
OPENAI_RESPONSE_SERVICE_TIER: Final = openai_attributes.OPENAI_RESPONSE_SERVICE_TIER
OPENAI_SYSTEM_FINGERPRINT: Final = openai_attributes.OPENAI_RESPONSE_SYSTEM_FINGERPRINT
OPENAI_API_TYPE: Final = openai_attributes.OPENAI_API_TYPE  # "chat_completions" or "responses"

RESPONSE_ID: Final = gen_ai.GEN_AI_RESPONSE_ID
RESPONSE_MODEL: Final = gen_ai.GEN_AI_RESPONSE_MODEL
RESPONSE_FINISH_REASONS: Final = gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
RESPONSE_TIME_TO_FIRST_CHUNK: Final = (
    gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
)  # s from the request, streams

USAGE_INPUT_TOKENS: Final = gen_ai.GEN_AI_USAGE_INPUT_TOKENS
USAGE_OUTPUT_TOKENS: Final = gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
USAGE_CACHE_READ_INPUT_TOKENS: Final = gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
USAGE_REASONING_OUTPUT_TOKENS: Final = gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
EMBEDDINGS_DIMENSION_COUNT: Final = gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT

SYSTEM_INSTRUCTIONS: Final = gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS  # JSON list of parts
INPUT_MESSAGES: Final = gen_ai.GEN_AI_INPUT_MESSAGES  # JSON list of {role, parts}
OUTPUT_MESSAGES: Final = gen_ai.GEN_AI_OUTPUT_MESSAGES  # JSON list of {role, parts, finish_reason}
TOOL_DEFINITIONS: Final = gen_ai.GEN_AI_TOOL_DEFINITIONS  # JSON list

SERVER_ADDRESS: Final = server_attributes.SERVER_ADDRESS
SERVER_PORT: Final = server_attributes.SERVER_PORT
ERROR_TYPE: Final = error_attributes.ERROR_TYPE
TOKEN_TYPE: Final = gen_ai.GEN_AI_TOKEN_TYPE  # metrics only: "input" or "output"
HTTP_REQUEST_METHOD: Final = http_attributes.HTTP_REQUEST_METHOD
HTTP_RESPONSE_STATUS_CODE: Final = http_attributes.HTTP_RESPONSE_STATUS_CODE

# --- metrics ---------------------------------------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION
METRIC_TOKEN_USAGE: Final = gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE
METRIC_TIME_TO_FIRST_CHUNK: Final = gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
METRIC_TIME_PER_OUTPUT_CHUNK: Final = gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK
