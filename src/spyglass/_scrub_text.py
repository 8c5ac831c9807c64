"""Finding secrets inside one piece of text, and replacing them with `[REDACTED]`.

What counts as a secret in text:
- a value shaped like a credential (`sk-...` keys, `Bearer ...`, AWS / GitHub / Slack / Google keys, JWTs);
- a literal string known to be a credential (the instrumented client's own API key, see `_credentials`);
- the value of a `name: value` / `name=value` pair whose name ends with a secret's word (`password`,
  `api_key`, `AWS_SECRET_ACCESS_KEY`, `x-api-key`, `clientSecret`...), in JSON at any depth of escaping
  (`{"password": "..."}` inside a message, `{\\"api_key\\": \\"...\\"}` inside tool-call arguments), in
  Python reprs, `KEY=value` lines, headers and prose; in a URL query (`?api-key=`, `&key=`, `&sig=`) a
  few more names count;
- in prose, `<password / api key / token...> is <value>` when the value looks like one (a digit, a symbol,
  or quotes around it).

Most text holds none of these, so a cheap test runs first (`TextScrubber.may_hold_secret`): substring and
literal-prefix searches that run at C speed, a few microseconds for a 2 KB prompt. Only text that passes
it is scanned by the exact rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
SCRUBBING_FAILED = "[Scrubbing failed]"

_VALUE_PATTERNS = (
    r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic style keys
    r"\b(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*",  # Authorization: Bearer ...
    r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key id
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{30,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"\bAIza[0-9A-Za-z\-_]{35}",  # Google API key
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
)
# Every value pattern contains one of these literals (or `gh?_`): text without any cannot match them.
_VALUE_TRIGGERS = ("sk-", "earer", "EARER", "AKIA", "github_pat_", "xox", "AIza", "eyJ")
_GITHUB_TRIGGER = re.compile(r"gh[pousr]_")

# Words of a pair's name that make its value a secret, beyond the attribute-name words: names *end* with
# them (`OPENAI_API_KEY`, `STRIPE_SECRET_KEY`), so `token_count: 5` is not one.
PAIR_WORDS = (
    "secret_key",
    "signing_key",
    "encryption_key",
    "master_key",
    "subscription_key",
    "passphrase",
    "passcode",
    "api_token",
)
# In a URL query, these names hold credentials too (`?key=` for Google, `&sig=` for Azure SAS).
QUERY_WORDS = ("key", "sig", "signature", "x_amz_credential", "code_verifier")
# `<name> is <value>` in prose, for these names only (and the extra key words).
PROSE_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "api key",
    "apikey",
    "api_key",
    "access key",
    "secret key",
    "private key",
)

# A name, perhaps quoted (at any depth of JSON escaping: `\\*` backslashes before the quote), then `:` / `=`.
_PAIR_NAME = re.compile(
    r"""(?P<open>\\*["'`]?)(?<![A-Za-z0-9_.\-])"""
    r"""(?P<name>[A-Za-z_@$][A-Za-z0-9_.\-]{0,80}(?:\ [A-Za-z][A-Za-z0-9_.\-]{0,40}){0,2})"""
    r"""(?P<close>\\*["'`]?)[ \t]*[:=][ \t]*"""
)
_BARE_VALUE = re.compile(
    r"""(?i:(?:bearer|basic|token|digest|negotiate)[ ]+)?(?:[^\s"'`\\,;&<>]|\\(?!\\*["'`]))+"""
)
_QUOTE_RUN = re.compile(r"(\\*)([\"'`])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NAME_SEPARATORS = re.compile(r"[\s.\-]+")
_PROSE_VALUE = re.compile(r"""(?P<quote>["'`])(?P<quoted>[^"'`\n]{1,200})(?P=quote)|(?P<bare>[^\s"'`<>]+)""")
_LOOKS_SECRET = re.compile(r"[0-9!@#$%^&*_+=/\\~|]|.[A-Z]")
_MIN_BARE_VALUE = 3
_VALUES, _LITERALS, _PAIRS, _PROSE, _EXTRA = 1, 2, 4, 8, 16  # the exact rules `scrub` runs


def normalized_name(name: str) -> str:
    """`OpenAIApiKey`, `x-api-key`, `api key` -> `open_ai_api_key`, `x_api_key`, `api_key`."""
    return _NAME_SEPARATORS.sub("_", _CAMEL.sub("_", name)).lower().strip("_")


def _ends_with_word(name: str, words: frozenset[str]) -> bool:
    if name in words:
        return True
    parts = name.split("_")
    return any("_".join(parts[i:]) in words for i in range(1, len(parts)))


class TextScrubber:
    """The rules for text, compiled once per `configure()`."""

    def __init__(
        self,
        key_words: Iterable[str],
        extra_key_words: Iterable[str],
        extra_patterns: Iterable[re.Pattern[str]],
    ) -> None:
        extra_key_words = tuple(extra_key_words)
        words = [normalized_name(w) for w in (*key_words, *extra_key_words)]
        self._pair_words = frozenset([*words, *PAIR_WORDS])
        self._query_words = self._pair_words | frozenset(QUERY_WORDS)
        self._name_verdicts: dict[tuple[str, bool], bool] = {}
        self._values = re.compile("|".join(f"(?:{p})" for p in _VALUE_PATTERNS))
        self._extra = tuple(extra_patterns)
        prose = sorted({*PROSE_WORDS, *(w.lower() for w in extra_key_words)}, key=len, reverse=True)
        prose_names = "|".join(re.escape(w).replace(r"\ ", r"[ _\-]?") for w in prose)
        self._prose = re.compile(rf"(?i)\b(?:{prose_names})s?\s+(?:is|was)\s+(?:set\s+to\s+)?")
        # The cheap tests run on the lowered text reversed, so each regex starts with a literal (`:`, `=`,
        # ` si `) that the regex engine finds at C speed, then checks the word before it.
        reversed_words = "|".join(re.escape(w[::-1]) for w in sorted(self._query_words | set(prose)))
        self._reversed_pair = [
            re.compile(rf"{sep}[\s\"'`\\]*(?:{reversed_words.replace('_', '[_ .-]?')})") for sep in (":", "=")
        ]
        prose_reversed = "|".join(re.escape(w[::-1]) for w in prose)
        self._reversed_prose = [re.compile(rf" {verb[::-1]} +(?:{prose_reversed})") for verb in ("is", "was")]

    def may_hold_secret(self, text: str, literals: tuple[str, ...] = ()) -> bool:
        """A cheap test that nearly every text fails; when it passes, `scrub` looks closely."""
        return bool(self._rules_to_run(text, literals))

    def _rules_to_run(self, text: str, literals: tuple[str, ...]) -> int:
        """Which exact rules may find something in `text` (flags); 0 for nearly every text."""
        rules = 0
        if any(trigger in text for trigger in _VALUE_TRIGGERS) or _GITHUB_TRIGGER.search(text):
            rules |= _VALUES
        if any(literal in text for literal in literals):
            rules |= _LITERALS
        lowered = text.lower()
        has_separator = ":" in text or "=" in text
        if has_separator or " is " in lowered or " was " in lowered:
            backwards = lowered[::-1]
            if has_separator and any(p.search(backwards) for p in self._reversed_pair):
                rules |= _PAIRS
            if any(p.search(backwards) for p in self._reversed_prose):
                rules |= _PROSE
        if any(pattern.search(text) for pattern in self._extra):
            rules |= _EXTRA
        return rules

    def scrub(self, text: str, literals: tuple[str, ...] = ()) -> str:
        """`text` with every secret in it replaced; `text` itself when it holds none.

        `literals` are exact strings to redact as well (the clients' own credentials).
        """
        rules = self._rules_to_run(text, literals)
        if not rules:
            return text
        if rules & _LITERALS:
            for literal in literals:
                text = text.replace(literal, REDACTED)
        # Pairs first: a value pattern may swallow a pair's name (`Bearer\tAPI_KEY=...` is one token).
        if rules & _PAIRS:
            text = self._scrub_pairs(text)
        if rules & _VALUES:
            text = self._values.sub(REDACTED, text)
        if rules & _PROSE:
            text = self._scrub_prose(text)
        if rules & _EXTRA:
            for pattern in self._extra:
                text = pattern.sub(_nonempty_redaction, text)
        return text

    def is_secret_name(self, name: str, *, in_query: bool = False) -> bool:
        key = (name, in_query)
        verdict = self._name_verdicts.get(key)
        if verdict is None:
            words = self._query_words if in_query else self._pair_words
            verdict = _ends_with_word(normalized_name(name), words)
            if len(self._name_verdicts) < 4096:
                self._name_verdicts[key] = verdict
        return verdict

    def _scrub_pairs(self, text: str) -> str:
        pieces: list[str] = []
        done = 0  # text[:done] is in pieces
        position = 0
        while True:
            match = _PAIR_NAME.search(text, position)
            if match is None:
                break
            position = match.end()
            start = match.start("name")
            in_query = start > 0 and text[start - 1] in "?&;"
            if not self.is_secret_name(match.group("name"), in_query=in_query):
                position = start + 1  # a later word of a name with spaces may start a pair of its own
                continue
            quote = match.group("close") if match.group("open") == match.group("close") else ""
            span = _value_span(text, match.end(), quote)
            if span is None:
                continue
            value_start, value_end, wrap, bare = span
            value = text[value_start:value_end]
            if value_start < done or value.startswith((REDACTED, "[REDACTED:", SCRUBBING_FAILED)):
                continue
            pieces.append(text[done:value_start])
            pieces.append(f"{wrap}{REDACTED}{wrap}")
            done = value_end
            # A bare value may hold the name of the next pair (`password= api-key: ...`): look inside it.
            position = value_start if bare else value_end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _scrub_prose(self, text: str) -> str:
        pieces: list[str] = []
        done = 0
        for match in self._prose.finditer(text):
            if match.start() < done:
                continue
            value = _PROSE_VALUE.match(text, match.end())
            if value is None:
                continue
            if value.group("quoted") is not None:
                start, end = value.span("quoted")
            else:
                bare = value.group("bare").rstrip(".,;:!?)]}")
                if len(bare) < 4 or bare.startswith("[REDACTED") or not _LOOKS_SECRET.search(bare):
                    continue
                start, end = value.start("bare"), value.start("bare") + len(bare)
            pieces.append(text[done:start])
            pieces.append(REDACTED)
            done = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)


def _value_span(text: str, start: int, name_quote: str) -> tuple[int, int, str, bool] | None:
    """Where the value of a pair starting at `start` is: `(start, end, quote to wrap the redaction in,
    whether it is bare)`.

    A quoted value ends at the first quote of the same depth of escaping: at depth n (a quote written with
    2**n - 1 backslashes), a closing quote has a backslash run of length b with b % 2**(n+1) == 2**n - 1.
    """
    opening = _QUOTE_RUN.match(text, start)
    if opening is not None:
        backslashes = len(opening.group(1))
        if (backslashes + 1) & backslashes:  # not 2**n - 1: an escaped quote inside a string, not a value
            return None
        quote_char = opening.group(2)
        period = 2 * (backslashes + 1)
        for closing in _QUOTE_RUN.finditer(text, opening.end()):
            if closing.group(2) == quote_char and len(closing.group(1)) % period == backslashes:
                end = closing.start() + len(closing.group(1)) - backslashes
                return (opening.end(), end, "", False) if end > opening.end() else None
        return opening.end(), len(text), "", False  # never closed: everything after it may be the secret
    bare = _BARE_VALUE.match(text, start)
    if bare is None or bare.end() - start < _MIN_BARE_VALUE:
        return None
    # A bare value after a quoted name is JSON (a number, null...): quote the redaction to keep it JSON.
    return start, bare.end(), name_quote, True


def _nonempty_redaction(match: re.Match[str]) -> str:
    return REDACTED if match.group(0) else ""
