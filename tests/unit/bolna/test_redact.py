"""The redactor: no known secret survives, and text without secrets is untouched."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bolna_sip_operator.bolna import Redactor

_ALPHABET = st.sampled_from("ab*x- ")
_SECRETS = st.lists(st.text(_ALPHABET, min_size=1, max_size=6), max_size=3)


@given(st.text(_ALPHABET, max_size=60), _SECRETS)
@example("xa*", ["a*"])
@example("***", ["*"])
@example("token abab", ["aba", "bab"])
def test_no_secret_survives(text: str, secrets: list[str]) -> None:
    result = Redactor(secrets)(text)
    assert not any(secret in result for secret in secrets)


@given(st.text(max_size=60), st.lists(st.text(min_size=1, max_size=8), max_size=3))
def test_text_without_secrets_is_untouched(text: str, secrets: list[str]) -> None:
    if not any(secret in text for secret in secrets):
        assert Redactor(secrets)(text) == text


@given(st.text("abc ", max_size=20), st.text("0123456789", min_size=1, max_size=8),
       st.text("abc ", max_size=20))
def test_an_occurrence_becomes_one_mask(prefix: str, secret: str, suffix: str) -> None:
    assert Redactor([secret])(prefix + secret + suffix) == prefix + "***" + suffix


def test_examples() -> None:
    redact = Redactor(["tok-1", "pw", None, ""])
    assert redact("bad token tok-1 / pw") == "bad token *** / ***"
    assert redact("") == ""
    assert Redactor([])("anything") == "anything"
    assert Redactor(["abc", "bcd"])("xabcdx") == "x***x"
    assert "tok-1" not in repr(redact)
    assert redact.with_secrets(["more"])("more tok-1") == "*** ***"
