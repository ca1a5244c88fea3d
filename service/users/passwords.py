"""The password policy for new passwords (accounts made by an admin or ``jiefen users create``, changes).

At least 10 characters drawn from 3 of the 4 classes (lower case, upper case, digits, anything
else), or a passphrase of at least 16 characters; not the username nor containing it; not one of
the passwords every guessing list starts with. Demo and test logins are seeded as hashes and
never pass through here.
"""

from __future__ import annotations

MIN_LENGTH = 10
MIN_CLASSES = 3
PASSPHRASE_LENGTH = 16
MAX_LENGTH = 1024
# A username this short would forbid too many passwords by containment; equality still counts.
MIN_USERNAME_TO_CONTAIN = 3

# Compared case-insensitively. Only entries that would otherwise pass the rules above matter,
# but the well-known short ones are kept so the list reads as what it is.
COMMON_PASSWORDS = frozenset(
    p.lower()
    for p in (
        "123456",
        "12345678",
        "123456789",
        "1234567890",
        "password",
        "password1",
        "qwerty",
        "111111",
        "abc123",
        "iloveyou",
        "admin",
        "admin123",
        "welcome",
        "letmein",
        "5201314",
        "woaini1314",
        "jiefen2026",
        "Password1!",
        "Password12",
        "Password123",
        "Password123!",
        "Passw0rd!",
        "Passw0rd123",
        "P@ssw0rd",
        "P@ssw0rd1",
        "P@ssw0rd123",
        "P@ssword123",
        "Pa$$w0rd123",
        "Qwerty123!",
        "Qwerty12345",
        "Qwerty@123",
        "Qwer1234!",
        "Qwe123456!",
        "1qaz@WSX",
        "1qaz@WSX3edc",
        "1qaz2wsx3edc",
        "1qaz!QAZ2wsx",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "Aa123456789",
        "Aa1234567890",
        "Aa123456!",
        "Abc123456!",
        "Abc@123456",
        "Abcd1234!",
        "Abcd@12345",
        "Admin@123",
        "Admin@1234",
        "Admin@123456",
        "Admin123456",
        "Administrator1",
        "Welcome@123",
        "Welcome123!",
        "Welcome2026!",
        "Huawei@123",
        "Huawei12#$",
        "Changeme123!",
        "Test@123456",
        "Root@123456",
        "Jiefen@2026",
        "Jiefen2026!",
        "Kunshan@2026",
        "Kunshan123!",
        "zaq1@WSXcde3",
        "iloveyou1314",
        "woaini@1314",
        "Woaini1314!",
        "a1234567890",
        "qwertyuiop",
        "qwertyuiop123",
        "1234567890qwertyuiop",
        "passwordpassword",
        "abcdefghijklmnop",
    )
)


def character_classes(password: str) -> int:
    lower = any(c.islower() for c in password)
    upper = any(c.isupper() for c in password)
    digit = any(c.isdigit() for c in password)
    # Symbols, spaces and letters without case (汉字) all count as the fourth class.
    other = any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)
    return lower + upper + digit + other


def password_problems(password: str, username: str) -> list[str]:
    """What is wrong with ``password`` as a new password for ``username``; empty when it is fine."""
    problems = []
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    if len(password) < PASSPHRASE_LENGTH and (
        len(password) < MIN_LENGTH or character_classes(password) < MIN_CLASSES
    ):
        problems.append(
            f"at least {MIN_LENGTH} characters using {MIN_CLASSES} of: lower case, upper case, digits, "
            f"symbols — or at least {PASSPHRASE_LENGTH} characters"
        )
    folded, name = password.casefold(), username.casefold()
    if name and (folded == name or (len(name) >= MIN_USERNAME_TO_CONTAIN and name in folded)):
        problems.append("must not contain the username")
    if folded in COMMON_PASSWORDS or password.lower() in COMMON_PASSWORDS:
        problems.append("too common: it is on every password-guessing list")
    return problems
