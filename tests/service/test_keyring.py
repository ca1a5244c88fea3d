"""The personal-data key ring as an operator writes it in JIEFEN_DATA_KEY, and the id the next key
gets: a rotation's ring never names two keys alike, and a key without an id stays k1."""

from __future__ import annotations

import base64

import pytest

from service.personal.crypto import DataCipher, DataKeyError, new_key_line, next_kid


def bare() -> str:
    return new_key_line().split(":", 1)[1]


def test_a_key_without_an_id_is_k1_alone_and_behind_a_newer_key() -> None:
    old = bare()
    sealed = DataCipher.from_text(old).encrypt("320583199001011234", "id_number")
    assert sealed is not None and sealed.split(":")[1] == "k1"
    assert next_kid(old) == "k2"
    rotated = DataCipher.from_text(f"{new_key_line('k2')},{old}")
    assert rotated.current_kid == "k2"
    assert rotated.decrypt(sealed, "id_number") == "320583199001011234"


def test_the_next_id_follows_the_highest_and_ignores_other_names() -> None:
    assert next_kid(None) == next_kid("") == "k1"
    assert next_kid(f"{new_key_line('k3')},{new_key_line('k1')}") == "k4"
    assert next_kid(new_key_line("spring2026")) == "k1"
    key = new_key_line().split(":", 1)[1]
    with pytest.raises(DataKeyError, match="letters and digits"):
        next_kid(f"k²:{key}")  # refused as a ring, not a crash on int("²")


def test_a_ring_naming_a_key_twice_is_refused() -> None:
    with pytest.raises(DataKeyError, match="appears twice"):
        DataCipher.from_text(f"{bare()},{bare()}")
    with pytest.raises(DataKeyError, match="appears twice"):
        DataCipher.from_text(f"{new_key_line('k1')},{new_key_line('k1')}")


def test_a_damaged_or_foreign_ciphertext_is_a_key_error_not_a_crash() -> None:
    cipher = DataCipher.from_text(new_key_line())
    other = DataCipher.from_text(new_key_line())  # also k1, another key
    sealed = other.encrypt("13812345678", "phone")
    assert sealed is not None
    with pytest.raises(DataKeyError, match="does not verify under key 'k1'"):
        cipher.decrypt(sealed, "phone")
    with pytest.raises(DataKeyError, match="does not verify"):
        cipher.decrypt("v1:k1:not base64!", "phone")
    with pytest.raises(DataKeyError, match="no key 'k9'"):
        cipher.decrypt("v1:k9:" + base64.b64encode(b"x" * 40).decode(), "phone")
