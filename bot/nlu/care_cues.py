"""Evidence for the elderly care label beyond the care head's probability.

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


def has_elderly_cue(simplified: str) -> bool:
    """Whether the (simplified-Chinese) message says something that shows the writer is older."""
    low = simplified.lower()
    return any(w in low for w in ELDERLY_CUES_ZH) or ELDERLY_CUES_EN.search(low) is not None


def elderly_probability(p_head: float, simplified: str) -> float:
    """The elderly probability the pipeline reports: the head's, scaled down when the text has no cue."""
    return p_head if has_elderly_cue(simplified) else p_head * UNCUED_ELDERLY_SCALE
