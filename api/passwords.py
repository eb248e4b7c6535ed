"""Console passwords: the policy a new one must meet, and its scrypt hash.

Policy (OWASP ASVS 4.0 V2.1.1 and NIST SP 800-63B: length and a deny-list, no composition rules): at least
:data:`MIN_LENGTH` characters (12, ASVS's minimum for staff who read every conversation; NIST SP 800-63B-4 asks
15 of a password that is the only factor, as here), at most :data:`MAX_LENGTH` (what sign-in accepts), and not a
common password (``common_passwords.txt``, shipped with this package), the user's own name or the service's. It
applies when a password is set; a user whose older password is shorter still signs in until an admin sets a new
one (``supportbot keys user NAME``).

Hash: scrypt with n=2^17, r=8, p=1 (OWASP's recommendation), stored as ``scrypt$n$r$p$salt$hash`` so a hash keeps
the cost it was made with; a sign-in that checks an older, cheaper one (n=2^14 until 2026-12) stores it again at
the current cost (:func:`needs_rehash`). One check takes 128 MiB (128·r·n bytes) and about 0.4 s of one core on the
development machine (n=2^14: 16 MiB, 0.04 s), so at most :data:`CONCURRENT_HASHES` run at once in a process.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
from functools import lru_cache
from importlib.resources import files

SCRYPT_N = 2**17  # the default cost of new hashes; tests may lower it (ApiConfig.password_scrypt_n), never below MIN
MIN_SCRYPT_N = 2**14  # the cost of every hash made before 2026-12: lower would be weaker than what was already stored
MAX_SCRYPT_N = 2**20  # 1 GiB per check: above that a stored hash is refused rather than computed
SCRYPT_R = 8
SCRYPT_P = 1
CONCURRENT_HASHES = 4  # 4 x 128 MiB at once in a process; more sign-ins wait (a burst took 128 MiB each)
MIN_LENGTH = 12
MAX_LENGTH = 1000
SERVICE_WORDS = ("supportbot",)  # context words NIST asks verifiers to refuse (the username is added per user)

_SLOTS = threading.BoundedSemaphore(CONCURRENT_HASHES)
# Common letter swaps ("p@ssw0rd" is "password") and the characters stripped around a common word ("password2024!").
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})
_AROUND = string.digits + string.punctuation + "¡¿"
_SPACES = re.compile(r"\s+")
# Runs along the alphabet, the digits and the keyboard's rows ("abcdefghijkl", "123456789012", "qwertyuiopas").
_RUNS = ("abcdefghijklmnopqrstuvwxyz" * 2, "0123456789" * 3, "qwertyuiopasdfghjklzxcvbnm" * 2, "1qaz2wsx3edc4rfv5tgb")


def validate_scrypt_n(n: int) -> int:
    """``n`` when it is a power of two from :data:`MIN_SCRYPT_N` to :data:`MAX_SCRYPT_N`.

    Raises:
        ValueError: it is not.
    """
    if n < MIN_SCRYPT_N or n > MAX_SCRYPT_N or n & (n - 1):
        raise ValueError(f"password_scrypt_n must be a power of two from 2^14 ({MIN_SCRYPT_N}) to 2^20, got {n}")
    return n


def scrypt_memory(n: int, r: int = SCRYPT_R, p: int = SCRYPT_P) -> int:
    """The bytes one scrypt computation with these parameters needs (OpenSSL's ``maxmem`` must allow it)."""
    return 128 * r * (n + p + 2)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    with _SLOTS:  # each takes 128·r·n bytes: a burst of sign-ins must not take them all at once
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                              maxmem=scrypt_memory(n, r, p) + 2**20)  # fmt: skip


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) of ``password``: a slow, salted hash (stdlib ``hashlib.scrypt``)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = _scrypt(password, salt, validate_scrypt_n(n), SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _parameters(stored: str) -> tuple[int, int, int, bytes, str] | None:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        cost = (int(n), int(r), int(p))
        raw_salt = bytes.fromhex(salt)
        bytes.fromhex(digest)
    except ValueError:
        return None
    if kind != "scrypt" or not (2 <= cost[0] <= MAX_SCRYPT_N and 1 <= cost[1] <= 32 and 1 <= cost[2] <= 16):
        return None
    return cost[0], cost[1], cost[2], raw_salt, digest


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` value of any cost (constant-time comparison)."""
    parsed = _parameters(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    try:
        computed = _scrypt(password, salt, n, r, p, len(digest) // 2)
    except ValueError:  # parameters OpenSSL refuses
        return False
    return secrets.compare_digest(computed.hex(), digest)


def needs_rehash(stored: str, n: int = SCRYPT_N) -> bool:
    """Whether ``stored`` was made cheaper than the cost ``n`` (and should be stored again at sign-in)."""
    parsed = _parameters(stored)
    return parsed is not None and (parsed[0] < n or parsed[1] < SCRYPT_R)


def unknown_user_hash(n: int = SCRYPT_N) -> str:
    """A stored form no password matches, checked for an unknown name so it costs what a known one costs."""
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${'00' * 16}${'00' * 32}"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped deny-list (``api/common_passwords.txt``), lowercase."""
    text = (files("api") / "common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _repeated_unit(text: str) -> str:
    """The shortest piece ``text`` is made of, repeated (``text`` itself when it is not a repetition)."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def _forms(password: str) -> set[str]:
    """What ``password`` may be made from: itself without spaces and case, without the digits and symbols around it,
    with common letter swaps undone, and the piece it repeats."""
    plain = _SPACES.sub("", password.lower())
    forms = {plain, plain.strip(_AROUND), plain.rstrip(_AROUND), plain.translate(_LEET)}
    forms |= {form.translate(_LEET).strip(_AROUND) for form in set(forms)}
    forms |= {_repeated_unit(form) for form in set(forms)}
    return {form for form in forms if form}


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be a console user's new password, or None when it may (the reason never quotes it).

    Args:
        password: the new password.
        username: the user's name (a password containing it is refused).
    """
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters (a few words make a good one)"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    forms = _forms(password)
    plain = _SPACES.sub("", password.lower())
    context = [word for word in (*SERVICE_WORDS, username.lower()) if len(word) >= 4]
    if any(word in form for word in context for form in (plain, plain.translate(_LEET))):
        return "the password must not contain the user's name or the service's name"
    if any(len(_repeated_unit(form)) <= 3 for form in (plain, plain.translate(_LEET))):
        return "the password must not be one character or a short pattern repeated"
    if any(plain in run or plain in run[::-1] for run in _RUNS):
        return "the password must not be a run of letters, digits or keyboard keys"
    if forms & common_passwords():
        return "the password is too common (it is on the list of common passwords): choose another"
    return None
