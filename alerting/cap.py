"""OASIS Common Alerting Protocol 1.2: an incident as a CAP alert, and a validator.

Why: CAP is how warnings travel between agencies and to public-alerting channels (sirens,
cell broadcast, Google Public Alerts). :func:`incident_to_cap` writes one ``<alert>`` with
an ``<info>`` in zh-CN and one in en, elements in the order of the CAP 1.2 schema, built
with ``xml.etree`` (text escaped, XML-illegal control characters removed). ``sent`` and
the other times carry a numeric offset (``+08:00``; UTC as ``-00:00``), never ``Z``, as
CAP 1.2 requires. :func:`validate_cap` checks a document against the rules of CAP 1.2
that matter here — required elements, their order, enumerations, time, identifier and
circle syntax — and returns precise problems (empty: valid). It is not a full XSD
validator: it does not check ``resource`` digests or ``polygon`` geometry beyond syntax.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Mapping, Sequence

from alerting.exports import area_circle, local_time, offset_hours, warning_texts, xml_text
from alerting.incident_model import Incident

NS = "urn:oasis:names:tc:emergency:cap:1.2"
STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE = ("Public", "Restricted", "Private")
CATEGORY = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
            "Transport", "Infra", "CBRNE", "Other")
RESPONSE = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
            "AllClear", "None")
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
ALERT_ORDER = ("identifier", "sender", "sent", "status", "msgType", "source", "scope",
               "restriction", "addresses", "code", "note", "references", "incidents", "info")
INFO_ORDER = ("language", "category", "event", "responseType", "urgency", "severity",
              "certainty", "audience", "eventCode", "effective", "onset", "expires",
              "senderName", "headline", "description", "instruction", "web", "contact",
              "parameter", "resource", "area")
AREA_ORDER = ("areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling")
_ALERT_REQUIRED = ("identifier", "sender", "sent", "status", "msgType", "scope")
_INFO_REQUIRED = ("category", "event", "urgency", "severity", "certainty")
_REPEATS = {"code", "info", "category", "responseType", "eventCode", "parameter", "resource",
            "area", "polygon", "circle", "geocode"}
_ENUMS = {"status": STATUS, "msgType": MSG_TYPE, "scope": SCOPE, "category": CATEGORY,
          "responseType": RESPONSE, "urgency": URGENCY, "severity": SEVERITY,
          "certainty": CERTAINTY}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
_NUM = r"-?\d+(\.\d+)?"
CIRCLE = re.compile(rf"^({_NUM}),({_NUM}) (\d+(\.\d+)?)$")
_FORBIDDEN = re.compile(r"[\s,<&]")

# citycc category -> CAP categories, response type
CAP_CATEGORIES: Mapping[str, tuple[tuple[str, ...], str]] = {
    "gas": (("Safety", "Infra"), "Evacuate"), "water": (("Infra",), "Monitor"),
    "fire": (("Fire",), "Avoid"), "traffic": (("Transport",), "Avoid"),
    "hazmat": (("CBRNE", "Transport"), "Evacuate"), "ems": (("Health", "Rescue"), "Monitor")}
CAP_SEVERITY = {"critical": "Extreme", "major": "Severe", "minor": "Moderate", "info": "Minor"}
LANGUAGES = ("zh-CN", "en")


def _el(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    e = ET.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        e.text = xml_text(text)
    return e


def certainty(incident: Incident) -> str:
    """Observed when corroborated (two alerts, or a linked call), else Likely."""
    return "Observed" if len(incident.members) >= 2 or incident.calls else "Likely"


def incident_to_cap(incident: Incident, enrichment: Mapping[str, Any], sent_ms: int,
                    status: str = "Actual", *, sender: str = "citycc@ops.local",
                    msg_type: str = "Alert", references: Sequence[str] = (),
                    expires_ms: int | None = None, scope: str = "Public") -> str:
    """A CAP 1.2 document (UTF-8 XML text). ``status`` is ``Exercise`` for drills;
    ``references`` are ``sender,identifier,sent`` triples of earlier messages (Update,
    Cancel). Raises ValueError for an enumerated value CAP does not allow."""
    for name, value, allowed in (("status", status, STATUS), ("msgType", msg_type, MSG_TYPE),
                                 ("scope", scope, SCOPE)):
        if value not in allowed:
            raise ValueError(f"CAP {name} must be one of {allowed}, got {value!r}")
    hours = offset_hours(enrichment)
    over = incident.status != "open"
    cats, response = CAP_CATEGORIES.get(incident.category, (("Other",), "Monitor"))
    root = ET.Element(f"{{{NS}}}alert")
    _el(root, "identifier", f"citycc-{incident.incident_id}-{sent_ms}")
    _el(root, "sender", sender)
    _el(root, "sent", local_time(sent_ms, hours))
    _el(root, "status", status)
    _el(root, "msgType", msg_type)
    _el(root, "source", "citycc")
    _el(root, "scope", scope)
    if status == "Exercise":
        _el(root, "note", "演练 / Exercise")
    if references:
        _el(root, "references", " ".join(references))
    _el(root, "incidents", incident.incident_id)
    city = enrichment.get("city") or {}
    for lang in LANGUAGES:
        zh = lang.startswith("zh")
        t = warning_texts(incident, enrichment, lang)
        info = _el(root, "info")
        _el(info, "language", lang)
        for c in cats:
            _el(info, "category", c)
        _el(info, "event", incident.category_zh if zh else incident.category_en)
        _el(info, "responseType", "AllClear" if over else response)
        _el(info, "urgency", "Past" if over else "Immediate")
        _el(info, "severity", CAP_SEVERITY.get(incident.severity, "Unknown"))
        _el(info, "certainty", certainty(incident))
        code = _el(info, "eventCode")
        _el(code, "valueName", "citycc:category")
        _el(code, "value", incident.category)
        _el(info, "effective", local_time(sent_ms, hours))
        _el(info, "onset", local_time(incident.opened_ms, hours))
        if expires_ms is not None:
            _el(info, "expires", local_time(expires_ms, hours))
        name = city.get("zh" if zh else "en") or ""
        _el(info, "senderName", f"{name}城市运行管理中心" if zh else
            f"{name} City Operations Center".strip())
        for key in ("headline", "description", "instruction"):
            _el(info, key, t[key])
        params = [("incident_id", incident.incident_id), ("alerts", len(incident.members))]
        params += [("UN_number", h["un_number"]) for h in enrichment.get("hazmat") or ()]
        for k, v in params:
            p = _el(info, "parameter")
            _el(p, "valueName", k)
            _el(p, "value", v)
        area = _el(info, "area")
        _el(area, "areaDesc", t["areaDesc"] or incident.district or "-")
        circle = area_circle(incident, enrichment)
        if circle:
            _el(area, "circle", circle)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + \
        ET.tostring(root, encoding="unicode", default_namespace=NS)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_block(el: ET.Element, path: str, order: Sequence[str], required: Sequence[str],
                 problems: list[str]) -> dict[str, list[ET.Element]]:
    """Children by name; reports unknown, missing, repeated and out-of-order elements."""
    kids: dict[str, list[ET.Element]] = {}
    last = -1
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = _local(child.tag)
        if not child.tag.startswith(f"{{{NS}}}"):
            problems.append(f"{path}: <{name}> is not in the CAP 1.2 namespace")
        if name not in order:
            problems.append(f"{path}: unknown element <{name}>")
            continue
        pos = order.index(name)
        if pos < last:
            problems.append(f"{path}: <{name}> is out of order (CAP 1.2 sequence: "
                            f"{', '.join(order)})")
        last = max(last, pos)
        kids.setdefault(name, []).append(child)
    for name, els in kids.items():
        if len(els) > 1 and name not in _REPEATS:
            problems.append(f"{path}: <{name}> appears {len(els)} times (at most once)")
    for name in required:
        if name not in kids:
            problems.append(f"{path}: missing required <{name}>")
        elif not (kids[name][0].text or "").strip():
            problems.append(f"{path}: <{name}> is empty")
    for name, allowed in _ENUMS.items():
        for e in kids.get(name, ()) if name in order else ():
            if (e.text or "").strip() and (e.text or "").strip() not in allowed:
                problems.append(f"{path}/{name}: {e.text!r} is not one of {list(allowed)}")
    for name in ("sent", "effective", "onset", "expires"):
        for e in kids.get(name, ()):
            text = (e.text or "").strip()
            if text and not TIME.match(text):
                problems.append(f"{path}/{name}: {text!r} is not YYYY-MM-DDThh:mm:ss±hh:mm "
                                f"(CAP 1.2: numeric offset, UTC as -00:00, no 'Z')")
    return kids


def validate_cap(document: str | bytes) -> list[str]:
    """Problems of a CAP 1.2 document, each naming where and why; [] when valid."""
    try:
        root = ET.fromstring(document.encode() if isinstance(document, str) else document)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != f"{{{NS}}}alert":
        return [f"root element must be <alert> in namespace {NS}, got {root.tag!r}"]
    problems: list[str] = []
    kids = _check_block(root, "alert", ALERT_ORDER, _ALERT_REQUIRED, problems)
    for name in ("identifier", "sender"):
        text = (kids.get(name, [ET.Element("x")])[0].text or "").strip()
        if text and _FORBIDDEN.search(text):
            problems.append(f"alert/{name}: {text!r} must not contain spaces, commas, "
                            f"'<' or '&'")
    scope = (kids.get("scope", [ET.Element("x")])[0].text or "").strip()
    for need, when in (("restriction", "Restricted"), ("addresses", "Private")):
        if scope == when and need not in kids:
            problems.append(f"alert: scope {when} requires <{need}>")
    msg = (kids.get("msgType", [ET.Element("x")])[0].text or "").strip()
    if msg in ("Alert", "Update") and "info" not in kids:
        problems.append(f"alert: a msgType {msg} without <info> tells nobody anything "
                        f"(citycc profile rule; CAP itself allows it)")
    for i, info in enumerate(kids.get("info", ()), 1):
        ipath = f"alert/info[{i}]"
        ik = _check_block(info, ipath, INFO_ORDER, _INFO_REQUIRED, problems)
        for tag in ("eventCode", "parameter"):
            for j, e in enumerate(ik.get(tag, ()), 1):
                names = [_local(c.tag) for c in e if isinstance(c.tag, str)]
                if names != ["valueName", "value"]:
                    problems.append(f"{ipath}/{tag}[{j}]: needs <valueName> then <value>")
        for j, area in enumerate(ik.get("area", ()), 1):
            apath = f"{ipath}/area[{j}]"
            ak = _check_block(area, apath, AREA_ORDER, ("areaDesc",), problems)
            for c in ak.get("circle", ()):
                problems += _circle_problems((c.text or "").strip(), f"{apath}/circle")
    return problems


def _circle_problems(text: str, path: str) -> list[str]:
    m = CIRCLE.match(text)
    if not m:
        return [f"{path}: {text!r} is not 'lat,lon radius' (WGS-84 degrees, km)"]
    lat, lon = float(m.group(1)), float(m.group(3))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return [f"{path}: point {lat},{lon} is outside -90..90, -180..180"]
    return []
