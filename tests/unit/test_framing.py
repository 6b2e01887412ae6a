"""The LSP frame decoder: broken framing costs only the broken message."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwill.lsp.framing import FrameDecoder

LIMIT = 10_000


def frame(body: bytes, extra: bytes = b"", before: bytes = b"") -> bytes:
    return before + b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n" + body


def decode(chunks: list[bytes]) -> tuple[list[bytes], list[str]]:
    dec = FrameDecoder(max_body=LIMIT, max_header=2048)
    bodies: list[bytes] = []
    errors: list[str] = []
    for chunk in chunks:
        dec.feed(chunk)
        for f in dec.frames():
            if f.body is not None:
                bodies.append(f.body)
            else:
                assert f.error
                errors.append(f.error)
    return bodies, errors


def test_well_formed_stream_in_any_chunks() -> None:
    msgs = [json.dumps({"jsonrpc": "2.0", "method": "m", "params": {"n": i}}).encode() for i in range(5)]
    stream = b"".join(frame(m) for m in msgs)
    for size in (1, 2, 7, 64, len(stream)):
        bodies, errors = decode([stream[i:i + size] for i in range(0, len(stream), size)])
        assert bodies == msgs and errors == []


def test_header_order_case_and_extra_headers() -> None:
    body = b'{"a": 1}'
    stream = (b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 8\r\n\r\n" + body
              + b"CONTENT-LENGTH:8\r\nContent-Type: x\r\n\r\n" + body)
    assert decode([stream]) == ([body, body], [])


def test_each_kind_of_broken_header_is_reported_and_the_next_message_survives() -> None:
    good = b'{"ok": true}'
    cases = {
        b"Content-Length: abc\r\n\r\n{}": "not a number",
        b"Content-Length: 99999999999\r\n\r\n{}": "over the limit",
        b"Content-Type: x\r\n\r\n{}": "without a Content-Length",
        b"Content-Length: 500\r\n\r\n{}": "shorter than its Content-Length",
        b"Content-Length: 3\r\n\r\n": "shorter than its Content-Length",  # no body at all
        b"Content-Length: 1\r\n\r\n{}": "before a message header",  # too short: the rest is junk
        b"{stray bytes}": "before a message header",
    }
    for broken, why in cases.items():
        bodies, errors = decode([broken + frame(good)])
        assert bodies[-1:] == [good], broken
        assert any(why in e for e in errors), (broken, errors)


def test_a_huge_length_is_refused_without_allocating_it() -> None:
    dec = FrameDecoder()
    dec.feed(b"Content-Length: 1099511627776\r\n\r\n")
    (f,) = list(dec.frames())
    assert f.body is None and "over the limit" in (f.error or "")
    assert dec.buffered == 0


def test_junk_without_any_header_is_dropped_in_bounded_memory() -> None:
    dec = FrameDecoder(max_header=1024)
    errors = []
    for _ in range(100):
        dec.feed(b"x" * 1000)
        errors += [f.error for f in dec.frames()]
        assert dec.buffered <= 2048
    assert errors
    dec.feed(frame(b"{}"))
    assert [f.body for f in dec.frames() if f.body is not None] == [b"{}"]


def test_body_that_mentions_headers_in_json_strings_is_intact() -> None:
    body = json.dumps({"text": "Content-Length: 5\r\n\r\n{} content-length"}).encode()
    assert decode([frame(body), frame(body)]) == ([body, body], [])


# -- property: valid messages survive any garbage around them ------------------------------
_no_key = st.binary(max_size=120).filter(lambda b: b"content-length" not in b.lower())
garbage = st.one_of(
    _no_key,
    st.builds(lambda n, body: b"Content-Length: %d\r\n\r\n" % n + body,
              st.integers(0, 300), _no_key),  # a length that does not fit its body
    st.builds(lambda v: b"Content-Length: " + v + b"\r\n\r\n", st.sampled_from([b"", b"x", b"-1", b"1e3", b"0x10"])),
    st.just(b"Content-Length: 99999999999\r\n\r\n"),
    st.just(b"Content-Type: text/plain\r\n\r\n"),
    st.just(b"\r\n\r\n"),
    st.sampled_from([b"Content-Len", b"content-length: 1", b"Content-Length: 1\r\n", b"Content-Length: 7\r",
                     b'Content-Length: 40\r\n\r\n{"a":', b"Content-Length: 2\r\n\r\nContent-Length: 9"]),
)
valid_text = st.lists(st.sampled_from([*"ab \n\r{}\"\\:é😀\x00", "Content-Length: 5\r\n\r\n",
                                       "content-length"]), max_size=20).map("".join)
extra_header = st.sampled_from([b"", b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.tuples(garbage | st.just(b""), valid_text, extra_header), min_size=1, max_size=6),
       cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_every_intact_message_is_recovered_whatever_comes_before_it(items, cuts) -> None:
    stream = b""
    expected = []
    for n, (junk, text, extra) in enumerate(items):
        body = json.dumps({"jsonrpc": "2.0", "method": "m", "params": {"n": n, "text": text}}).encode()
        expected.append(body)
        stream += junk + frame(body, extra)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    bodies, _ = decode(chunks)
    recovered = [b for b in bodies if b in expected]
    assert recovered == expected
