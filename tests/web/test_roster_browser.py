"""A town coordinator imports the roster in Chromium: a file with errors shows every bad line and
writes nothing; the corrected file is previewed, imported, and its people are on the roster, which
a village mediator then reads on a phone."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

from playwright.sync_api import expect

from tests.builders import DASHI, WULIAN, ZHOUXIANG
from tests.web.conftest import Web, fits_phone

HEADER = "姓名,单位,专兼职,擅长,语言,特邀编号,特邀起,特邀止,电话"


def test_a_roster_with_errors_is_shown_line_by_line_then_fixed_and_imported(web: Web, tmp_path: Path) -> None:
    tag = uuid4().hex[:4]
    first, second, third = f"孙丽{tag}", f"周强{tag}", f"钱芳{tag}"
    bad = tmp_path / "名册-有误.csv"
    bad.write_text(
        "\n".join(
            [
                HEADER,
                f"{first},{DASHI},专职,邻里;婚姻家庭,普通话;昆山话,TY-{tag},2026-01-01,2027-12-31,13812345678",
                f"{second},{ZHOUXIANG},临时,合同,普通话,,,,",
                f"{third},{WULIAN},兼职,物业,,,2027-01-01,2026-01-01,12",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    web.expect_status(422)

    coordinator = web.page("zhangpu.coordinator")
    coordinator.get_by_role("link", name="调解员名册", exact=True).click()
    expect(coordinator.locator("h1")).to_have_text("调解员名册")
    coordinator.get_by_role("link", name="导入名册").click()
    coordinator.locator("#file").set_input_files(bad)
    coordinator.get_by_role("button", name="上传").click()

    errors = coordinator.locator("table.import-errors tbody tr")
    expect(coordinator.get_by_role("heading", name=re.compile("发现 4 处错误"))).to_be_visible()
    expect(coordinator.get_by_text("未导入任何内容。")).to_be_visible()
    expect(errors).to_have_count(4)
    expect(errors.nth(0)).to_contain_text("3专兼职请填写“专职”或“兼职”")
    expect(errors.nth(1)).to_contain_text("4单位该单位不在您的管理范围内")
    expect(errors.nth(2)).to_contain_text("4特邀止特邀截止日早于起始日")
    expect(errors.nth(3)).to_contain_text("4电话电话号码格式不正确")
    web.shot(coordinator, "1-errors")

    good = tmp_path / "名册.csv"
    good.write_text(
        "\n".join(
            [
                HEADER,
                f"{first},{DASHI},专职,邻里;婚姻家庭,普通话;昆山话,TY-{tag},2026-01-01,2027-12-31,13812345678",
                f"{second},{ZHOUXIANG},兼职,合同,普通话,,,,",
                f"{third},{DASHI},兼职,物业,,,,,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    coordinator.locator("#file").set_input_files(good)
    coordinator.get_by_label("仅预览，不写入").check()
    coordinator.get_by_role("button", name="上传").click()
    expect(coordinator.get_by_role("heading", name="预览：将新增 3 人，更新 0 人")).to_be_visible()
    web.shot(coordinator, "2-preview")

    coordinator.locator("#file").set_input_files(good)
    coordinator.get_by_label("仅预览，不写入").uncheck()
    coordinator.get_by_role("button", name="上传").click()
    expect(coordinator.get_by_role("heading", name="已导入：新增 3 人，更新 0 人")).to_be_visible()
    coordinator.get_by_role("link", name="查看名册").click()
    coordinator.get_by_label("姓名").fill(tag)
    coordinator.get_by_role("button", name="筛选").click()
    cards = coordinator.locator("ul.roster li.card")
    expect(cards).to_have_count(3)
    expect(coordinator.locator("li.card", has_text=first)).to_contain_text("特邀调解员，至 2027年12月31日")
    web.shot(coordinator, "3-roster")

    # A mediator of 大市 reads the station's roster on a phone, and cannot change it.
    mediator = web.page("dashi.mediator", phone=True)
    mediator.goto("/roster")
    expect(mediator.locator("li.card", has_text=first)).to_contain_text("擅长：邻里、婚姻家庭")
    expect(mediator.locator("li.card", has_text=second)).to_have_count(0)  # 周巷, not their station
    expect(mediator.get_by_role("link", name="导入名册")).to_have_count(0)
    mediator.locator("li.card", has_text=first).click()
    expect(mediator.locator("h1")).to_have_text(first)
    expect(mediator.locator("dl.facts")).to_contain_text("138****5678")
    expect(mediator.get_by_role("button", name="停用")).to_have_count(0)
    fits_phone(mediator)
    web.shot(mediator, "4-phone")
