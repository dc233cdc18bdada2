"""Rule-based entity extraction for banking messages (zh + en) and masking of sensitive numbers.

Entities: ``amount`` (value + currency), ``date``, ``card_number``, ``account_number``,
``phone_number``, ``id_number`` (all four masked), ``card_type`` and ``currency``.
Masking keeps the length of the text, so character offsets stay valid after masking.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- numbers

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "俩": 2, "三": 3, "叁": 3,
              "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
              "九": 9, "玖": 9}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_NUM_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_BIG)


def chinese_to_number(text: str) -> float | None:
    """Parse Chinese numerals such as ``两万``, ``三千五百``, ``十二``, ``1.5万``, ``3千``."""
    text = text.strip()
    if not text:
        return None
    total = 0.0
    section = 0.0
    digit: float | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        m = re.match(r"\d+(?:\.\d+)?", text[i:])
        if m:
            digit = float(m.group())
            i += len(m.group())
            continue
        if ch in _CN_DIGITS:
            digit = float(_CN_DIGITS[ch])
        elif ch in _CN_UNITS:
            section += (digit if digit is not None else 1) * _CN_UNITS[ch]
            digit = None
        elif ch in _CN_BIG:
            section += digit or 0
            total = (total + section) * _CN_BIG[ch] if total and _CN_BIG[ch] > 10_000 else total + section * _CN_BIG[ch]
            section, digit = 0.0, None
        else:
            return None
        i += 1
    result = total + section + (digit or 0)
    return result if result > 0 else None


def luhn_ok(digits: str) -> bool:
    """Luhn checksum used by payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# --------------------------------------------------------------------------- vocabularies

CURRENCIES: dict[str, str] = {
    "人民币": "CNY", "rmb": "CNY", "cny": "CNY", "元": "CNY", "块钱": "CNY", "块": "CNY", "¥": "CNY", "￥": "CNY",
    "yuan": "CNY",
    "美元": "USD", "美金": "USD", "刀": "USD", "usd": "USD", "$": "USD", "dollar": "USD", "dollars": "USD",
    "日元": "JPY", "日币": "JPY", "jpy": "JPY", "yen": "JPY",
    "欧元": "EUR", "eur": "EUR", "€": "EUR", "euro": "EUR", "euros": "EUR",
    "港币": "HKD", "港元": "HKD", "hkd": "HKD",
    "英镑": "GBP", "gbp": "GBP", "£": "GBP", "pound": "GBP", "pounds": "GBP",
    "澳元": "AUD", "澳币": "AUD", "aud": "AUD",
    "加元": "CAD", "加币": "CAD", "cad": "CAD",
    "韩元": "KRW", "韩币": "KRW", "krw": "KRW", "won": "KRW",
    "新加坡元": "SGD", "新币": "SGD", "sgd": "SGD",
    "瑞士法郎": "CHF", "chf": "CHF", "泰铢": "THB", "thb": "THB", "台币": "TWD", "新台币": "TWD", "twd": "TWD",
}
# currency *names* recognised as a standalone currency entity (not bare symbols/units)
_CURRENCY_NAMES = [k for k in CURRENCIES if len(k) > 1 and k not in {"块", "块钱", "元", "刀"}]

CARD_TYPES: dict[str, str] = {
    "信用卡": "credit_card", "贷记卡": "credit_card", "credit card": "credit_card", "creditcard": "credit_card",
    "借记卡": "debit_card", "储蓄卡": "debit_card", "银行卡": "bank_card", "debit card": "debit_card",
    "白金卡": "platinum_card", "platinum card": "platinum_card", "platinum": "platinum_card",
    "金卡": "gold_card", "gold card": "gold_card", "钻石卡": "diamond_card", "黑卡": "black_card",
    "社保卡": "social_security_card", "公务卡": "official_card", "联名卡": "co_branded_card",
    "准贷记卡": "semi_credit_card", "预付卡": "prepaid_card", "prepaid card": "prepaid_card",
    "visa": "visa", "mastercard": "mastercard", "master card": "mastercard", "银联": "unionpay",
    "unionpay": "unionpay", "virtual card": "virtual_card", "虚拟卡": "virtual_card",
}

# --------------------------------------------------------------------------- patterns

_NUM = r"\d+(?:[.,]\d+)*"
_CN_NUM = f"[{_CN_NUM_CHARS}0-9.]+"
_AMOUNT_PATTERNS = [
    # ¥300, $ 200.50, €50, £20
    re.compile(r"(?P<cur>[¥￥$€£])\s?(?P<num>" + _NUM + r")(?P<mult>\s?[kK万千]|\s?(?:thousand|million|k)\b)?"),
    # 5000元 / 2万 / 1.5万元 / 三千块 / 200 美元 / 100 dollars / 300 RMB
    re.compile(
        r"(?P<num>" + _NUM + "|" + _CN_NUM + r")\s?(?P<mult>万|千|百|k|K|thousand|million)?\s?"
        r"(?P<cur>人民币|美元|美金|日元|欧元|港币|港元|英镑|澳元|加元|韩元|新加坡元|泰铢|台币|元|块钱|块|刀|"
        r"rmb|RMB|cny|CNY|usd|USD|eur|EUR|jpy|JPY|hkd|HKD|gbp|GBP|aud|AUD|cad|CAD|yuan|dollars?|euros?|pounds?|yen)"
        r"(?![A-Za-z])"
    ),
    # 2万 without a currency word (Chinese amounts of money are usually CNY)
    re.compile(r"(?P<num>" + _NUM + "|" + _CN_NUM + r")(?P<mult>万)(?!\w*[分秒])"),
]
_MULT = {"万": 10_000, "千": 1000, "百": 100, "k": 1000, "thousand": 1000, "million": 1_000_000}

# digits (ASCII or full-width) with spaces, dashes, dots or ideographic spaces between groups
_SEP = " \\-.\u3000\uff0d\uff0e"
_LONG_DIGITS = re.compile(r"(?<![\d*])(\d[\d" + _SEP + r"]{8,28}[\dXx])(?![\d*])")
#: Chinese numerals read digit by digit (六二二二…, 幺三八… for phone numbers)
_CN_DIGIT_VALUES = {"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "贰": "2",
                    "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6",
                    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9"}
_CN_D = "[" + "".join(_CN_DIGIT_VALUES) + "]"
_CN_LONG = re.compile(r"(?<!" + _CN_D + r")(" + _CN_D + r"(?:[" + _SEP + r"]?" + _CN_D + r"){9,21}[Xx]?)"
                      r"(?!" + _CN_D + ")")
_MASKED_NUMBER = re.compile(r"(?<![\dA-Za-z*])(\d{3,6}\*{3,12}\d{2,4}[\dXx]?)(?![\dA-Za-z*])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?!\d)")

_REL_DAYS = {"今天": 0, "今日": 0, "昨天": -1, "昨日": -1, "前天": -2, "大前天": -3, "明天": 1, "后天": 2,
             "today": 0, "yesterday": -1, "tomorrow": 1, "day before yesterday": -2}
_REL_PERIODS = {"上周": "last_week", "上星期": "last_week", "上个星期": "last_week", "这周": "this_week",
                "本周": "this_week", "下周": "next_week", "上个月": "last_month", "上月": "last_month",
                "这个月": "this_month", "本月": "this_month", "下个月": "next_month", "下月": "next_month",
                "去年": "last_year", "今年": "this_year", "last week": "last_week", "this week": "this_week",
                "next week": "next_week", "last month": "last_month", "this month": "this_month",
                "next month": "next_month", "last year": "last_year"}
_MONTHS_EN = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}
_MONTHS_EN.update({k[:3]: v for k, v in list(_MONTHS_EN.items())})
_DATE_PATTERNS = [
    re.compile(r"(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号號]?"),
    re.compile(r"(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号號]"),
    re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?i)\b(?P<mn>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
               r"sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.? (?P<d>\d{1,2})(?:st|nd|rd|th)?\b"),
]


@dataclass
class Entity:
    """One extracted entity, Rasa-style offsets into the message text."""

    entity: str
    start: int
    end: int
    value: Any
    extras: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, text: str) -> dict[str, Any]:
        """Rasa entity dict; ``text`` is the (masked) message the offsets refer to."""
        out = {"entity": self.entity, "start": self.start, "end": self.end, "value": self.value,
               "text": text[self.start:self.end], "confidence_entity": 1.0, "extractor": "BankEntityExtractor"}
        out.update(self.extras)
        return out


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in taken)


def _mask_digits(raw: str, keep_head: int, keep_tail: int) -> str:
    positions = [i for i, ch in enumerate(raw) if ch.isdigit() or ch in "Xx" or ch in _CN_DIGIT_VALUES]
    hidden = set(positions[keep_head: len(positions) - keep_tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(raw))


def _classify_number(digits: str) -> str:
    if len(digits) == 18 and re.fullmatch(r"\d{17}[\dXx]", digits):
        year, month, day = int(digits[6:10]), int(digits[10:12]), int(digits[12:14])
        if 1900 <= year <= 2030 and 1 <= month <= 12 and 1 <= day <= 31 and not (
            digits[0] in "3456" and luhn_ok(digits)
        ):
            return "id_number"
    if len(digits) == 15 and re.fullmatch(r"[1-8]\d{14}", digits) and not luhn_ok(digits):
        return "id_number"
    if 13 <= len(digits) <= 19 and digits.isdigit() and (luhn_ok(digits) or digits[:2] == "62"):
        return "card_number"
    return "account_number"


def _sensitive_numbers(text: str) -> list[Entity]:
    found: list[Entity] = []
    taken: list[tuple[int, int]] = []
    for m in _PHONE.finditer(text):
        raw = m.group(0)
        found.append(Entity("phone_number", m.start(), m.end(), _mask_digits(raw, len(raw) - len(m.group(1)) + 3, 4)))
        taken.append(m.span())
    for m in _LONG_DIGITS.finditer(text):
        raw = m.group(1).rstrip(_SEP.replace("\\", ""))
        span = (m.start(1), m.start(1) + len(raw))
        digits = "".join(str(int(ch)) if ch.isdigit() else ch for ch in raw if ch.isdigit() or ch in "Xx")
        dots = raw.count(".") + raw.count("\uff0e")
        if len(digits) < 10 or _overlaps(span, taken) or re.search(r"\d{4,}[ -]\d{1,3}[ -]\d{1,3}$", raw):
            continue
        if dots == 1 or (dots and len(digits) < 13):  # a decimal amount or an address, not a number to hide
            continue
        kind = _classify_number(digits)
        keep = {"id_number": (6, 4), "card_number": (4, 4), "account_number": (3, 4)}[kind]
        found.append(Entity(kind, span[0], span[1], _mask_digits(raw, *keep)))
        taken.append(span)
    for m in _CN_LONG.finditer(text):
        raw = m.group(1)
        if _overlaps(m.span(1), taken):
            continue
        digits = "".join(_CN_DIGIT_VALUES.get(ch, ch) for ch in raw if ch in _CN_DIGIT_VALUES or ch in "Xx")
        if len(digits) == 11 and re.fullmatch(r"1[3-9]\d{9}", digits):
            kind, keep = "phone_number", (3, 4)
        else:
            kind = _classify_number(digits)
            keep = {"id_number": (6, 4), "card_number": (4, 4), "account_number": (3, 4)}[kind]
        found.append(Entity(kind, m.start(1), m.end(1), _mask_digits(raw, *keep)))
        taken.append(m.span(1))
    for m in _MASKED_NUMBER.finditer(text):
        if _overlaps(m.span(), taken):
            continue
        raw = m.group(1)
        kind = "phone_number" if raw.startswith("1") and len(raw) == 11 else "card_number"
        if len(raw) == 18:
            kind = "id_number"
        found.append(Entity(kind, m.start(), m.end(), raw))
        taken.append(m.span())
    return found


def mask_sensitive(text: str) -> str:
    """Mask card, account, phone and ID numbers, keeping the text's length."""
    chars = list(text)
    for ent in _sensitive_numbers(text):
        chars[ent.start:ent.end] = list(ent.value)
    return "".join(chars)


def mask_deep(value: Any) -> Any:
    """``value`` with every string in it (nested lists/dicts too, keys included) passed through masking."""
    if isinstance(value, str):
        return mask_sensitive(value)
    if isinstance(value, list):
        return [mask_deep(v) for v in value]
    if isinstance(value, dict):
        return {mask_deep(k) if isinstance(k, str) else k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**9:
        return mask_sensitive(str(value))  # a number sent as a JSON integer
    return value


_CODE = re.compile(r"(?<!\d)\d(?:\s?\d){3,7}(?!\d)")


def mask_codes(text: str) -> str:
    """Hide passcodes (4–8 digits, spaces allowed) in a message that answers a passcode prompt."""
    return _CODE.sub(lambda m: re.sub(r"\d", "*", m.group()), mask_sensitive(text))


def _amounts(text: str, taken: list[tuple[int, int]]) -> list[Entity]:
    out: list[Entity] = []
    for pattern in _AMOUNT_PATTERNS:
        for m in pattern.finditer(text):
            if _overlaps(m.span(), taken):
                continue
            num_raw = m.group("num")
            if re.fullmatch(_NUM, num_raw):
                value: float | None = float(num_raw.replace(",", "")) if num_raw.count(",") else float(num_raw)
            else:
                value = chinese_to_number(num_raw)
            if value is None:
                continue
            mult = (m.groupdict().get("mult") or "").strip().lower()
            if mult:
                value *= _MULT.get(mult, 1)
            cur_raw = (m.groupdict().get("cur") or "元").strip()
            currency = CURRENCIES.get(cur_raw.lower(), CURRENCIES.get(cur_raw, "CNY"))
            value = int(value) if float(value).is_integer() else round(value, 2)
            out.append(Entity("amount", m.start(), m.end(), value, {"currency": currency}))
            taken.append(m.span())
    return out


def _dates(text: str, taken: list[tuple[int, int]], today: dt.date) -> list[Entity]:
    out: list[Entity] = []
    lower = text.lower()
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if _overlaps(m.span(), taken):
                continue
            g = m.groupdict()
            try:
                month = _MONTHS_EN[g["mn"].lower().rstrip(".")[:3]] if g.get("mn") else int(g["m"])
                year = int(g["y"]) if g.get("y") else today.year
                value = dt.date(year, month, int(g["d"])).isoformat()
            except (ValueError, KeyError):
                continue
            out.append(Entity("date", m.start(), m.end(), value))
            taken.append(m.span())
    for word, days in sorted(_REL_DAYS.items(), key=lambda kv: -len(kv[0])):
        for m in re.finditer(re.escape(word) + (r"\b" if word.isascii() else ""), lower):
            if not _overlaps(m.span(), taken):
                out.append(Entity("date", m.start(), m.end(), (today + dt.timedelta(days=days)).isoformat()))
                taken.append(m.span())
    for word, period in sorted(_REL_PERIODS.items(), key=lambda kv: -len(kv[0])):
        for m in re.finditer(re.escape(word) + (r"\b" if word.isascii() else ""), lower):
            if not _overlaps(m.span(), taken):
                out.append(Entity("date", m.start(), m.end(), period, {"grain": "period"}))
                taken.append(m.span())
    return out


def _vocab(text: str, taken: list[tuple[int, int]], vocab: dict[str, str], name: str,
           keys: list[str] | None = None) -> list[Entity]:
    out: list[Entity] = []
    lower = text.lower()
    for word in sorted(keys or list(vocab), key=len, reverse=True):
        pat = re.escape(word.lower())
        if word.isascii() and word[0].isalpha():
            pat = r"(?<![a-z])" + pat + r"(?![a-z])"
        for m in re.finditer(pat, lower):
            if not _overlaps(m.span(), taken):
                out.append(Entity(name, m.start(), m.end(), vocab[word]))
                taken.append(m.span())
    return out


def extract_entities(text: str, today: dt.date | None = None) -> list[Entity]:
    """All entities in ``text`` (sensitive numbers come back already masked), sorted by start."""
    today = today or dt.date.today()
    sensitive = _sensitive_numbers(text)
    taken = [(e.start, e.end) for e in sensitive]
    found = list(sensitive)
    found += _dates(text, taken, today)
    found += _amounts(text, taken)
    found += _vocab(text, taken, CARD_TYPES, "card_type")
    found += _vocab(text, taken, CURRENCIES, "currency", _CURRENCY_NAMES)
    return sorted(found, key=lambda e: e.start)
