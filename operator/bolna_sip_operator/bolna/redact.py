"""Scrub known secret values out of text that came from elsewhere.

Bolna's error messages are the server's text, not ours: a validation error could echo
the request (FastAPI's 422 ``detail`` carries each field's ``input``), a proxy could echo
a header. Everything the client puts into an exception message goes through a
``Redactor`` holding the secrets of that request (the API token, the SIP password of the
body) before it can reach a log line, an Event or a status condition.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
_WITHHELD = "(message withheld: it contained a secret)"


class Redactor:
    """Replaces every occurrence of any of the given secret values with ``***``.

    Occurrences are found in the original text and each maximal run of secret
    characters becomes one ``***``, so overlapping secrets cannot leave a tail behind.
    Should the masked text still contain a secret (a secret made of ``*``, or one that
    the mask completes), the whole message is withheld: the guarantee is that no secret
    survives, not that the message does.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is found whole.
        unique = {secret for secret in secrets if secret}
        self._secrets: tuple[str, ...] = tuple(sorted(unique, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret(s))"

    def with_secrets(self, secrets: Iterable[str | None]) -> Redactor:
        """A redactor that also knows ``secrets``."""
        return Redactor((*self._secrets, *secrets))

    def __call__(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        covered = [False] * len(text)
        for secret in self._secrets:
            start = text.find(secret)
            while start != -1:
                for index in range(start, start + len(secret)):
                    covered[index] = True
                start = text.find(secret, start + 1)
        if not any(covered):
            return text
        pieces: list[str] = []
        for index, char in enumerate(text):
            if not covered[index]:
                pieces.append(char)
            elif index == 0 or not covered[index - 1]:
                pieces.append(MASK)
        masked = "".join(pieces)
        for candidate in (masked, _WITHHELD, MASK):
            if not self._leaks(candidate):
                return candidate
        return ""

    def _leaks(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)
