"""The redactor masks a secret in every form it travels in, whatever characters it holds: URL- and
form-encoded, JSON-, Python- and HTML-escaped, base64 alone or inside basic auth; and it cuts an excerpt only
after masking it."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus, urlencode

import orjson
import pytest

from migrator.logging import Redactor
from tests.security.encodings import basic_auth, encodings

#: characters that every encoding writes differently
SECRET = 'p@ss w/rd+&=%"\\'
USER = "ann.admin@example.com"
CASES = [(name, form) for name, form in encodings(SECRET).items()]


@pytest.mark.parametrize(("name", "form"), CASES, ids=[name for name, _ in CASES])
def test_every_form_of_the_secret_is_masked(name: str, form: str) -> None:
    redactor = Redactor([SECRET])
    assert redactor.text(f"refused: {form} (try again)") == "refused: *** (try again)"


def test_the_encodings_differ_from_the_plain_secret() -> None:
    assert len(CASES) >= 10  # the scan is not a dozen copies of one string


def test_a_form_body_and_a_query_are_masked_field_by_field() -> None:
    redactor = Redactor([SECRET, USER])
    body = urlencode({"grant_type": "password", "username": USER, "password": SECRET})
    assert redactor.text(body) == "grant_type=password&username=***&password=***"


@pytest.mark.parametrize("user", ["", "a", "ab", USER])  # every alignment of the password in the base64
def test_basic_auth_holding_the_password_is_masked(user: str) -> None:
    header = f"Authorization: Basic {basic_auth(user, SECRET)}"
    masked = Redactor([SECRET]).text(header)
    assert masked.startswith("Authorization: Basic ")
    assert "***" in masked
    revealed = masked.removeprefix("Authorization: Basic ").replace("*", "")
    assert len(revealed) <= 4  # at most the user's own group of characters is left


def test_base64_of_a_secret_inside_other_base64_is_masked() -> None:
    token = base64.urlsafe_b64encode(b'{"sub": 7, "key": "' + SECRET.encode() + b'"}').decode()
    masked = Redactor([SECRET]).text(f"token={token};")
    assert masked == "token=***;"


def test_tokens_added_later_are_masked_in_every_form() -> None:
    redactor = Redactor([SECRET])
    redactor.add("tok/en+value=1")
    assert redactor.text(quote_plus("tok/en+value=1")) == "***"
    assert redactor.text(SECRET) == "***"


def test_text_without_a_secret_is_left_as_it_is() -> None:
    redactor = Redactor([SECRET, USER])
    text = 'GET /api/v2/user?page=2 → 400 {"Message": "The request is invalid.", "id": "c3VwZXJ1c2Vy"}'
    assert redactor.text(text) == text


@pytest.mark.parametrize("secrets", [[], [SECRET]], ids=["no secret known", "a secret known"])
@pytest.mark.parametrize("word", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_a_bearer_token_is_masked_whatever_the_case_of_its_word(secrets: list[str], word: str) -> None:
    """The bearer pass runs only where the word is, found case-blind as the pattern matches it."""
    redactor = Redactor(secrets)
    sent = f"sent {word}  abc.DEF-123_x and {word}\tzz/9+=ok"
    assert redactor.text(sent) == f"sent {word}  *** and {word}\t***"
    assert redactor.text("a bearer: Bear er abcdefgh") == "a bearer: Bear er abcdefgh"


def test_an_excerpt_is_cut_after_it_is_masked() -> None:
    redactor = Redactor([SECRET])
    body = ("x" * 190 + "password=" + quote_plus(SECRET) + "&more").encode()
    excerpt = redactor.excerpt(body, 200)
    assert excerpt == "x" * 190 + "password=*"  # the cut falls inside the secret: nothing of it shows
    assert redactor.excerpt(b"short " + SECRET.encode(), 200) == "short ***"


def test_short_values_are_not_masked() -> None:
    assert Redactor(["abc"]).text("abc abcd") == "abc abcd"


def test_a_json_answer_is_masked_under_sensitive_keys_and_elsewhere_left_as_sent() -> None:
    redactor = Redactor()
    plain = b'[{"id":1,"emailAddress":"ann@example.com"},{"id":2,"note":"Bearer abcdef123456"}]'
    masked = '[{"id":1,"emailAddress":"ann@example.com"},{"id":2,"note":"Bearer ***"}]'
    assert redactor.json_text(plain, 4096) == masked
    keyed = b'{"id": 1, "accessToken": "t0ps3cret", "rows": [{"password": "hunter22", "name": "Ann"}]}'
    assert orjson.loads(redactor.json_text(keyed, 4096)) == {
        "id": 1,
        "accessToken": "***",
        "rows": [{"password": "***", "name": "Ann"}],
    }


def test_a_sensitive_key_spelled_with_json_escapes_is_still_masked() -> None:
    body = b'{"pass\\u0077ord": "hunter22", "name": "Ann"}'  # "password", the w escaped
    assert orjson.loads(Redactor().json_text(body, 4096)) == {"password": "***", "name": "Ann"}


def test_a_body_that_is_not_json_is_masked_as_text() -> None:
    masked = Redactor(["hunter22"]).json_text(b"<html>hunter22 refused</html>", 4096)
    assert masked == "<html>*** refused</html>"


def test_only_the_first_characters_of_a_json_answer_are_kept_masked() -> None:
    rows = [{"id": i, "name": f"user{i}"} for i in range(200)]
    assert Redactor().json_text(orjson.dumps(rows), 30) == orjson.dumps(rows).decode()[:30]
    keyed = orjson.dumps([{"name": "a" * 40, "password": "hunter22"}, *rows])
    masked = orjson.dumps([{"name": "a" * 40, "password": "***"}, *rows]).decode()
    assert Redactor().json_text(keyed, 70) == masked[:70]
    assert "hunter22" not in Redactor().json_text(keyed, 10_000)
