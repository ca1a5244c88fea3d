"""The password policy for new passwords (accounts made by an admin or ``jiefen users create``, changes).

A new password is judged by zxcvbn, a maintained strength estimator: it finds dictionary words
(common passwords, names, English words), keyboard walks, repeats, sequences, dates and l33t
substitutions, and estimates how many guesses the password would take. It must reach
``PasswordPolicy.min_score`` (``JIEFEN_PASSWORD_MIN_SCORE``, 3 of 0-4: about 10^8 guesses or more).
The estimator is also given the words an attacker would try first against this service: its own
name (解纷, jiefen), the city (昆山, kunshan), the current year, the username and its parts, the
display name, the unit's name and code. Besides: at least ``MIN_LENGTH`` characters, not containing
the username, and not one of the passwords every Chinese guessing list starts with, which the
estimator's English-language lists rank too low.

When refused, the problem names the field and says why, in the estimator's own words. Demo and
test logins are seeded as hashes (service.demo) and never pass through here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from zxcvbn import zxcvbn

from service.config.settings import Settings
from service.users.security import hash_workers

MIN_LENGTH = 10
MAX_LENGTH = 1024
# zxcvbn's cost grows fast with length; it refuses more than this. A longer password is judged by
# its first ESTIMATED characters: it is at least as strong as they are.
ESTIMATED = 72
# A username this short would forbid too many passwords by containment; equality still counts.
MIN_USERNAME_TO_CONTAIN = 3
TOP_SCORE = 4

# The service, its place and its trade: the first words anyone guessing here would try.
PRODUCT_WORDS = ("jiefen", "解纷", "kunshan", "昆山", "tiaojie", "调解", "mediator", "mediation")
# Building blocks of the passwords common in China that the estimator's lists rank low.
LOCAL_WORDS = ("woaini", "5201314", "1314", "520", "huawei", "admin", "root", "test", "qwer", "changeme")

# Compared case-insensitively: exact matches refused whatever the estimator says of them.
COMMON_PASSWORDS = frozenset(
    p.lower()
    for p in (
        "1234567890",
        "woaini1314",
        "jiefen2026",
        "Password1!",
        "Password12",
        "Password123",
        "Password123!",
        "Passw0rd123",
        "P@ssw0rd123",
        "P@ssword123",
        "Pa$$w0rd123",
        "Qwerty123!",
        "Qwerty12345",
        "Qwerty@123",
        "Qwe123456!",
        "1qaz@WSX3edc",
        "1qaz2wsx3edc",
        "1qaz!QAZ2wsx",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "Aa123456789",
        "Aa1234567890",
        "Abc@123456",
        "Abcd@12345",
        "Abcdefgh12",
        "Admin@1234",
        "Admin@123456",
        "Admin123456",
        "Administrator1",
        "Welcome@123",
        "Welcome123!",
        "Huawei@123",
        "Huawei12#$",
        "Changeme123!",
        "Test@123456",
        "Root@123456",
        "zaq1@WSXcde3",
        "iloveyou1314",
        "Woaini1314!",
        "a1234567890",
        "qwertyuiop123",
        "1234567890qwertyuiop",
        "passwordpassword",
        "abcdefghijklmnop",
    )
)

# zxcvbn keeps the words of the current call in a module-level dictionary: one call at a time.
_estimator = threading.Lock()


@dataclass(frozen=True)
class PasswordPolicy:
    min_score: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordPolicy:
        return cls(min_score=settings.password_min_score)


def account_words(
    username: str, *, now: datetime, display_name: str = "", unit_name: str = "", unit_code: str = ""
) -> list[str]:
    """What an attacker knows about the account: its names, its unit, the years around now."""
    years = [str(now.year + d) for d in (-1, 0, 1)]
    return [w for w in (username, display_name, unit_name, unit_code, *years) if w]


def _estimator_words(username: str, words: Iterable[str]) -> list[str]:
    parts = [p for p in re.split(r"[._\-\s]+", username) if len(p) >= 2]
    return [*PRODUCT_WORDS, *LOCAL_WORDS, username, *parts, *words]


def _strength(password: str, words: list[str]) -> tuple[int, str]:
    """zxcvbn's score (0-4) and its feedback as one sentence."""
    with _estimator:
        result = zxcvbn(password[:ESTIMATED], user_inputs=words, max_length=ESTIMATED)
    feedback = result["feedback"]
    advice = " ".join(s for s in [feedback["warning"], *feedback["suggestions"]] if s)
    return int(result["score"]), advice


def password_problems(
    password: str,
    username: str,
    *,
    words: Iterable[str] = (),
    policy: PasswordPolicy | None = None,
) -> list[str]:
    """What is wrong with ``password`` as a new password for ``username``; empty when it is fine.

    ``words``: more that an attacker would know (see ``account_words``).
    """
    policy = policy or PasswordPolicy()
    problems = []
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    folded, name = password.casefold(), username.casefold()
    if name and (folded == name or (len(name) >= MIN_USERNAME_TO_CONTAIN and name in folded)):
        problems.append("must not contain the username")
    if folded in COMMON_PASSWORDS or password.lower() in COMMON_PASSWORDS:
        problems.append("too common: it is on every password-guessing list")
    elif password:
        score, advice = _strength(password, _estimator_words(username, words))
        if score < policy.min_score:
            why = f"too easy to guess (strength {score} of {TOP_SCORE}, at least {policy.min_score} needed)"
            problems.append(f"{why}: {advice}" if advice else why)
    return problems


async def check_password(
    password: str,
    username: str,
    *,
    words: Iterable[str] = (),
    policy: PasswordPolicy | None = None,
) -> list[str]:
    """``password_problems`` in a worker thread: estimating a long password takes CPU time."""
    return await hash_workers.run(
        partial(password_problems, password, username, words=list(words), policy=policy)
    )
