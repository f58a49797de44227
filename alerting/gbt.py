"""A GB/T 35965.1-*style* early-warning message (应急信息交互协议 第1部分：预警信息).

Why: China's national emergency early-warning release system (国家突发事件预警信息发布系统)
and its provincial platforms exchange warnings in the structure of GB/T 35965.1-2018, a
CAP-derived protocol. We do not have the standard's full text, so this is honestly a
*style*: the structure and value sets below follow the publicly described parts of the
standard (its Annex A value rules) and CAP 1.2, from which it derives. A platform
integration must be checked against the standard itself.

Modelled: ``<alert>`` with ``identifier`` in the Annex A form
``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`` (14-digit issuing-unit code: 6-digit GB/T 2260 area
code, 3-digit agency code, 3-digit internal code, 2-digit extension; the entry time in
Beijing time; a 0-9 sequence), ``sender`` (unit name), ``senderCode``, ``sendTime``
(``YYYY-MM-DD hh:mm:ss+08:00``), ``status`` (Actual 实际 / Exercise 演练 / System / Test /
Draft), ``msgType`` (Alert / Update / Cancel / Ack / Error), ``scope`` (Public /
Restricted / Private), optional ``references``; one ``<info>`` (zh-CN) with ``eventType``,
``urgency``, ``severity``, ``certainty``, ``effective``, ``senderName``, ``headline``,
``description``, ``instruction`` and ``<area>`` (``areaDesc``, ``circle``). Severity is the
four-level scale of the Emergency Response Law (突发事件应对法): Ⅰ级 红色 Red, Ⅱ级 橙色
Orange, Ⅲ级 黄色 Yellow, Ⅳ级 蓝色 Blue (or Unknown); the code is the colour word, and the
headline leads with 【Ⅱ级/橙色预警】.

Not modelled: GB/T 35561 event-type codes (``eventType`` carries the citycc category
name), the standard's XML namespace and file naming, GB/T 2260 codes below the city (the
caller passes the sender code), digital signatures, and attachments.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from alerting.cap import CERTAINTY, MSG_TYPE, SCOPE, STATUS, URGENCY, certainty
from alerting.exports import area_circle, local_time, warning_texts, xml_text
from alerting.incident_model import Incident

BEIJING_HOURS = 8.0  # Annex A: Beijing time, offset +08:00
LEVELS = {"critical": ("Red", "Ⅰ", "红色"), "major": ("Orange", "Ⅱ", "橙色"),
          "minor": ("Yellow", "Ⅲ", "黄色"), "info": ("Blue", "Ⅳ", "蓝色")}
SEVERITY_CODES = ("Red", "Orange", "Yellow", "Blue", "Unknown")
IDENTIFIER = re.compile(r"^\d{14}_\d{14}_\d$")
SEND_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d$")
ALERT_REQUIRED = ("identifier", "sender", "senderCode", "sendTime", "status", "msgType",
                  "scope", "info")
INFO_REQUIRED = ("eventType", "urgency", "severity", "certainty", "headline", "description",
                 "instruction", "area")
_ENUMS = {"status": STATUS, "msgType": MSG_TYPE, "scope": SCOPE, "urgency": URGENCY,
          "severity": SEVERITY_CODES, "certainty": CERTAINTY}


def _el(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    e = ET.SubElement(parent, tag)
    if text is not None:
        e.text = xml_text(text)
    return e


def gbt_identifier(sender_code: str, sent_ms: int, n: int = 0) -> str:
    """``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`` with the time in Beijing time."""
    if not re.fullmatch(r"\d{14}", sender_code) or not 0 <= n <= 9:
        raise ValueError(f"sender code must be 14 digits and n 0..9, got {sender_code!r}/{n}")
    t = datetime.fromtimestamp(sent_ms // 1000, tz=timezone(timedelta(hours=BEIJING_HOURS)))
    return f"{sender_code}_{t:%Y%m%d%H%M%S}_{n}"


def incident_to_gbt(incident: Incident, enrichment: Mapping[str, Any], sent_ms: int,
                    status: str = "Actual", *, sender_code: str = "43010000000000",
                    sender: str | None = None, msg_type: str = "Alert", n: int = 0,
                    references: Sequence[str] = ()) -> str:
    """The message as UTF-8 XML text. ``sender_code`` is the issuing unit's 14-digit code
    (default: 长沙市 430100, agency/internal/extension codes 0); ``n`` distinguishes two
    messages of one unit in the same second."""
    for name, value, allowed in (("status", status, STATUS), ("msgType", msg_type, MSG_TYPE)):
        if value not in allowed:
            raise ValueError(f"GB/T {name} must be one of {allowed}, got {value!r}")
    city = enrichment.get("city") or {}
    unit = sender or f"{city.get('zh', '')}城市运行管理中心"
    code, roman, colour = LEVELS.get(incident.severity, ("Unknown", "", ""))
    t = warning_texts(incident, enrichment, "zh-CN")
    over = incident.status != "open"
    root = ET.Element("alert")
    _el(root, "identifier", gbt_identifier(sender_code, sent_ms, n))
    _el(root, "sender", unit)
    _el(root, "senderCode", sender_code)
    _el(root, "sendTime", local_time(sent_ms, BEIJING_HOURS, " "))
    _el(root, "status", status)
    _el(root, "msgType", msg_type)
    _el(root, "scope", "Public")
    if references:
        _el(root, "references", " ".join(references))
    info = _el(root, "info")
    _el(info, "language", "zh-CN")
    _el(info, "eventType", incident.category)
    _el(info, "urgency", "Past" if over else "Immediate")
    _el(info, "severity", code)
    _el(info, "certainty", certainty(incident))
    _el(info, "effective", local_time(sent_ms, BEIJING_HOURS, " "))
    _el(info, "senderName", unit)
    prefix = f"【{roman}级/{colour}预警】" if roman else ""
    if status == "Exercise":
        prefix = "【演练】" + prefix
    _el(info, "headline", prefix + t["headline"])
    _el(info, "description", t["description"])
    _el(info, "instruction", t["instruction"])
    area = _el(info, "area")
    _el(area, "areaDesc", t["areaDesc"] or incident.district or "-")
    circle = area_circle(incident, enrichment)
    if circle:
        _el(area, "circle", circle)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def validate_gbt(document: str | bytes) -> list[str]:
    """Problems of a message against the modelled structure; [] when it conforms."""
    try:
        root = ET.fromstring(document.encode() if isinstance(document, str) else document)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != "alert":
        return [f"root element must be <alert>, got {root.tag!r}"]
    problems: list[str] = []
    _required(root, "alert", ALERT_REQUIRED, problems)
    ident = (root.findtext("identifier") or "").strip()
    if ident and not IDENTIFIER.match(ident):
        problems.append(f"alert/identifier: {ident!r} is not ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N")
    code = (root.findtext("senderCode") or "").strip()
    if code and ident and not ident.startswith(code + "_"):
        problems.append(f"alert/identifier: does not start with the senderCode {code}")
    for path, e in [("alert", root)] + [(f"alert/info[{i}]", x)
                                         for i, x in enumerate(root.findall("info"), 1)]:
        for name, allowed in _ENUMS.items():
            text = (e.findtext(name) or "").strip()
            if text and text not in allowed:
                problems.append(f"{path}/{name}: {text!r} is not one of {list(allowed)}")
        for name in ("sendTime", "effective", "expires"):
            text = (e.findtext(name) or "").strip()
            if text and not SEND_TIME.match(text):
                problems.append(f"{path}/{name}: {text!r} is not YYYY-MM-DD hh:mm:ss±hh:mm")
        if e is not root:
            _required(e, path, INFO_REQUIRED, problems)
            for j, area in enumerate(e.findall("area"), 1):
                _required(area, f"{path}/area[{j}]", ("areaDesc",), problems)
    return problems


def _required(el: ET.Element, path: str, names: Sequence[str], problems: list[str]) -> None:
    for name in names:
        child = el.find(name)
        if child is None:
            problems.append(f"{path}: missing required <{name}>")
        elif len(child) == 0 and not (child.text or "").strip():
            problems.append(f"{path}: <{name}> is empty")
