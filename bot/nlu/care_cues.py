"""Evidence for the elderly and distressed care labels beyond the care head's probability.

The care head learned that long, story-like messages often come from older customers, so a working-age
customer's long story (a move, a new job, a baby) could switch on care mode. Older customers almost always
say something that shows it: their age, retirement or pension, a spouse or grandchildren, eyesight, hearing or
shaky hands, being new to phones, an old-fashioned form of address (姑娘, 小同志). Without such a cue the
elderly probability is scaled by :data:`UNCUED_ELDERLY_SCALE`, so only a very confident head (≥ 0.9) turns
care mode on by itself.
"""

from __future__ import annotations

import re

#: words that show the writer is older (matched in the simplified, lower-cased text)
ELDERLY_CUES_ZH = (
    "岁", "年纪", "岁数", "老了", "老年", "老人", "上了年纪", "退休", "养老金", "退休金", "老伴", "老头", "老太",
    "老婆子",
    "孙子", "孙女", "外孙", "儿女", "老花", "眼神", "眼睛不好", "眼睛花", "看不清", "字太小", "字小", "耳朵", "听不清",
    "耳背", "不会用", "不会弄", "不太会", "学不会", "弄不懂", "搞不懂", "智能手机", "存折", "姑娘", "闺女", "小伙子",
    "同志", "腿脚", "手抖", "记性", "记不住", "脑子慢", "说慢点", "慢慢", "老年机", "长者", "阿婆", "阿公", "婆婆",
    "爷爷", "奶奶", "老人家", "唔识", "六十", "七十", "八十", "九十",
)
ELDERLY_CUES_EN = re.compile(
    r"\b(retired|retiree|retirement|pension|pensioner|grand(son|daughter|kids?|children|ma|pa)|my (old )?eyes|eyesight|"
    r"hearing|\d{2} years old|i'?m (6|7|8|9)\d\b|in my (sixties|seventies|eighties|nineties)|old age|senior|elderly|"
    r"old lady|old man|getting on|not good with (phones|technology|computers)|smartphones?|passbook|at my age|"
    r"young man|young lady|dear\b|too small|can'?t see|slowly|tremble|shaky|my late (husband|wife)|widow)",
    re.IGNORECASE,
)
#: the head alone must reach 0.9 to turn care mode on (0.9 x 0.5 / 0.9 = 0.5, the decision point)
UNCUED_ELDERLY_SCALE = 0.5 / 0.9


def _has_cue(simplified: str, words: tuple[str, ...], pattern: re.Pattern[str]) -> bool:
    """Whether the lower-cased text contains one of ``words`` or matches ``pattern``."""
    low = simplified.lower()
    return any(w in low for w in words) or pattern.search(low) is not None


def has_elderly_cue(simplified: str) -> bool:
    """Whether the (simplified-Chinese) message says something that shows the writer is older."""
    return _has_cue(simplified, ELDERLY_CUES_ZH, ELDERLY_CUES_EN)


def elderly_probability(p_head: float, simplified: str) -> float:
    """The elderly probability the pipeline reports: the head's, scaled down when the text has no cue."""
    return p_head if has_elderly_cue(simplified) else p_head * UNCUED_ELDERLY_SCALE


#: impatience, mild included, is distressed (docs/care.md); short impatient openers around a request ("别绕了 …",
#: "ugh just …") are what the care head misses, because the request part looks like any calm question
IMPATIENCE_CUES_ZH = (
    "问了两遍", "问了三遍", "问了几遍", "问了好几遍", "问了半天", "说了两遍", "说了三遍", "说了几遍", "说了好几遍",
    "说了多少遍", "说了不是", "又是这套", "别绕", "绕来绕去", "说重点", "讲重点", "说人话", "废话", "赶紧", "快点",
    "快一点", "快啊", "能不能快", "搞快点", "快啲", "磨蹭", "磨叽", "墨迹", "啰嗦", "等半天", "等了半天", "等了好久",
    "等咗好耐", "还要多久", "要等多久", "怎么还没", "有完没完", "烦不烦", "烦死", "急死", "服了", "无语", "行了行了",
    "答非所问", "直接说", "直接告诉我", "到底行不行", "到底要",
)
IMPATIENCE_CUES_EN = re.compile(
    r"\b(ugh+|come on|hurry( up)?|asap|for the (second|third|fourth|fifth|\w+th) time|how many times|"
    r"(asked|told you|said) (this |that |it )?(twice|three times|again|already)|already (asked|told|said)|"
    r"just (tell|give|show) me|get to the point|whatever|still waiting|don'?t have all day|answer the question|"
    r"seriously\?)",
    re.IGNORECASE,
)
#: with an impatience cue the reported distressed probability is at least this (above the 0.5 decision point)
IMPATIENCE_FLOOR = 0.6


def has_impatience_cue(simplified: str) -> bool:
    """Whether the (simplified-Chinese) message shows impatience (repeating, hurrying, "get to the point")."""
    return _has_cue(simplified, IMPATIENCE_CUES_ZH, IMPATIENCE_CUES_EN)


def distressed_probability(p_head: float, simplified: str) -> float:
    """The distressed probability the pipeline reports: the head's, raised to :data:`IMPATIENCE_FLOOR` when the
    text shows impatience."""
    return max(p_head, IMPATIENCE_FLOOR) if has_impatience_cue(simplified) else p_head
