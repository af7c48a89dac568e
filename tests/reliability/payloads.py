"""Hypothesis strategies for hostile platform payloads: what an attacker, a buggy proxy or a confused platform could
send to each adapter.

Every generated payload says what a correct bot does with it (`expect`):
- "reply": a well-formed message from a fresh person with odd but valid content (unicode edge cases, control
  characters, huge text within the platform's limits). It must get exactly one answer, also when it is replayed.
- "reject": forged (bad signature or secret), stale or malformed at the transport: the library or the adapter
  refuses it (an HTTP status, a logged rejection) and nothing reaches the core.
- "survive": anything else (wrong types, missing fields, unknown kinds, forged button data). Whatever the bot does,
  it must not crash, must not raise into the event loop and must keep serving.

Fresh ids and dedupe ids for "reply" payloads are stamped by the campaign (`tests/reliability/campaign.py`), not
drawn: Hypothesis likes to repeat small numbers, and two "fresh" people sharing an id would make "answered
exactly once" meaningless. Odd ids (negative, huge, strings) are drawn for the other payloads.

`generate()` runs Hypothesis's own engine (a `@given` function with only the generate phase) and collects what
it draws, so campaigns of thousands of payloads can be fed to one long-running adapter instead of restarting it
per example. Huge strings are built by repetition (`map`), not drawn character by character, which keeps
generation fast and inside Hypothesis's buffer.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

Expect = Literal["reply", "reject", "survive"]

# --- building blocks ----------------------------------------------------------------------------------------------

#: Canary tokens go into free text and odd places; the log scanner looks for them (logscan.CANARY).
canaries = st.integers(0, 2**32 - 1).map(lambda i: f"zq{i:08x}")

EDGE_TEXTS = (
    "\u202e\u2066evil\u2069 right-to-left override",     # bidi controls
    "\u200b\u200c\u200d\u2060\ufeff",                      # zero-width characters only
    "nul\x00in\x00the\x00middle",
    "👩‍👩‍👧‍👦👨🏽‍🚀🏳️‍🌈" * 20,                            # emoji ZWJ sequences with skin tones
    "e" + "\u0301" * 300,                                  # a stack of combining marks
    "Z̤̺̯͚̠̭̞̓̈́͛̈́ͩ͑a̦̱̹̪̹͉̖̓͒ͩ̒ḽ̝̦̫̹̈̊͌̀g͕͓̀̆͒o̧̰ͨ̊",
    "lone \ud800 high and \udfff low surrogates",
    "\ud83d",                                              # half an emoji
    "\r\n\t\x0b\x0c\x1b[31mred\x1b[0m\x7f",               # terminal escapes and line breaks (log injection)
    "level=error event=forged logger=haven.core",         # looks like one of our log lines
    "%s %d %(name)s {0} {bot_name} {helpline}",           # format-string bait
    "<@U0BOT> <!channel> <!here> <#C0GENERAL|general> @everyone",
    "/start", "/forget", "/help@fake_test_bot extra", "/reply HC-0000 hi", "/claim HC-1", "/" + "a" * 40,
    "I want to kill myself tonight",                       # crisis wording inside odd payloads, too
    "ａｂｃ ＦＵＬＬＷＩＤＴＨ ﷽ 𒐫 𝕳𝖆𝖛𝖊𝖓",
    "\U000e0041\U000e0042 tag characters \U0010ffff",
    "",
    " ",
)

_PIECES = st.sampled_from(["a", "ab ", "😀", "\u200b", "x\u0301", "word ", "\x00", "🏳️‍🌈", "\ud800"])
#: Long text: up to ~1 MB, built by repetition so drawing it costs nothing.
_HUGE_SIZES = st.sampled_from([5_000, 40_001, 1_000_000, 100_000, 5_000]).flatmap(lambda n: st.integers(n - 10, n))
huge_texts = st.tuples(_PIECES, _HUGE_SIZES).map(lambda t: (t[0] * (t[1] // len(t[0]) + 1))[:t[1]])

plain_texts = st.text(max_size=200)
edge_texts = st.sampled_from(EDGE_TEXTS)
mixed_texts = st.lists(st.one_of(plain_texts, edge_texts), min_size=1, max_size=4).map("".join)


@st.composite
def odd_texts(draw: st.DrawFn, *, max_len: int | None = None, huge: bool = True) -> str:
    """Free text as a person (or an attacker) might write it, usually with a canary somewhere in it."""
    # About one text in forty is huge (a middle value, because Hypothesis favours the ends of a range).
    if huge and draw(st.integers(0, 39)) == 17:
        text = draw(huge_texts)
    else:
        text = draw(st.one_of(plain_texts, edge_texts, mixed_texts))
    if draw(st.booleans()) or len(text.strip()) < 8:
        token = draw(canaries)
        at = draw(st.integers(0, len(text)))
        text = text[:at] + f" {token} " + text[at:]
    return text[:max_len] if max_len is not None else text


#: Values of the wrong JSON type for any field (and nested garbage).
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=20), canaries)
garbage = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=8)
odd_ints = st.one_of(st.integers(-2**63, 2**63), st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**64, -2**63]))


@st.composite
def mutate(draw: st.DrawFn, value: Any, *, times: int = 3) -> Any:
    """Break a valid payload in 1..times places: wrong type, null, missing field, unknown field, nested garbage."""
    for _ in range(draw(st.integers(1, times))):
        slots = list(_slots(value))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["type", "null", "delete", "add", "garbage"]))
        if op == "delete" and isinstance(container, dict):
            container.pop(key, None)
        elif op == "add" and isinstance(container, dict):
            container[draw(canaries)] = draw(garbage)
        elif op == "null":
            container[key] = None
        elif op == "garbage":
            container[key] = draw(garbage)
        else:
            container[key] = draw(scalars)
    return value


def _slots(value: Any) -> list[tuple[Any, Any]]:
    slots: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                slots.append((node, key))
                stack.append(child)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                slots.append((node, index))
                stack.append(child)
    return slots


def generate(strategy: st.SearchStrategy[Any], count: int, *, seed_value: int = 0) -> list[Any]:
    """`count` examples drawn by Hypothesis's engine, reproducibly for a seed (no shrinking: nothing fails here;
    a failing payload is reported by the campaign with its index and the seed)."""
    drawn: list[Any] = []

    @seed(seed_value)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    # Hypothesis may stop early when it believes it has seen enough distinct examples; cycle to the count asked.
    if drawn and len(drawn) < count:
        drawn = [drawn[i % len(drawn)] for i in range(count)]
    return drawn[:count]


# --- Telegram -------------------------------------------------------------------------------------------------------

@dataclass
class TelegramPost:
    """One POST to the webhook. `body` is JSON-encoded unless it is bytes (sent as is)."""

    label: str
    expect: Expect
    body: Any
    content_type: str = "application/json"
    secret: Literal["ok", "missing", "wrong"] = "ok"
    wrong_secret: str = ""
    replay: bool = False
    fresh: bool = False         # the campaign stamps a fresh person, chat and update id (for "reply")

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()     # ensure_ascii: lone surrogates travel as \udXXX escapes


def _tg_user(user_id: Any, name: str, language: Any = "en") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": name}
    if language is not None:
        user["language_code"] = language
    return user


@st.composite
def tg_message(draw: st.DrawFn, *, chat_type: str = "private", text: str | None = None,
               user_id: Any = None) -> dict[str, Any]:
    user_id = draw(st.integers(10_000, 2**40)) if user_id is None else user_id
    name = draw(st.one_of(st.sampled_from(["Alice", "Bob"]), odd_texts(max_len=64, huge=False)))
    chat: dict[str, Any] = {"id": user_id if chat_type == "private" else -draw(st.integers(10_000, 2**40)),
                            "type": chat_type}
    chat["first_name" if chat_type == "private" else "title"] = name
    message: dict[str, Any] = {"message_id": draw(st.integers(1, 2**31)), "date": draw(st.integers(0, 2**32)),
                               "chat": chat, "from": _tg_user(user_id, name,
                                                              draw(st.sampled_from(["en", "de", None, "xx-YY"]))),
                               "text": text if text is not None else draw(odd_texts(max_len=4096))}
    if draw(st.booleans()):
        message["entities"] = draw(st.lists(st.fixed_dictionaries({
            "type": st.sampled_from(["bot_command", "mention", "text_mention", "bold", "url", "custom_emoji"]),
            "offset": st.integers(-5, 5000), "length": st.integers(-5, 5000)}), max_size=3))
    return message


@st.composite
def tg_valid_odd(draw: st.DrawFn) -> TelegramPost:
    """A private message with odd content: must be answered exactly once (also when Telegram redelivers it)."""
    message = draw(tg_message(text=draw(odd_texts(max_len=4096))))
    return TelegramPost("valid_odd", "reply", {"update_id": 0, "message": message}, replay=draw(st.booleans()),
                        fresh=True)


@st.composite
def tg_mutated(draw: st.DrawFn) -> TelegramPost:
    base_kind = draw(st.sampled_from(["message", "group", "callback", "member"]))
    if base_kind == "callback":
        update = {"update_id": draw(st.integers(1, 2**31)), "callback_query": draw(tg_callback_query())}
    elif base_kind == "member":
        user = _tg_user(draw(st.integers(10_000, 2**40)), "A")
        update = {"update_id": draw(st.integers(1, 2**31)), "my_chat_member": {
            "chat": {"id": user["id"], "type": "private"}, "from": user, "date": 0,
            "old_chat_member": {"status": "member", "user": user},
            "new_chat_member": {"status": draw(st.sampled_from(["kicked", "member", "left", "zq"])), "user": user}}}
    else:
        chat_type = "private" if base_kind == "message" else draw(st.sampled_from(["group", "supergroup"]))
        update = {"update_id": draw(st.integers(1, 2**31)), "message": draw(tg_message(chat_type=chat_type))}
    return TelegramPost("mutated_" + base_kind, "survive", draw(mutate(update)))


@st.composite
def tg_callback_query(draw: st.DrawFn) -> dict[str, Any]:
    user_id = draw(st.integers(10_000, 2**40))
    data = draw(st.one_of(odd_texts(max_len=64, huge=False),
                          st.sampled_from(["consent:yes", "forget:yes", "case:claim|HC-1", "case:resolve|x",
                                           "crisis:person", "~", "|", "::", "a" * 64]),
                          st.text(string.printable, max_size=64)))
    query: dict[str, Any] = {"id": str(draw(st.integers(1, 2**40))), "chat_instance": "ci", "data": data,
                             "from": _tg_user(user_id, "A")}
    if draw(st.booleans()):
        query["message"] = draw(tg_message(user_id=user_id, text="a question?"))
    return query


@st.composite
def tg_forged_press(draw: st.DrawFn) -> TelegramPost:
    return TelegramPost("forged_callback", "survive", {"update_id": draw(st.integers(1, 2**31)),
                                                        "callback_query": draw(tg_callback_query())})


@st.composite
def tg_unknown_kind(draw: st.DrawFn) -> TelegramPost:
    kind = draw(st.one_of(canaries, st.sampled_from(["edited_message", "channel_post", "inline_query", "poll",
                                                     "chat_join_request", "message_reaction", "business_message"])))
    return TelegramPost("unknown_kind", "survive", {"update_id": draw(odd_ints), kind: draw(garbage)})


@st.composite
def tg_odd_envelope(draw: st.DrawFn) -> TelegramPost:
    """Valid JSON that is not an update: wrong top-level type, missing or odd update_id, odd chat types."""
    body = draw(st.one_of(
        garbage,
        st.fixed_dictionaries({"update_id": st.one_of(st.text(max_size=10), st.floats(), st.none(), odd_ints),
                               "message": st.just({"text": "zq00000000 no chat"})}),
        st.builds(lambda uid, m, t: {"update_id": uid, "message": {**m, "chat": {**m["chat"], "type": t}}},
                  st.integers(1, 2**31), tg_message(), st.one_of(canaries, st.sampled_from(["channel", "sender"]))),
    ))
    return TelegramPost("odd_envelope", "survive", body)


@st.composite
def tg_not_json(draw: st.DrawFn) -> TelegramPost:
    body = draw(st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"", b"{", b'{"update_id": 1, ', b"null", b"[]", b"\xff\xfe\x00{}", b"1e999",
                         b"[" * 100_000 + b"]" * 100_000, b'{"update_id": 1}' * 3, b"\x00" * 64]),
        odd_texts(huge=False).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(1_100_000, 1_300_000).map(lambda n: b'{"update_id": 1, "x": "' + b"a" * n + b'"}'),
    ))
    return TelegramPost("not_json", "reject", body)


@st.composite
def tg_bad_transport(draw: st.DrawFn) -> TelegramPost:
    """A real-looking update with a wrong or missing secret: must be refused before anything is parsed."""
    message = draw(tg_message())
    secret = draw(st.sampled_from(["missing", "wrong"]))
    wrong = draw(st.one_of(st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=300),
                           st.just("s3cret-TOKEN_1 "), st.just("S3CRET-TOKEN_1")))
    return TelegramPost("bad_secret", "reject", {"update_id": draw(st.integers(1, 2**31)), "message": message},
                        secret=secret, wrong_secret=wrong)


telegram_posts = st.one_of(tg_valid_odd(), tg_valid_odd(), tg_mutated(), tg_forged_press(), tg_unknown_kind(),
                           tg_odd_envelope(), tg_not_json(), tg_bad_transport())


# --- Slack --------------------------------------------------------------------------------------------------------

@dataclass
class SlackRequest:
    """One HTTP request to bolt's endpoint, or (`socket=True`) one Socket Mode frame."""

    label: str
    expect: Expect
    body: Any                        # dict -> JSON; str/bytes sent as is
    content_type: str = "application/json"
    signature: Literal["ok", "forged", "wrong_secret", "missing", "malformed"] = "ok"
    timestamp_offset: int = 0        # seconds added to "now" (negative = stale)
    timestamp_text: str | None = None
    retry_num: int | None = None
    replay: bool = False
    fresh: bool = False
    form: bool = False               # body is a dict to urlencode as `payload=<json>` (interactions)
    socket: bool = False

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8", "surrogatepass")
        if self.form:
            from urllib.parse import urlencode
            return urlencode({"payload": json.dumps(self.body)}).encode()
        return json.dumps(self.body).encode()


_slack_ids = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=6, max_size=10)


def slack_envelope(event: dict[str, Any], event_id: str = "Ev0", team: str = "T0FAKE") -> dict[str, Any]:
    return {"token": "legacy", "team_id": team, "api_app_id": "A0FAKE", "type": "event_callback",
            "event_id": event_id, "event_time": 1700000000,
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": "U0BOT", "is_bot": True,
                                "is_enterprise_install": False}], "event": event}


@st.composite
def slack_dm(draw: st.DrawFn, *, max_len: int = 40_000) -> dict[str, Any]:
    user = "U" + draw(_slack_ids)
    ts = f"{draw(st.integers(1_000_000_000, 2_000_000_000))}.{draw(st.integers(0, 999_999)):06d}"
    event = {"type": "message", "channel_type": "im", "channel": "D" + user[1:], "user": user,
             "text": draw(odd_texts(max_len=max_len)), "ts": ts, "event_ts": ts, "team": "T0FAKE"}
    if draw(st.booleans()):
        event["thread_ts"] = draw(st.sampled_from([ts, "1700000000.000100", "zq", ""]))
    return event


@st.composite
def slack_valid_odd(draw: st.DrawFn) -> SlackRequest:
    replay = draw(st.booleans())
    return SlackRequest("valid_odd", "reply", slack_envelope(draw(slack_dm())), replay=replay, fresh=True,
                        retry_num=draw(st.sampled_from([1, 2, 3])) if replay else None)


@st.composite
def slack_mutated_event(draw: st.DrawFn) -> SlackRequest:
    kind = draw(st.sampled_from(["message", "app_mention", "app_home_opened", "envelope"]))
    user = "U" + draw(_slack_ids)
    if kind == "app_mention":
        event: dict[str, Any] = {"type": "app_mention", "channel": "C0GENERAL", "user": user,
                                 "text": draw(odd_texts(max_len=40_000)), "ts": "1.000001", "event_ts": "1.000001"}
    elif kind == "app_home_opened":
        event = {"type": "app_home_opened", "user": user, "channel": "D" + user[1:],
                 "tab": draw(st.sampled_from(["home", "messages", "zq"])), "event_ts": "1.2"}
    else:
        event = draw(slack_dm())
    envelope = slack_envelope(event, "Ev" + draw(_slack_ids))
    return SlackRequest("mutated_" + kind, "survive", draw(mutate(envelope)))


@st.composite
def slack_huge(draw: st.DrawFn) -> SlackRequest:
    event = draw(slack_dm())
    event["text"] = draw(huge_texts) + draw(canaries)
    return SlackRequest("huge_text", "survive", slack_envelope(event, "Ev" + draw(_slack_ids)))


@st.composite
def slack_forged(draw: st.DrawFn) -> SlackRequest:
    """A real-looking DM with a bad signature or a replayed (stale) timestamp: bolt must answer 401."""
    how = draw(st.sampled_from(["forged", "wrong_secret", "missing", "malformed", "stale", "future", "nan_ts"]))
    request = SlackRequest("forged_" + how, "reject", slack_envelope(draw(slack_dm()), "Ev" + draw(_slack_ids)))
    # Slack's window is 5 minutes either way; 310 s leaves room for the clock ticking between signing and checking.
    if how == "stale":
        request.timestamp_offset = -draw(st.integers(310, 10**9))
    elif how == "future":
        request.timestamp_offset = draw(st.integers(310, 10**9))
    elif how == "nan_ts":
        request.timestamp_text = draw(st.sampled_from(["", "abc", "1e10", "-1", "9" * 40, "1.5"]))
    else:
        request.signature = how   # type: ignore[assignment]
    if draw(st.booleans()):
        request.body = draw(mutate(request.body))
    return request


@st.composite
def slack_url_verification(draw: st.DrawFn) -> SlackRequest:
    challenge = draw(st.one_of(odd_texts(max_len=2000, huge=False), garbage))
    body: dict[str, Any] = {"token": "legacy", "type": "url_verification", "challenge": challenge}
    if draw(st.booleans()):
        del body["challenge"]
    return SlackRequest("url_verification", "survive", body)


@st.composite
def slack_interaction(draw: st.DrawFn) -> SlackRequest:
    user = "U" + draw(_slack_ids)
    channel = draw(st.sampled_from(["D" + user[1:], "C0GENERAL", "C0STAFF", "Czq"]))
    value = draw(st.one_of(odd_texts(max_len=2000, huge=False),
                           st.sampled_from(["consent:yes|", "forget:yes|", "case:claim|HC-1", "crisis:person|",
                                            "|", "no-separator", "case:resolve|" + "x" * 1990])))
    payload: dict[str, Any] = {
        "type": "block_actions", "user": {"id": user, "team_id": "T0FAKE"}, "api_app_id": "A0FAKE",
        "token": "legacy", "trigger_id": "trig." + draw(_slack_ids), "team": {"id": "T0FAKE"},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "x"}, "message": {"ts": "1.1", "text": "q", "blocks": []},
        "response_url": "", "actions": [{"type": "button", "action_id": "haven:" + str(draw(st.integers(0, 30))),
                                         "block_id": "b", "text": {"type": "plain_text", "text": "x"},
                                         "value": value, "action_ts": "1.2"}]}
    if draw(st.booleans()):
        payload = draw(mutate(payload))
    return SlackRequest("interaction", "survive", payload, content_type="application/x-www-form-urlencoded",
                        form=True)


@st.composite
def slack_bad_form(draw: st.DrawFn) -> SlackRequest:
    body = draw(st.one_of(
        st.sampled_from([b"payload=%ZZ", b"payload=", b"payload=%7B", b"payload=[1,2]", b"payload=null",
                         b"payload=%FF%FE", b"=&=&&", b"payload=" + b"%7B%22type%22%3A" * 2000, b"",
                         b"payload=%22zq00000001%22", b"payload=1e999"]),
        st.binary(max_size=200),
    ))
    return SlackRequest("bad_form", "survive", body, content_type="application/x-www-form-urlencoded")


@st.composite
def slack_command(draw: st.DrawFn) -> SlackRequest:
    from urllib.parse import urlencode
    user = "U" + draw(_slack_ids)
    form = {"token": "legacy", "team_id": "T0FAKE", "channel_id": draw(st.sampled_from(["D" + user[1:], "C0GENERAL"])),
            "user_id": user, "command": "/haven", "text": draw(odd_texts(max_len=5000, huge=False)),
            "api_app_id": "A0FAKE", "response_url": "", "trigger_id": "trig." + draw(_slack_ids)}
    if draw(st.booleans()):
        form.pop(draw(st.sampled_from(sorted(form))))
    encoded = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in form.items()}).encode()
    return SlackRequest("command", "survive", encoded, content_type="application/x-www-form-urlencoded")


@st.composite
def slack_odd_body(draw: st.DrawFn) -> SlackRequest:
    body = draw(st.one_of(garbage.map(lambda g: json.dumps(g).encode()), st.binary(max_size=100),
                          st.sampled_from([b"", b"{", b"null", b'{"type": "event_callback"}', b"[" * 50_000])))
    content_type = draw(st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded",
                                         "application/json; charset=utf-16"]))
    return SlackRequest("odd_body", "survive", body, content_type=content_type)


@st.composite
def slack_socket_frame(draw: st.DrawFn) -> SlackRequest:
    """A Socket Mode frame: a well-formed envelope around a garbage payload, or garbage in place of an envelope."""
    kind = draw(st.sampled_from(["events_api", "interactive", "slash_commands", "disconnect", "zq", "hello"]))
    payload = draw(st.one_of(garbage, slack_dm().map(slack_envelope).flatmap(mutate)))
    frame: Any = {"envelope_id": draw(st.one_of(st.uuids().map(str), garbage)), "type": kind, "payload": payload,
                  "accepts_response_payload": draw(st.booleans()), "retry_attempt": draw(odd_ints),
                  "retry_reason": ""}
    if kind == "disconnect":
        frame = {"type": "zq-not-disconnect", "reason": "warning"}       # a real disconnect would just reconnect
    if draw(st.integers(0, 9)) == 0:
        frame = draw(st.one_of(st.binary(max_size=50).map(lambda b: b.decode("latin-1")), garbage.map(json.dumps)))
    return SlackRequest("socket_frame", "survive", frame if isinstance(frame, str) else json.dumps(frame), socket=True)


def rarely(rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any], one_in: int = 25) -> st.SearchStrategy[Any]:
    """`rare` about once in `one_in` draws (huge bodies: enough to find trouble, few enough to stay fast)."""
    return st.integers(0, one_in - 1).flatmap(lambda i: rare if i == one_in // 2 else usual)


slack_requests = rarely(slack_huge(), st.one_of(
    slack_valid_odd(), slack_valid_odd(), slack_mutated_event(), slack_forged(), slack_url_verification(),
    slack_interaction(), slack_bad_form(), slack_command(), slack_odd_body(), slack_socket_frame()))


# --- Discord ------------------------------------------------------------------------------------------------------

@dataclass
class DiscordFrame:
    """One gateway frame. `event` None means `raw` is sent as the whole frame (unknown opcodes, replayed seq)."""

    label: str
    expect: Expect
    event: str | None
    data: Any = None
    raw: dict[str, Any] = field(default_factory=dict)
    replay: bool = False
    fresh: bool = False
    interaction: bool = False        # a button press on a message the bot sent, carrying `data`'s custom_id
    live: bool = True                # the fake knows the interaction (its token works), or it expired/was forged


def discord_user(user_id: Any, name: str) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None,
            "bot": False}


@st.composite
def discord_message(draw: st.DrawFn, *, content: str | None = None) -> dict[str, Any]:
    author = discord_user(draw(st.integers(10**17, 10**19)), draw(st.sampled_from(["alice", "zq0000000a"])))
    return {"id": str(draw(st.integers(10**17, 10**19))), "channel_id": str(draw(st.integers(10**17, 10**19))),
            "type": 0, "content": content if content is not None else draw(odd_texts(max_len=4000)),
            "author": author, "timestamp": "2026-11-25T00:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "flags": 0, "components": []}


@st.composite
def discord_valid_odd(draw: st.DrawFn) -> DiscordFrame:
    return DiscordFrame("valid_odd", "reply", "MESSAGE_CREATE", draw(discord_message()), replay=draw(st.booleans()),
                        fresh=True)


@st.composite
def discord_mutated(draw: st.DrawFn) -> DiscordFrame:
    event = draw(st.sampled_from(["MESSAGE_CREATE", "MESSAGE_CREATE", "INTERACTION_CREATE", "MESSAGE_UPDATE",
                                  "GUILD_CREATE", "CHANNEL_CREATE", "TYPING_START"]))
    if event == "INTERACTION_CREATE":
        data: Any = draw(discord_interaction_data())
    else:
        data = draw(discord_message())
    return DiscordFrame("mutated_" + event.lower(), "survive", event, draw(mutate(data)))


@st.composite
def discord_huge(draw: st.DrawFn) -> DiscordFrame:
    return DiscordFrame("huge_content", "survive", "MESSAGE_CREATE",
                        draw(discord_message(content=draw(huge_texts) + draw(canaries))), fresh=True)


@st.composite
def discord_interaction_data(draw: st.DrawFn) -> dict[str, Any]:
    user = discord_user(draw(st.integers(10**17, 10**19)), "bob")
    custom_id = draw(st.one_of(
        st.sampled_from(["hv:consent:yes|", "hv:forget:yes|", "hv:case:claim|HC-1", "hv:crisis:person|",
                         "hv:discord:checkon_optout|", "hv:discord:monitoring_optin|", "hv:|", "hv:a|",
                         "hv:" + "a" * 64 + "|" + "b" * 40, "hv:x|y\n\u202e", "not-haven"]),
        odd_texts(max_len=100, huge=False).map(lambda t: "hv:case:claim|" + t),
        odd_texts(max_len=100, huge=False)))
    return {"id": str(draw(st.integers(10**17, 10**19))), "application_id": "1", "type": 3,
            "token": "itoken-forged", "version": 1, "attachment_size_limit": 1024,
            "data": {"custom_id": custom_id, "component_type": draw(st.sampled_from([2, 3, 99]))},
            "channel_id": str(draw(st.integers(10**17, 10**19))), "user": user, "locale": "en-US",
            "app_permissions": "0", "entitlements": [], "authorizing_integration_owners": {}, "context": 1}


@st.composite
def discord_forged_press(draw: st.DrawFn) -> DiscordFrame:
    """A button press with a forged custom_id on a live interaction (the fake knows its token): handled calmly."""
    data = draw(discord_interaction_data())
    live = draw(st.integers(0, 3)) != 2
    return DiscordFrame("forged_custom_id" if live else "expired_interaction", "survive", "INTERACTION_CREATE",
                        data, interaction=True, live=live)


@st.composite
def discord_unknown(draw: st.DrawFn) -> DiscordFrame:
    how = draw(st.sampled_from(["event_name", "opcode", "seq"]))
    if how == "event_name":
        name = draw(st.one_of(canaries.map(str.upper), st.text(string.ascii_uppercase + "_", min_size=1,
                                                                 max_size=30)))
        return DiscordFrame("unknown_event", "survive", name, draw(garbage))
    if how == "opcode":
        op = draw(st.one_of(st.sampled_from([3, 4, 5, 8, 12, 13, 14, 31, 99, 255, -1]), st.integers(15, 10**6)))
        return DiscordFrame("unknown_opcode", "survive", None, raw={"op": op, "d": draw(garbage), "s": None,
                                                                       "t": None})
    # A replayed (old or repeated) sequence number around an ordinary event.
    return DiscordFrame("replayed_seq", "survive", None, raw={
        "op": 0, "s": draw(st.sampled_from([1, 2, 0, -1])), "t": "TYPING_START",
        "d": {"channel_id": "1", "user_id": "2", "timestamp": 0}})


discord_frames = rarely(discord_huge(), st.one_of(discord_valid_odd(), discord_valid_odd(), discord_mutated(),
                                                  discord_mutated(), discord_forged_press(), discord_unknown()))


# --- regressions: payload shapes that once broke an adapter; every campaign feeds them first ----------------------

TELEGRAM_REGRESSIONS = [
    # An unknown update kind, and a chat type nobody defined: both names were logged as they came (a forged webhook
    # call could put a person's words there). Now logged as "other".
    TelegramPost("regression_unknown_kind", "survive", {"update_id": 91, "zq0badc0de I feel awful": {"a": 1}}),
    TelegramPost("regression_odd_chat_type", "survive", {"update_id": 92, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 12345678, "type": "zq0badc0df my secret"},
        "from": {"id": 12345678, "is_bot": False, "first_name": "A"}, "text": "zq0badc0e0 hello there"}}),
]

TELEGRAM_REGRESSIONS += [
    # A chat id that is not a number (PTB accepts it): PTB's own per-chat bookkeeping raised TypeError outside our
    # handler, a 500 (Telegram would redeliver forever) and an ERROR with a traceback through the webhook endpoint.
    TelegramPost("regression_chat_id_list", "survive", {"update_id": 93, "message": {
        "message_id": 1, "date": 0, "chat": {"id": [], "type": "private"},
        "from": {"id": 12345679, "is_bot": False, "first_name": "A"}, "text": "zq0badc0e8 hello there"}}),
    TelegramPost("regression_user_id_object", "survive", {"update_id": 94, "callback_query": {
        "id": "7", "chat_instance": "c", "data": "consent:yes", "from": {"id": {"a": 1}, "is_bot": False,
                                                                         "first_name": "A"}}}),
    # A language_code that is a number: passed on as the locale, the core's locale parsing raised.
    TelegramPost("regression_language_number", "survive", {"update_id": 95, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 12345680, "type": "private"},
        "from": {"id": 12345680, "is_bot": False, "first_name": "A", "language_code": 7}, "text": "hello"}}),
]

SLACK_REGRESSIONS = [
    # Bodies bolt could not read (not UTF-8, not the JSON or form they claim): a 500 with an ERROR and a traceback
    # from aiohttp, before any signature check. Now a 400 and a one-line warning.
    SlackRequest("regression_not_utf8", "survive", b"\xa2\xff\xfe{", signature="missing"),
    SlackRequest("regression_not_json", "survive", b"{not json", signature="missing"),
    SlackRequest("regression_form_not_object", "survive", b"payload=%5B1%2C2%5D",
                 content_type="application/x-www-form-urlencoded", signature="missing"),
    # A button press whose `user`, `container` and button `text` are strings, not objects: our listener (and bolt's
    # argument building) raised AttributeError. Now refused as bad fields, or as a malformed payload.
    SlackRequest("regression_press_strings", "survive", {
        "type": "block_actions", "user": "U0FORGED", "container": "zq0badc0e4", "channel": "C0GENERAL",
        "team": {"id": "T0FAKE"}, "token": "legacy", "api_app_id": "A0FAKE", "trigger_id": "trig.x",
        "actions": [{"type": "button", "action_id": "haven:0", "block_id": "b", "text": "zq0badc0e5",
                     "value": "consent:yes|", "action_ts": "1.2"}]},
        content_type="application/x-www-form-urlencoded", form=True),
    SlackRequest("regression_press_strings_dm", "survive", {
        "type": "block_actions", "user": {"id": "U0FORGED2", "team_id": "T0FAKE"}, "container": "zq0badc0e6",
        "channel": {"id": "D0FORGED2"}, "team": {"id": "T0FAKE"}, "token": "legacy", "api_app_id": "A0FAKE",
        "trigger_id": "trig.y", "message": {"ts": "1.1", "text": "q", "blocks": []},
        "actions": [{"type": "button", "action_id": "haven:0", "block_id": "b", "text": "zq0badc0e7",
                     "value": "consent:yes|", "action_ts": "1.2"}]},
        content_type="application/x-www-form-urlencoded", form=True),
    # A signed event nobody listens for: bolt's warning quoted the payload's type; now "event=slack_ignored".
    SlackRequest("regression_unhandled", "survive", slack_envelope({"type": "zq0badc0e1", "user": "U0SOMEONE"})),
]

DISCORD_REGRESSIONS = [
    # A DM in a channel Discord does not know (404 on the reply): logged as an error with a traceback.
    DiscordFrame("regression_unknown_channel", "survive", "MESSAGE_CREATE", {
        "id": "1100000000000009991", "channel_id": "1100000000000009992", "type": 0, "content": "hello there",
        "author": discord_user(1100000000000009993, "zq0badc0e2"), "timestamp": "2026-11-25T00:00:00+00:00",
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False}),
    # `content` that is not a string (discord.py copies it unchecked): the core's text cleaning raised on it.
    DiscordFrame("regression_content_not_text", "survive", "MESSAGE_CREATE", {
        "id": "1100000000000009996", "channel_id": "1100000000000009997", "type": 0, "content": 12345,
        "author": discord_user(1100000000000009998, "alice"), "timestamp": "2026-11-25T00:00:00+00:00",
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False}),
    # No `author` at all: discord.py builds the message without one, and reading `message.author` raised.
    DiscordFrame("regression_no_author", "survive", "MESSAGE_CREATE", {
        "id": "1100000000000009999", "channel_id": "1100000000000009997", "type": 0, "content": "zq0badc0e3 hi",
        "timestamp": "2026-11-25T00:00:00+00:00", "edited_timestamp": None, "tts": False, "mention_everyone": False,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False}),
    # A custom_id longer than Discord allows that still looked like Haven's: discord.py tried to build a button
    # from it, which raised (logged as an error with a traceback). Now it does not match at all.
    DiscordFrame("regression_long_custom_id", "survive", "INTERACTION_CREATE", {
        "id": "1100000000000009990", "application_id": "1", "type": 3, "token": "t", "version": 1,
        "attachment_size_limit": 1024, "data": {"custom_id": "hv:case:claim|" + "x" * 110, "component_type": 2},
        "channel_id": "1", "user": discord_user(1100000000000009989, "carol"), "locale": "en-US",
        "app_permissions": "0", "entitlements": [], "authorizing_integration_owners": {}, "context": 1},
        interaction=True, live=True),
    # A press whose interaction Discord no longer knows (late or forged): the failed defer was an uncaught error.
    DiscordFrame("regression_expired_press", "survive", "INTERACTION_CREATE", {
        "id": "1100000000000009994", "application_id": "1", "type": 3, "token": "itoken-expired", "version": 1,
        "attachment_size_limit": 1024, "data": {"custom_id": "hv:crisis:person|", "component_type": 2},
        "channel_id": "1", "user": discord_user(1100000000000009995, "bob"), "locale": "en-US",
        "app_permissions": "0", "entitlements": [], "authorizing_integration_owners": {}, "context": 1},
        interaction=True, live=False),
]
