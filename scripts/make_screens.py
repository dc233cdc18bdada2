"""Draw the mock phone-app screenshots used by the image-and-text guides.

Usage::

    python scripts/make_screens.py              # (re)generate every image referenced by data/guides/guides.yml
    python scripts/make_screens.py --only reset_password
    python scripts/make_screens.py --check      # validate guides.yml and report missing images, draw nothing

Every step in ``guides.yml`` names its image (``zh/reset_password_1.png``) and may carry a ``screen:`` hint, a
small layout description such as::

    screen: {type: menu, title: 安全中心, items: [修改登录密码, 重置支付密码], highlight: 修改登录密码}

Screen types (the *body* of the page; ``highlight`` names the element the step asks the customer to tap):

``home``    the app's home page: search bar, account card, function grid, bottom tabs (highlight a grid item or tab)
``me``      the "我的 / Me" tab: profile block and the standard menu (highlight a menu item)
``menu``    a list of rows; an item is ``label`` or ``[label, value]``
``cards``   bank-card tiles; an item is ``[name, last four digits, optional status]``
``tiles``   rows with a subtitle and a small action button; an item is ``[title, subtitle, action]``
``form``    input rows ``[label, value]`` (a value ``on``/``off`` draws a switch) and a primary ``button``
``info``    read-only ``rows`` of ``[label, value]`` and an optional ``button``
``otp``     the SMS one-time-passcode page (highlight ``code`` or the button)
``result``  a success page: ``title``, ``detail`` and an optional ``button``
``face``    the face-recognition page

Any page may also have ``title`` (page header with a back arrow), ``tab`` (draw the bottom tab bar with that tab
active instead of a back arrow), ``header: [label, amount]`` (an amount card; its eye icon is ``eye``), ``tip``
(a notice banner), ``chips: [...]`` with ``chip`` (the selected one), ``button`` and ``note``.

Without a ``screen:`` hint the screen is derived from the step text: a quoted label (“我的” / "Me") that is a
home-grid item or tab gives the home page, one from the Me menu gives the Me page, a step about the SMS code gives
the passcode page.  The highlighted element gets an orange rounded rectangle and a round badge with the step number.

Output is deterministic: 360×640 PNGs drawn at 2× and downsampled, palette mode, ``optimize=True``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageChops, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "data" / "guides" / "guides.yml"
IMG_DIR = ROOT / "data" / "guides" / "img"

W, H = 360, 640  # logical size of a screen
S = 2  # drawing scale; the image is downsampled to W×H at the end
PALETTE_COLORS = 128

CJK_FONTS = {False: "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             True: "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"}
LATIN_FONTS = {False: "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               True: "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"}
SC_FACE = "Noto Sans CJK SC"

Color = tuple[int, int, int]
BRAND: Color = (28, 92, 204)
BRAND_DARK: Color = (20, 70, 166)
BRAND_LIGHT: Color = (231, 239, 253)
PAGE: Color = (244, 245, 248)
WHITE: Color = (255, 255, 255)
INK: Color = (34, 38, 46)
GRAY: Color = (130, 137, 148)
LINE: Color = (229, 231, 236)
HIGHLIGHT: Color = (255, 122, 0)
TIP_BG: Color = (255, 244, 229)
TIP_INK: Color = (176, 88, 0)
SUCCESS: Color = (30, 166, 96)
ICON_COLORS: list[Color] = [(28, 92, 204), (240, 110, 60), (30, 166, 96), (146, 84, 222),
                            (232, 170, 20), (226, 68, 92), (24, 160, 180), (96, 110, 140)]

STATUS_H, APPBAR_H, HEADER_H, TABBAR_H = 24, 44, 44, 56
PAD = 16

# The mock app, per language.  Guides rely on these labels, so the navigation stays the same everywhere.
APP: dict[str, dict[str, Any]] = {
    "zh": {
        "name": "示例银行",
        "tabs": ["首页", "理财", "生活", "我的"],
        "grid": ["转账", "我的账户", "信用卡", "外汇", "积分商城", "贷款", "领券中心", "全部"],
        "me_menu": ["安全中心", "卡片管理", "个人信息", "申请进度", "我的优惠券", "贵宾权益", "网点与预约", "设置"],
        "profile": ("张**", "金卡客户"),
        "search": "搜索功能、产品",
        "account": ("借记卡 尾号8888", "可用余额（元）", "****"),
        "banner": "新客专享 · 理财体验礼包",
        "otp_title": "输入短信验证码",
        "otp_sent": "验证码已发送至 138****8888",
        "otp_resend": "59秒后重新获取",
        "otp_button": "确认",
        "face_prompt": "请将脸部放在圆圈内，保持光线充足",
        "face_button": "开始识别",
        "card_number": "**** **** **** {}",
    },
    "en": {
        "name": "Demo Bank",
        "tabs": ["Home", "Wealth", "Life", "Me"],
        "grid": ["Transfer", "Accounts", "Credit Card", "FX", "Rewards", "Loans", "Coupons", "All"],
        "me_menu": ["Security Center", "Card Management", "Personal Info", "Applications", "My Coupons",
                    "VIP Benefits", "Branches", "Settings"],
        "profile": ("Zhang **", "Gold customer"),
        "search": "Search services and products",
        "account": ("Debit card ending 8888", "Available balance (CNY)", "****"),
        "banner": "New customers · wealth welcome pack",
        "otp_title": "Enter the SMS code",
        "otp_sent": "Code sent to 138****8888",
        "otp_resend": "Resend in 59 s",
        "otp_button": "Confirm",
        "face_prompt": "Keep your face inside the circle, in good light",
        "face_button": "Start",
        "card_number": "**** **** **** {}",
    },
}

QUOTED = re.compile(r"[“\"]([^”\"]+)[”\"]")
OTP_WORDS = re.compile(r"验证码|verification code|SMS code|passcode", re.IGNORECASE)
PLACEHOLDER = re.compile(r"^(请|选填|Enter|Select|Choose|Optional|e\.g\.)", re.IGNORECASE)


@dataclass(frozen=True)
class Box:
    """A rectangle in logical pixels."""

    x0: float
    y0: float
    x1: float
    y1: float

    def grow(self, d: float) -> Box:
        """The box enlarged by ``d`` on every side."""
        return Box(self.x0 - d, self.y0 - d, self.x1 + d, self.y1 + d)


# --------------------------------------------------------------------------------------------------- fonts & canvas

@cache
def cjk_index(path: str) -> int:
    """Index of the Simplified Chinese face inside a Noto Sans CJK collection."""
    for i in range(10):
        try:
            if ImageFont.truetype(path, 12, index=i).getname()[0] == SC_FACE:
                return i
        except OSError:
            break
    raise SystemExit(f"{SC_FACE} not found in {path}")


@cache
def font(size: float, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC (used for both languages) at ``size`` logical pixels; DejaVu Sans if it is missing."""
    path = CJK_FONTS[bold]
    if Path(path).exists():
        return ImageFont.truetype(path, round(size * S), index=cjk_index(path))
    return ImageFont.truetype(LATIN_FONTS[bold], round(size * S))


class Canvas:
    """One screen being drawn: logical-pixel drawing helpers plus the named boxes a step can highlight."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.app = APP[lang]
        self.img = Image.new("RGB", (W * S, H * S), PAGE)
        self.draw = ImageDraw.Draw(self.img)
        self.boxes: dict[str, Box] = {}

    def rect(self, box: Box, fill: Color | None = None, outline: Color | None = None, width: float = 1,
             radius: float = 0) -> None:
        """A (rounded) rectangle."""
        xy = (box.x0 * S, box.y0 * S, box.x1 * S - 1, box.y1 * S - 1)
        self.draw.rounded_rectangle(xy, radius=radius * S, fill=fill, outline=outline,
                                    width=max(1, round(width * S)))

    def circle(self, cx: float, cy: float, r: float, fill: Color | None = None, outline: Color | None = None,
               width: float = 1) -> None:
        """A circle centred on (cx, cy)."""
        self.draw.ellipse(((cx - r) * S, (cy - r) * S, (cx + r) * S, (cy + r) * S), fill=fill, outline=outline,
                          width=max(1, round(width * S)))

    def clipped_circle(self, clip: Box, clip_radius: float, cx: float, cy: float, r: float, fill: Color) -> None:
        """A circle drawn only inside the rounded rectangle ``clip`` (decoration on cards)."""
        inside = Image.new("L", self.img.size, 0)
        ImageDraw.Draw(inside).rounded_rectangle((clip.x0 * S, clip.y0 * S, clip.x1 * S - 1, clip.y1 * S - 1),
                                                 radius=clip_radius * S, fill=255)
        disc = Image.new("L", self.img.size, 0)
        ImageDraw.Draw(disc).ellipse(((cx - r) * S, (cy - r) * S, (cx + r) * S, (cy + r) * S), fill=255)
        self.img.paste(fill, mask=ImageChops.multiply(inside, disc))

    def line(self, points: Iterable[tuple[float, float]], fill: Color, width: float = 1) -> None:
        """A polyline."""
        self.draw.line([(x * S, y * S) for x, y in points], fill=fill, width=max(1, round(width * S)), joint="curve")

    def text(self, x: float, y: float, s: str, size: float = 15, fill: Color = INK, bold: bool = False,
             anchor: str = "lm") -> None:
        """Text at (x, y); ``anchor`` as in Pillow (default: left, vertical middle)."""
        self.draw.text((x * S, y * S), s, font=font(size, bold), fill=fill, anchor=anchor)

    def width(self, s: str, size: float = 15, bold: bool = False) -> float:
        """Advance width of ``s`` in logical pixels."""
        return font(size, bold).getlength(s) / S

    def fit(self, s: str, max_w: float, size: float = 15, bold: bool = False) -> str:
        """``s``, shortened with an ellipsis to fit ``max_w``."""
        if self.width(s, size, bold) <= max_w:
            return s
        while s and self.width(s + "…", size, bold) > max_w:
            s = s[:-1]
        return s.rstrip() + "…"

    def wrap(self, s: str, max_w: float, size: float = 15, bold: bool = False) -> list[str]:
        """Greedy line breaking: words for Latin text, characters for Chinese."""
        lines, cur = [], ""
        for tok in re.findall(r"[A-Za-z0-9.,;:!?'’%¥$/+\-()*@]+\s*|\s+|.", s):
            if cur and self.width((cur + tok).rstrip(), size, bold) > max_w:
                lines.append(cur.rstrip())
                cur = tok.lstrip()
            else:
                cur += tok
        if cur.strip():
            lines.append(cur.rstrip())
        return lines

    def register(self, key: Any, box: Box) -> None:
        """Name a box so a step can highlight it (the first box with a name wins)."""
        self.boxes.setdefault(str(key), box)

    def chevron(self, x: float, y: float, color: Color = GRAY) -> None:
        """A small '>' pointing right, centred vertically on y."""
        self.line([(x - 3, y - 5), (x + 2, y), (x - 3, y + 5)], color, 1.6)

    def button(self, y: float, label: str, x0: float = PAD, x1: float = W - PAD, h: float = 44) -> float:
        """A full-width primary button at y; returns the y below it."""
        box = Box(x0, y, x1, y + h)
        self.rect(box, fill=BRAND, radius=h / 2)
        self.text((x0 + x1) / 2, y + h / 2, self.fit(label, x1 - x0 - 24, 16, True), 16, WHITE, True, "mm")
        self.register(label, box)
        return y + h

    def finish(self) -> Image.Image:
        """Downsample to the final size and reduce to a palette image."""
        small = self.img.resize((W, H), Image.Resampling.LANCZOS)
        return small.quantize(colors=PALETTE_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


# ------------------------------------------------------------------------------------------------------- chrome

def as_pair(item: Any) -> tuple[str, Any]:
    """``label`` or ``[label, value]`` -> (label, value or None)."""
    if isinstance(item, list | tuple):
        return str(item[0]), (item[1] if len(item) > 1 else None)
    return str(item), None


def draw_status_and_appbar(c: Canvas) -> None:
    """Status bar (time, signal, battery) and the app bar with the bank app's name."""
    c.rect(Box(0, 0, W, STATUS_H + APPBAR_H), fill=BRAND)
    c.text(PAD, STATUS_H / 2, "9:41", 12, WHITE, True)
    for i in range(4):  # signal bars
        c.rect(Box(W - 78 + i * 5, 16 - 3 * i, W - 75 + i * 5, 18), fill=WHITE)
    c.rect(Box(W - 44, 7, W - 22, 17), outline=WHITE, width=1, radius=2)
    c.rect(Box(W - 42, 9, W - 29, 15), fill=WHITE, radius=1)
    c.rect(Box(W - 21, 10, W - 19, 14), fill=WHITE)
    y = STATUS_H + APPBAR_H / 2
    c.circle(PAD + 11, y, 11, fill=WHITE)
    c.circle(PAD + 11, y, 6, outline=BRAND, width=2.5)
    c.text(PAD + 30, y, c.app["name"], 17, WHITE, True)
    # right-side icons: message bell and service headset drawn as simple shapes
    c.circle(W - 48, y, 8, outline=WHITE, width=1.6)
    c.rect(Box(W - 30, y - 8, W - 14, y + 8), outline=WHITE, width=1.6, radius=4)


def draw_page_header(c: Canvas, title: str) -> float:
    """White page header with a back arrow and the page title; returns the y below it."""
    y0 = STATUS_H + APPBAR_H
    c.rect(Box(0, y0, W, y0 + HEADER_H), fill=WHITE)
    c.line([(0, y0 + HEADER_H - 0.5), (W, y0 + HEADER_H - 0.5)], LINE, 1)
    mid = y0 + HEADER_H / 2
    c.line([(PAD + 8, mid - 7), (PAD + 1, mid), (PAD + 8, mid + 7)], INK, 2)
    c.text(W / 2, mid, c.fit(title, W - 100, 16, True), 16, INK, True, "mm")
    return y0 + HEADER_H


def draw_tabbar(c: Canvas, active: str) -> float:
    """Bottom tab bar; returns its top y."""
    top = H - TABBAR_H
    c.rect(Box(0, top, W, H), fill=WHITE)
    c.line([(0, top + 0.5), (W, top + 0.5)], LINE, 1)
    tabs = c.app["tabs"]
    cw = W / len(tabs)
    for i, tab in enumerate(tabs):
        cx = cw * i + cw / 2
        color = BRAND if tab == active else GRAY
        if tab == active:
            c.rect(Box(cx - 11, top + 9, cx + 11, top + 31), fill=color, radius=6)
        else:
            c.rect(Box(cx - 10, top + 10, cx + 10, top + 30), outline=color, width=1.6, radius=6)
        c.text(cx, top + 44, tab, 11, color, tab == active, "mm")
        c.register(tab, Box(cx - 30, top + 4, cx + 30, H - 4))
    return top


def draw_header_card(c: Canvas, y: float, header: list[Any]) -> float:
    """Amount card: a label, a big value and, for money, an eye icon."""
    label, amount = str(header[0]), str(header[1])
    box = Box(PAD, y, W - PAD, y + 92)
    c.rect(box, fill=BRAND, radius=12)
    c.clipped_circle(box, 12, W - PAD - 30, y + 80, 46, BRAND_DARK)
    c.text(PAD + 16, y + 26, label, 13, (214, 226, 250))
    c.register(label, Box(PAD + 8, y + 10, W - PAD - 8, y + 84))
    c.text(PAD + 16, y + 60, amount, 26, WHITE, True)
    if re.fullmatch(r"[\d*¥,.\s]+", amount):  # money: the show/hide eye
        ex, ey = W - PAD - 28, y + 26
        c.draw.ellipse(((ex - 10) * S, (ey - 6) * S, (ex + 10) * S, (ey + 6) * S), outline=WHITE, width=2 * S)
        c.circle(ex, ey, 3, fill=WHITE)
        c.register("eye", Box(ex - 14, ey - 11, ex + 14, ey + 11))
    return box.y1 + 12


def draw_tip(c: Canvas, y: float, tip: str) -> float:
    """Orange notice banner with wrapped text."""
    lines = c.wrap(tip, W - 2 * PAD - 44, 13)
    h = 16 + 19 * len(lines)
    c.rect(Box(PAD, y, W - PAD, y + h), fill=TIP_BG, radius=8)
    c.circle(PAD + 17, y + 17, 8, fill=TIP_INK)
    c.text(PAD + 17, y + 17, "!", 12, WHITE, True, "mm")
    for i, ln in enumerate(lines):
        c.text(PAD + 34, y + 17 + 19 * i, ln, 13, TIP_INK)
    return y + h + 12


def draw_chips(c: Canvas, y: float, chips: list[Any], selected: Any) -> float:
    """A row of choice chips (tighter, then wrapped, when they are too wide); the selected one is filled."""
    labels = [str(chip) for chip in chips]
    sel = str(selected if selected is not None else labels[0])
    pad = 24.0
    if sum(c.width(label, 13) + pad + 8 for label in labels) > W - 2 * PAD + 8:
        pad = 16.0
    x: float = PAD
    for chip in labels:
        w = c.width(chip, 13) + pad
        if x + w > W - PAD:
            x, y = PAD, y + 38
        box = Box(x, y, x + w, y + 30)
        on = chip == sel
        c.rect(box, fill=BRAND if on else WHITE, outline=BRAND if on else LINE, width=1, radius=15)
        c.text(x + w / 2, y + 15, chip, 13, WHITE if on else INK, on, "mm")
        c.register(chip, box)
        x += w + 8
    return y + 42


# ------------------------------------------------------------------------------------------------------- bodies

def body_home(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Home page: search bar, account card, function grid and a banner."""
    c.rect(Box(0, y, W, y + 52), fill=BRAND)
    search = Box(PAD, y + 8, W - PAD, y + 42)
    c.rect(search, fill=WHITE, radius=17)
    c.circle(PAD + 20, y + 24, 6, outline=GRAY, width=1.6)
    c.line([(PAD + 24, y + 28), (PAD + 29, y + 33)], GRAY, 1.6)
    c.text(PAD + 36, y + 25, c.app["search"], 13, GRAY)
    c.register("search", search)
    y += 60
    name, label, amount = c.app["account"]
    card = Box(PAD, y, W - PAD, y + 96)
    c.rect(card, fill=WHITE, radius=12)
    c.text(PAD + 16, y + 22, name, 13, GRAY)
    c.text(PAD + 16, y + 48, label, 12, GRAY)
    c.text(PAD + 16, y + 76, amount, 22, INK, True)
    y = card.y1 + 12
    items = [str(i) for i in spec.get("items") or c.app["grid"]]
    panel = Box(PAD, y, W - PAD, y + 172)
    c.rect(panel, fill=WHITE, radius=12)
    cw = (panel.x1 - panel.x0) / 4
    for i, item in enumerate(items[:8]):
        cx = panel.x0 + cw * (i % 4) + cw / 2
        cy = y + 18 + 80 * (i // 4)
        c.rect(Box(cx - 20, cy, cx + 20, cy + 40), fill=ICON_COLORS[i % len(ICON_COLORS)], radius=12)
        c.text(cx, cy + 20, item[0], 17, WHITE, True, "mm")
        c.text(cx, cy + 56, c.fit(item, cw - 4, 12), 12, INK, anchor="mm")
        c.register(item, Box(cx - cw / 2 + 3, cy - 6, cx + cw / 2 - 3, cy + 68))
    y = panel.y1 + 12
    banner = Box(PAD, y, W - PAD, y + 64)
    c.rect(banner, fill=TIP_BG, radius=12)
    c.circle(W - PAD - 36, y + 32, 20, fill=(255, 214, 170))
    c.text(PAD + 16, y + 32, c.fit(c.app["banner"], W - 2 * PAD - 80, 14, True), 14, TIP_INK, True)
    return banner.y1 + 12


def body_me(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """The Me tab: profile block and the standard menu."""
    c.rect(Box(0, y, W, y + 70), fill=BRAND)
    c.circle(PAD + 26, y + 32, 24, fill=WHITE)
    c.circle(PAD + 26, y + 26, 9, fill=(190, 205, 235))
    c.draw.pieslice(((PAD + 10) * S, (y + 36) * S, (PAD + 42) * S, (y + 64) * S), 180, 360,
                    fill=(190, 205, 235))
    name, tier = c.app["profile"]
    c.text(PAD + 62, y + 22, name, 17, WHITE, True)
    tw = c.width(tier, 11) + 16
    c.rect(Box(PAD + 62, y + 38, PAD + 62 + tw, y + 56), fill=(232, 186, 92), radius=9)
    c.text(PAD + 62 + tw / 2, y + 47, tier, 11, (90, 60, 0), anchor="mm")
    return body_menu(c, {"items": spec.get("items") or c.app["me_menu"]}, y + 82)


def body_menu(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """A white card of rows: icon, label, optional value, chevron."""
    items = [as_pair(i) for i in spec.get("items", [])]
    row = 48
    card = Box(PAD, y, W - PAD, y + row * len(items))
    c.rect(card, fill=WHITE, radius=12)
    for i, (label, value) in enumerate(items):
        top = y + row * i
        mid = top + row / 2
        c.rect(Box(PAD + 14, mid - 10, PAD + 34, mid + 10), fill=ICON_COLORS[i % len(ICON_COLORS)], radius=6)
        vw = c.width(str(value), 13) if value is not None else 0
        c.text(PAD + 46, mid, c.fit(label, W - 2 * PAD - 80 - vw, 15), 15, INK)
        if value is not None:
            c.text(W - PAD - 30, mid, str(value), 13, GRAY, anchor="rm")
        c.chevron(W - PAD - 16, mid)
        if i:
            c.line([(PAD + 46, top + 0.5), (W - PAD, top + 0.5)], LINE, 1)
        c.register(label, Box(PAD + 4, top + 4, W - PAD - 4, top + row - 4))
    return card.y1 + 12


def body_cards(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Bank-card tiles: name, bank name, masked number and an optional status."""
    for i, item in enumerate(spec.get("items", [])):
        name, last4 = str(item[0]), str(item[1])
        status = str(item[2]) if len(item) > 2 else None
        box = Box(PAD, y, W - PAD, y + 112)
        color = [BRAND, (178, 132, 54), (60, 70, 90)][i % 3]
        c.rect(box, fill=color, radius=14)
        shade: Color = (max(0, color[0] - 22), max(0, color[1] - 22), max(0, color[2] - 22))
        c.clipped_circle(box, 14, W - PAD - 40, y + 110, 60, shade)
        c.text(PAD + 18, y + 26, name, 16, WHITE, True)
        c.text(PAD + 18, y + 50, c.app["name"], 12, (225, 230, 240))
        c.rect(Box(PAD + 18, y + 62, PAD + 46, y + 82), fill=(236, 204, 120), radius=4)
        c.text(PAD + 18, y + 96, c.app["card_number"].format(last4), 15, WHITE)
        if status:
            sw = c.width(status, 12) + 18
            c.rect(Box(W - PAD - 14 - sw, y + 14, W - PAD - 14, y + 38), fill=WHITE, radius=12)
            c.text(W - PAD - 14 - sw / 2, y + 26, status, 12, color, True, "mm")
            c.register(status, box)
        c.register(name, box)
        y = box.y1 + 12
    return y


def body_tiles(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Rows with a title, a subtitle and a small action button."""
    for i, item in enumerate(spec.get("items", [])):
        title = str(item[0])
        sub = str(item[1]) if len(item) > 1 and item[1] is not None else ""
        action = str(item[2]) if len(item) > 2 else ""
        box = Box(PAD, y, W - PAD, y + 72)
        c.rect(box, fill=WHITE, radius=12)
        c.rect(Box(PAD + 14, y + 16, PAD + 54, y + 56), fill=ICON_COLORS[(i + 1) % len(ICON_COLORS)], radius=10)
        c.text(PAD + 34, y + 36, title[0], 17, WHITE, True, "mm")
        aw = c.width(action, 13) + 24 if action else 0
        text_w = W - 2 * PAD - 80 - aw
        c.text(PAD + 66, y + 26, c.fit(title, text_w, 15, True), 15, INK, True)
        c.text(PAD + 66, y + 49, c.fit(sub, text_w, 12), 12, GRAY)
        if action:
            ab = Box(W - PAD - 12 - aw, y + 22, W - PAD - 12, y + 50)
            c.rect(ab, outline=BRAND, width=1.2, radius=14)
            c.text((ab.x0 + ab.x1) / 2, y + 36, action, 13, BRAND, anchor="mm")
            c.register(action, ab)
        c.register(title, box)
        y = box.y1 + 10
    return y + 2


def draw_switch(c: Canvas, x1: float, mid: float, on: bool) -> Box:
    """An iOS-style switch whose right edge is x1."""
    box = Box(x1 - 44, mid - 13, x1, mid + 13)
    c.rect(box, fill=SUCCESS if on else LINE, radius=13)
    c.circle(x1 - 13 if on else x1 - 31, mid, 11, fill=WHITE)
    return box


def body_form(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Input rows (label left, value or placeholder right of it; on/off draws a switch) and a button."""
    fields = [as_pair(f) for f in spec.get("fields", [])]
    row = 52
    label_w = max([c.width(label, 15) for label, _ in fields] + [0]) + 20
    label_w = min(label_w, 150)
    if fields:
        card = Box(PAD, y, W - PAD, y + row * len(fields))
        c.rect(card, fill=WHITE, radius=12)
    for i, (label, value) in enumerate(fields):
        top = y + row * i
        mid = top + row / 2
        if i:
            c.line([(PAD + 14, top + 0.5), (W - PAD - 14, top + 0.5)], LINE, 1)
        c.text(PAD + 14, mid, c.fit(label, label_w - 8, 15), 15, INK)
        box = Box(PAD + 4, top + 4, W - PAD - 4, top + row - 4)
        if isinstance(value, bool) or str(value).lower() in {"on", "off"}:
            on = value is True or str(value).lower() == "on"
            box = draw_switch(c, W - PAD - 14, mid, on).grow(4)
        elif value is not None:
            v = str(value)
            c.text(PAD + 14 + label_w, mid, c.fit(v, W - 2 * PAD - 28 - label_w, 15), 15,
                   GRAY if PLACEHOLDER.match(v) else INK)
        c.register(label, box)
    return y + row * len(fields) + 12 if fields else y


def body_info(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Read-only rows: label left, value right."""
    rows = [as_pair(r) for r in spec.get("rows", [])]
    row = 46
    if not rows:
        return y
    card = Box(PAD, y, W - PAD, y + row * len(rows) + 8)
    c.rect(card, fill=WHITE, radius=12)
    for i, (label, value) in enumerate(rows):
        top = y + 4 + row * i
        mid = top + row / 2
        if i:
            c.line([(PAD + 14, top + 0.5), (W - PAD - 14, top + 0.5)], LINE, 1)
        v = "" if value is None else str(value)
        vw = min(c.width(v, 15, True), (W - 2 * PAD) * 0.55)
        c.text(PAD + 14, mid, c.fit(label, W - 2 * PAD - 40 - vw, 14), 14, GRAY)
        color = SUCCESS if v.startswith("+") else INK
        c.text(W - PAD - 14, mid, c.fit(v, (W - 2 * PAD) * 0.55, 15, True), 15, color, True, "rm")
        c.register(label, Box(PAD + 4, top + 2, W - PAD - 4, top + row - 2))
    return card.y1 + 12


def body_otp(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """SMS one-time passcode: prompt, six digit boxes, resend timer."""
    app = c.app
    card = Box(PAD, y, W - PAD, y + 176)
    c.rect(card, fill=WHITE, radius=12)
    c.text(W / 2, y + 34, app["otp_title"], 18, INK, True, "mm")
    c.text(W / 2, y + 62, str(spec.get("sent") or app["otp_sent"]), 13, GRAY, anchor="mm")
    bw, gap = 38, 8
    x0 = (W - (6 * bw + 5 * gap)) / 2
    for i, digit in enumerate("482"):
        pass_box = Box(x0 + i * (bw + gap), y + 86, x0 + i * (bw + gap) + bw, y + 134)
        c.rect(pass_box, outline=BRAND, width=1.4, radius=8)
        c.text((pass_box.x0 + pass_box.x1) / 2, y + 110, digit, 22, INK, True, "mm")
    for i in range(3, 6):
        c.rect(Box(x0 + i * (bw + gap), y + 86, x0 + i * (bw + gap) + bw, y + 134), outline=LINE, width=1.4,
               radius=8)
    c.line([(x0 + 3 * (bw + gap) + bw / 2, y + 98), (x0 + 3 * (bw + gap) + bw / 2, y + 122)], BRAND, 1.6)
    c.register("code", Box(x0, y + 86, x0 + 6 * bw + 5 * gap, y + 134))
    c.text(W / 2, y + 156, app["otp_resend"], 12, GRAY, anchor="mm")
    spec.setdefault("button", app["otp_button"])
    return card.y1 + 20


def body_result(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Success page: check mark, title and wrapped detail."""
    y += 24
    c.circle(W / 2, y + 36, 36, fill=SUCCESS)
    c.line([(W / 2 - 16, y + 37), (W / 2 - 4, y + 49), (W / 2 + 18, y + 25)], WHITE, 5)
    y += 96
    c.text(W / 2, y, str(spec.get("message") or spec.get("title") or ""), 20, INK, True, "mm")
    y += 30
    detail = spec.get("detail") or []
    for para in [detail] if isinstance(detail, str) else detail:
        for ln in c.wrap(str(para), W - 4 * PAD, 14):
            c.text(W / 2, y, ln, 14, GRAY, anchor="mm")
            y += 22
    return y + 20


def body_face(c: Canvas, spec: dict[str, Any], y: float) -> float:
    """Face recognition: a round frame with a head outline and a prompt."""
    cx, cy, r = W / 2, y + 120, 96
    c.circle(cx, cy, r + 6, outline=BRAND, width=3)
    c.circle(cx, cy, r, fill=(226, 232, 242))
    c.circle(cx, cy - 22, 34, fill=(188, 198, 216))
    c.draw.pieslice(((cx - 62) * S, (cy + 22) * S, (cx + 62) * S, (cy + 130) * S), 180, 360, fill=(188, 198, 216))
    c.rect(Box(cx - r - 8, cy + r + 7, cx + r + 8, cy + r + 30), fill=PAGE)
    y = cy + r + 32
    for ln in c.wrap(str(spec.get("prompt") or c.app["face_prompt"]), W - 4 * PAD, 14):
        c.text(W / 2, y, ln, 14, GRAY, anchor="mm")
        y += 22
    spec.setdefault("button", c.app["face_button"])
    return y + 16


BODIES: dict[str, Callable[[Canvas, dict[str, Any], float], float]] = {
    "home": body_home, "me": body_me, "menu": body_menu, "cards": body_cards, "tiles": body_tiles,
    "form": body_form, "info": body_info, "otp": body_otp, "result": body_result, "face": body_face,
}
TAB_DEFAULT = {"home": 0, "me": 3}  # pages that are tabs themselves (index into APP[lang]["tabs"])


# ------------------------------------------------------------------------------------------------------- screens

def derive_screen(text: str, lang: str) -> dict[str, Any]:
    """A screen for a step without a ``screen:`` hint, from the labels quoted in its text."""
    app = APP[lang]
    quoted = QUOTED.findall(text)
    for label in reversed(quoted):
        if label in app["me_menu"]:
            return {"type": "me", "highlight": label}
        if label in app["grid"] or label in app["tabs"]:
            return {"type": "home", "highlight": label}
    if OTP_WORDS.search(text):
        return {"type": "otp", "highlight": "code"}
    if quoted:
        return {"type": "menu", "items": quoted, "highlight": quoted[-1]}
    raise ValueError(f"no screen hint and nothing to derive one from: {text!r}")


def render(spec: dict[str, Any], lang: str, number: int) -> Image.Image:
    """Draw one screen and highlight ``spec['highlight']`` with a badge showing ``number``."""
    spec = dict(spec)
    kind = spec.get("type", "menu")
    if kind not in BODIES:
        raise ValueError(f"unknown screen type {kind!r} (use one of {', '.join(BODIES)})")
    c = Canvas(lang)
    draw_status_and_appbar(c)
    tab = spec.get("tab")
    if tab is None and kind in TAB_DEFAULT:
        tab = c.app["tabs"][TAB_DEFAULT[kind]]
    y: float = STATUS_H + APPBAR_H
    if tab is None:
        y = draw_page_header(c, str(spec.get("title", "")))
    y += 0 if kind in {"home", "me"} else 12
    if spec.get("header"):
        y = draw_header_card(c, y, spec["header"])
    if spec.get("tip"):
        y = draw_tip(c, y, str(spec["tip"]))
    if spec.get("chips"):
        y = draw_chips(c, y, spec["chips"], spec.get("chip"))
    y = BODIES[kind](c, spec, y)
    if spec.get("note"):
        for ln in c.wrap(str(spec["note"]), W - 2 * PAD, 12):
            c.text(PAD + 2, y, ln, 12, GRAY)
            y += 18
        y += 8
    if spec.get("button"):
        y = c.button(y + 8, str(spec["button"]))
    if tab is not None:
        draw_tabbar(c, str(tab))
    target = spec.get("highlight")
    if target is not None:
        if str(target) not in c.boxes:
            raise ValueError(f"highlight {target!r} is not on this {kind} screen (there: {', '.join(c.boxes)})")
        mark(c, c.boxes[str(target)], number)
    return c.finish()


def mark(c: Canvas, box: Box, number: int) -> None:
    """Orange rounded rectangle around ``box`` and a round numbered badge on its top-right corner."""
    b = box.grow(3)
    b = Box(max(b.x0, 2), max(b.y0, 2), min(b.x1, W - 2), min(b.y1, H - 2))
    c.rect(b, outline=HIGHLIGHT, width=3, radius=10)
    r = 12
    cx = min(max(b.x1 - 1, r + 3), W - r - 3)
    cy = min(max(b.y0 - 1, r + 3), H - r - 3)
    c.circle(cx, cy, r + 2, fill=WHITE)
    c.circle(cx, cy, r, fill=HIGHLIGHT)
    c.text(cx, cy, str(number), 14, WHITE, True, "mm")


# ------------------------------------------------------------------------------------------------------- guides

def load_guides(path: Path) -> dict[str, Any]:
    """The ``guides`` mapping of guides.yml."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return doc.get("guides") or {}


def iter_steps(guides: dict[str, Any]) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
    """(guide id, language, step number, step) for every step of every guide."""
    for gid, guide in guides.items():
        for lang in ("zh", "en"):
            for n, step in enumerate((guide.get(lang) or {}).get("steps") or [], start=1):
                yield gid, lang, n, step


def check(guides: dict[str, Any]) -> list[str]:
    """Structural problems: missing languages, step counts, image names."""
    problems = []
    for gid, guide in guides.items():
        if guide.get("intent") != gid:
            problems.append(f"{gid}: intent should be {gid!r}")
        for key in ("deep_link", "web_link"):
            if not guide.get(key) or "://" in str(guide[key]):
                problems.append(f"{gid}: {key} must be a path")
        counts = {}
        for lang in ("zh", "en"):
            loc = guide.get(lang) or {}
            steps = loc.get("steps") or []
            counts[lang] = len(steps)
            if not loc.get("title") or not loc.get("summary"):
                problems.append(f"{gid}.{lang}: title and summary needed")
            if not 3 <= len(steps) <= 5:
                problems.append(f"{gid}.{lang}: {len(steps)} steps (3–5 expected)")
            for n, step in enumerate(steps, start=1):
                if step.get("image") != f"{lang}/{gid}_{n}.png":
                    problems.append(f"{gid}.{lang} step {n}: image should be {lang}/{gid}_{n}.png")
                if not step.get("text") or not step.get("plain"):
                    problems.append(f"{gid}.{lang} step {n}: text and plain needed")
        if counts["zh"] != counts["en"]:
            problems.append(f"{gid}: {counts['zh']} zh steps but {counts['en']} en steps")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Generate the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--guides", type=Path, default=GUIDES, help="guides file (default: data/guides/guides.yml)")
    ap.add_argument("--out", type=Path, default=IMG_DIR, help="image folder (default: data/guides/img)")
    ap.add_argument("--only", nargs="*", help="guide ids to draw (default: all)")
    ap.add_argument("--check", action="store_true", help="validate and list missing images; draw nothing")
    args = ap.parse_args(argv)
    try:
        guides = load_guides(args.guides)
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: {args.guides}: {exc}", file=sys.stderr)
        return 1
    problems = check(guides)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        return 1
    if args.check:
        missing = [s["image"] for *_, s in iter_steps(guides) if not (args.out / s["image"]).exists()]
        for m in missing:
            print(f"missing: {m}", file=sys.stderr)
        print(f"{len(guides)} guides ok; {len(missing)} images missing")
        return 1 if missing else 0
    count = total = 0
    for gid, lang, n, step in iter_steps(guides):
        if args.only and gid not in args.only:
            continue
        spec = step.get("screen") or derive_screen(step["text"], lang)
        try:
            img = render(spec, lang, n)
        except ValueError as exc:
            print(f"error: {gid}.{lang} step {n}: {exc}", file=sys.stderr)
            return 1
        path = args.out / step["image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, optimize=True)
        count += 1
        total += path.stat().st_size
    print(f"{count} images, {total / 1024:.0f} KiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
