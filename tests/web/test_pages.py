"""What every page owes every user: their language, a kind stale-form message, labels, a keyboard."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Web, sign_in


def test_the_english_switch_changes_the_language_and_it_stays(web: Web) -> None:
    case = web.api("dashi.mediator").open_case(summary="英文界面测试：邻里漏水纠纷")
    page = web.page("dashi.mediator")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(r"/cases$"))  # back where the reader was
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Cases")
    expect(page.get_by_role("link", name="Register", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="中文")).to_be_visible()
    web.shot(page, "1-cases-en")

    # Still English on the next pages: the case, an action form.
    page.goto(f"/cases/{case['id']}")
    expect(page.locator("h1 .state")).to_have_text("Awaiting acceptance")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    page.get_by_role("link", name="Accept", exact=True).click()
    expect(page.get_by_role("button", name="Confirm")).to_be_visible()
    web.shot(page, "2-action-en")

    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("button", name="确认办理")).to_be_visible()


def test_an_error_page_speaks_the_readers_language(web: Web) -> None:
    web.expect_status(404)
    page = web.page("wulian.mediator")
    hidden = web.api("dashi.mediator").open_case()  # another village's case

    response = page.goto(f"/cases/{hidden['id']}")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("出错了")
    expect(page.get_by_role("alert")).to_have_text("没有找到此案件，或不在您的办理范围内。")
    web.shot(page, "1-zh")

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Something went wrong")
    expect(page.get_by_role("alert")).to_have_text("No such case, or it is outside your scope.")
    expect(page.get_by_role("link", name="Go back")).to_be_visible()
    web.shot(page, "2-en")


def test_a_stale_form_says_someone_else_changed_the_case_and_what_changed(web: Web) -> None:
    station = web.api("dashi.mediator")
    case = station.fire(station.open_case(summary="两人同时办理的案件"), "accept")
    web.expect_status(409)

    mine = web.page("dashi.mediator")
    mine.goto(f"/cases/{case['id']}/act/settle")
    mine.get_by_label("协议形式").select_option("oral")
    mine.get_by_label("协议内容").fill("双方口头约定互不追究")

    # Meanwhile a colleague (another browser) suspends the case.
    theirs = web.page("dashi.mediator")
    theirs.goto(f"/cases/{case['id']}")
    theirs.get_by_role("link", name="中止", exact=True).click()
    theirs.get_by_label("说明").fill("等待伤情鉴定结果")
    theirs.get_by_role("button", name="确认办理").click()
    expect(theirs.locator("h1 .state")).to_have_text("中止")

    mine.get_by_role("button", name="确认办理").click()
    alert = mine.get_by_role("alert")
    expect(alert).to_contain_text("在您填写期间，其他人已办理了此案件")
    expect(alert.locator("ol.timeline > li")).to_have_count(1)
    expect(alert).to_contain_text("调解中 → 中止")
    expect(alert).to_contain_text("等待伤情鉴定结果")
    expect(mine.get_by_label("协议内容")).to_have_value("双方口头约定互不追究")  # nothing typed is lost
    expect(mine.locator("p.lead .state")).to_have_text("中止")
    web.shot(mine, "1-stale")


def _unlabelled_controls(page: Page) -> list[str]:
    """Every visible form control that get_by_label cannot find by its own label's text."""
    missing = []
    controls = page.locator("main input:not([type=hidden]), main select, main textarea")
    assert controls.count() > 0, f"{page.url} has no form to check"
    for i in range(controls.count()):
        control = controls.nth(i)
        name = control.get_attribute("name") or "?"
        text = control.evaluate("el => [...el.labels].map(l => l.textContent).join(' ')")
        text = " ".join(text.split())
        if not text:
            missing.append(f"{page.url}: {name} has no <label>")
            continue
        found = page.get_by_label(text, exact=True)
        if not found.evaluate_all("(els, el) => els.includes(el)", control.element_handle()):
            missing.append(f"{page.url}: {name} is not found by its label {text!r}")
    return missing


def test_every_form_control_has_a_label(web: Web) -> None:
    station = web.api("dashi.mediator")
    assigned = station.open_case()
    mediating = station.fire(station.open_case(), "accept")
    registered = station.open_case(dispute_type="OTHER")

    page = web.context().new_page()
    page.goto("/signin")
    missing = _unlabelled_controls(page)
    sign_in(page, "dashi.mediator")
    for path in [
        "/cases",
        "/cases/new",
        f"/cases/{assigned['id']}/act/accept",
        f"/cases/{assigned['id']}/act/escalate",
        f"/cases/{mediating['id']}/act/settle",
        f"/cases/{mediating['id']}/act/terminate",
        f"/cases/{mediating['id']}/act/hand_off",
        "/inbox",
    ]:
        page.goto(path)
        missing += _unlabelled_controls(page)
    sign_in(page, "zhangpu.coordinator")
    page.goto(f"/cases/{registered['id']}/act/dispatch")
    missing += _unlabelled_controls(page)
    expect(page.get_by_label("目标单位")).to_be_visible()
    assert not missing, "\n".join(missing)


def test_signing_in_with_the_keyboard_alone(web: Web) -> None:
    page = web.context().new_page()
    page.goto("/cases")  # not signed in: sent to the sign-in page, to come back here after
    expect(page).to_have_url(re.compile(r"/signin\?next=/cases$"))

    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "username":
            break
    expect(page.get_by_label("用户名")).to_be_focused()
    page.keyboard.type("dashi.mediator")
    page.keyboard.press("Tab")
    expect(page.get_by_label("密码")).to_be_focused()
    page.keyboard.type("wrong password")
    web.expect_status(401)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    expect(page.get_by_label("用户名")).to_have_value("dashi.mediator")
    web.shot(page, "1-wrong-password")

    page.get_by_label("密码").focus()  # a screen reader user jumps back to the field
    page.keyboard.type("jiefen2026")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/cases$"))
    expect(page.locator("h1")).to_have_text("案件")

    # The first Tab offers the skip link, which takes the keyboard past the menu.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="跳到正文")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/cases#main$"))
    web.shot(page, "2-signed-in")


def test_the_watch_catches_a_content_security_policy_violation(web: Web) -> None:
    """The harness itself: an inline script (which the CSP forbids) is reported, so its absence
    in every other test means something."""
    page = web.context().new_page()
    page.goto("/signin")
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.x = 1';"
            " document.body.appendChild(s); }"
        )
    assert page.evaluate("window.x") is None
    assert any("Content Security Policy" in p for p in web.problems), web.problems
    web.problems.clear()
