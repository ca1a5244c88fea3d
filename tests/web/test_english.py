"""English that is complete: as each demo role, every page the navigation reaches, a case page in
every state the demo has and the inbox show no Chinese text in English, except what people typed.

What people typed stays as they typed it: the parties' names and addresses, a case's summary, the
users' and mediators' names. Those are collected from the data (the API, the demo's users and
roster) and taken out of each text before it is checked; whatever Chinese is left is the
product's own words and fails the test, naming the page and the text.

HTTP against a real `jiefen serve` with the demo data, reading the pages as a reader meets them:
the text outside scripts and hidden elements, and the tooltips, placeholders, labels read out by a
screen reader and the window title. It needs no browser, so it runs wherever the server does.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.demo import DEMO_USERS
from service.web.session import LANGUAGE_COOKIE
from tests.live_server import DEMO_PASSWORD, Server

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

# One of each role, and of each kind of unit a role sits in (village, town, city, committee,
# agency, court).
ROLES = [
    "dashi.mediator",
    "medical.mediator",
    "zhangpu.coordinator",
    "city.coordinator",
    "zhangpu.police",
    "court.clerk",
    "auditor",
    "admin",
]

ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Texts(HTMLParser):
    """The texts of a page a reader meets; elements marked lang="zh-CN" (the switch) are meant."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.skipping: list[str] = []  # open elements whose text is not shown
        self.links: list[str] = []
        self.in_nav = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ATTRIBUTES:
            if values.get(name) and not self.skipping:
                self.texts.append(str(values[name]).strip())
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(str(values["value"]))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag in VOID:
            return
        hidden = tag in ("script", "style", "template") or "hidden" in values or values.get("lang") == "zh-CN"
        if self.skipping or hidden:
            self.skipping.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.texts.append(data.strip())


def read_page(html: str) -> _Texts:
    parser = _Texts()
    parser.feed(html)
    parser.close()
    return parser


class Names:
    """What people typed, longest first so a name inside a longer one is taken out with it."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: list[str] = []
        self.add(*names)

    def add(self, *names: str | None) -> None:
        typed = {n.strip() for n in [*self.names, *names] if n and CJK.search(n)}
        self.names = sorted(typed, key=len, reverse=True)

    def strip(self, text: str) -> str:
        for name in self.names:
            text = text.replace(name, " ")
        return text


def roster_names(data_dir: Path) -> list[str]:
    """The mediators' names and the languages they speak (昆山话, as the roster has it): the roster
    is data, read from the server's database."""
    names: list[str] = []
    databases = list(data_dir.rglob("*.db"))
    assert databases, f"no SQLite database under {data_dir}"
    for database in databases:
        with sqlite3.connect(database) as connection:
            tables = {
                row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "mediator" in tables:
                for name, languages in connection.execute("SELECT name, languages FROM mediator"):
                    names += [name, *json.loads(languages or "[]")]
    assert names, "the demo seeds a roster"
    return names


def typed_in(case: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """The case's summary, its parties' names and addresses, the agreement's terms and the reasons
    people gave for what they did (a transition's reason; the server's own reasons are not typed)."""
    typed = [case.get("summary") or ""]
    for party in case.get("parties", []):
        typed += [party.get("name") or "", party.get("address") or ""]
    typed += [str(value) for value in (case.get("agreement") or {}).values() if isinstance(value, str)]
    typed += [event.get("reason") or "" for event in events if event.get("trigger")]
    # What people wrote in the session records and named their uploads, and the case file's
    # official number ((2026)昆张调卷字第 0001 号 is the same in every language).
    for record in case.get("_sessions", []):
        typed += [record.get("place") or "", record.get("proposal") or "", record.get("notes") or ""]
        typed += [s.get("text") or "" for s in record.get("statements", [])]
        typed += [a.get("name") or "" for a in [*record.get("agents", []), *record.get("others", [])]]
        typed += [o.get("role") or "" for o in record.get("others", [])]
    for upload in case.get("_attachments", []):
        typed += [upload.get("filename") or "", upload.get("note") or ""]
    typed += [number.get("text") or "" for number in case.get("_numbers", [])]
    return typed


def every_case(server: Server) -> list[dict[str, Any]]:
    """Every demo case with every field, as the city coordinator sees it."""
    headers = server.token("city.coordinator")
    found: dict[int, dict[str, Any]] = {}
    offset = 0
    while True:
        response = httpx.get(
            f"{server.base}/api/v1/cases",
            params={"limit": 200, "offset": offset},
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        listing = response.json()
        for item in listing["items"]:
            found[item["id"]] = item
        offset += len(listing["items"])
        if not listing["items"] or offset >= listing["total"]:
            break
    cases = [httpx.get(f"{server.base}/api/v1/cases/{i}", headers=headers, timeout=10).json() for i in found]
    for case in cases:
        response = httpx.get(f"{server.base}/api/v1/cases/{case['id']}/events", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        listed = response.json()
        case["_events"] = listed["items"] if isinstance(listed, dict) else listed
        for part, key in (("sessions", "sessions"), ("attachments", "items"), ("numbers", None)):
            response = httpx.get(
                f"{server.base}/api/v1/cases/{case['id']}/{part}", headers=headers, timeout=10
            )
            assert response.status_code == 200, response.text
            found_part = response.json()
            case[f"_{part}"] = found_part.get(key, []) if isinstance(found_part, dict) and key else found_part
    return cases


@pytest.fixture(scope="module")
def english_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # 60 demo cases: enough for every state to appear (see service/demo.py PATHS).
    server = Server(tmp_path_factory.mktemp("english-server"), demo_cases=60)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


@contextmanager
def signed_in_english(server: Server, username: str | None) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base, timeout=20, headers={"Origin": server.base}, follow_redirects=True
    ) as client:
        if username:
            response = client.post("/signin", data={"username": username, "password": DEMO_PASSWORD})
            assert response.status_code == 200 and "/signin" not in str(response.url), response.text
        client.cookies.set(LANGUAGE_COOKIE, "en")
        yield client


def check(client: httpx.Client, path: str, names: Names, found: dict[str, list[str]]) -> _Texts:
    response = client.get(path)
    if response.status_code != 200:
        found[path] = [f"HTTP {response.status_code}"]
    assert '<html lang="en">' in response.text, path
    page = read_page(response.text)
    left = [text for text in page.texts if CJK.search(names.strip(text))]
    if left:
        found[path] = left
    return page


def test_every_page_in_english_has_no_chinese_but_what_people_typed(english_server: Server) -> None:
    everything = every_case(english_server)
    cases = {case["state"]: case for case in everything}
    assert {"closed", "mediating", "assigned", "settled"} <= set(cases), sorted(cases)
    names = Names([u.display_name for u in DEMO_USERS] + roster_names(english_server.data_dir))
    for case in everything:
        names.add(*typed_in(case, case["_events"]))

    offences: dict[str, dict[str, list[str]]] = {}
    with signed_in_english(english_server, None) as client:
        found: dict[str, list[str]] = {}
        check(client, "/signin", names, found)
        if found:
            offences["(signed out)"] = found
    for username in ROLES:
        with signed_in_english(english_server, username) as client:
            found = {}
            home = check(client, "/", names, found)
            paths = [href for href in home.links if href.startswith("/") and not href.startswith("/lang/")]
            navigation = [p for p in dict.fromkeys(paths) if not re.fullmatch(r"/cases/\d+", p)]
            # The first case of the role's own list: the case page as the people handling it see it.
            own = [p for p in paths if re.fullmatch(r"/cases/\d+", p)][:1]
            for path in [*navigation, *own, "/inbox"]:
                if path.startswith(("/static/", "/dashboard/report", "/audit/export")):
                    continue
                if path == "/inbox" and username == "admin":
                    continue
                check(client, path, names, found)
            if found:
                offences[username] = found

    # Every state's case page, as the city coordinator who may open all of them, and the forms it
    # links to (the actions the state allows, recording a consent, reporting a risk of crime).
    with signed_in_english(english_server, "city.coordinator") as client:
        found = {}
        forms: list[str] = []
        for _state, case in sorted(cases.items()):
            page = check(client, f"/cases/{case['id']}", names, found)
            forms += [
                link
                for link in page.links
                if re.fullmatch(r"/cases/\d+/(act/\w+|consents/new|crime-reports/new)", link)
            ]
        assert forms
        for path in dict.fromkeys(forms):
            check(client, path, names, found)
        if found:
            offences["city.coordinator (a case in every state)"] = found

    report = [
        f"{who} {path}: {' | '.join(texts[:15])}"
        for who, pages in offences.items()
        for path, texts in pages.items()
    ]
    assert not report, "Chinese on English pages:\n" + "\n".join(report)


def test_the_api_names_units_in_english_when_english_is_asked_for(english_server: Server) -> None:
    headers = english_server.token("dashi.mediator")
    listing = httpx.get(f"{english_server.base}/api/v1/cases", headers=headers, timeout=10).json()
    case_id = listing["items"][0]["id"]

    def unit_names(language: str | None) -> tuple[str, str]:
        asked = {**headers, **({"Accept-Language": language} if language else {})}
        case = httpx.get(f"{english_server.base}/api/v1/cases/{case_id}", headers=asked, timeout=10).json()
        assert case["unit_code"] == "320583106005"  # the mediator's own station
        return case["unit_name"], case["triage"]["unit_name"]

    assert unit_names("en") == ("Dashi Community",) * 2
    assert unit_names("en-GB,en;q=0.9,zh-CN;q=0.8") == ("Dashi Community",) * 2
    assert unit_names(None) == ("大市社区",) * 2
    assert unit_names("zh-CN,zh;q=0.9,en;q=0.8") == ("大市社区",) * 2
    assert unit_names("fr, en;q=nonsense") == ("大市社区",) * 2
