"""The structured problem report a resident's chat becomes (the dispatch API's intake schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from assistant.privacy import mask, mask_contact

CATEGORIES: dict[str, str] = {
    "city_appearance": "市容环境", "street_order": "街面秩序", "illegal_construction": "违法建设",
    "public_facilities": "公共设施", "greening": "园林绿化", "noise": "噪声扰民", "fire_safety": "消防安全",
    "gas_safety": "燃气安全", "building_safety": "房屋与地质安全", "vulnerable_people": "特殊人群关爱",
    "dispute": "矛盾纠纷", "public_order": "社会治安", "dogs": "养犬管理", "property": "物业服务",
    "public_health": "公共卫生", "other": "其他",
}
Category = Literal[
    "city_appearance", "street_order", "illegal_construction", "public_facilities", "greening", "noise",
    "fire_safety", "gas_safety", "building_safety", "vulnerable_people", "dispute", "public_order", "dogs",
    "property", "public_health", "other",
]
Urgency = Literal["routine", "urgent", "emergency"]
DESCRIPTION_MAX = 1000
URGENCY_ZH = {"routine": "一般", "urgent": "紧急", "emergency": "特急（危及安全）"}


class Location(BaseModel):
    text: str = Field(default="", max_length=200, description="地址描述，如：XX小区3栋2单元门口")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    label: str | None = Field(default=None, max_length=200, description="微信位置消息的地点名称")
    grid: str | None = Field(default=None, max_length=64, description="网格编号（配置了网格地图时）")

    def is_set(self) -> bool:
        return bool(self.text.strip() or (self.latitude is not None and self.longitude is not None))

    def describe(self) -> str:
        if self.text and self.label and self.label not in self.text:
            return f"{self.text}（{self.label}）"
        return self.text or self.label or f"{self.latitude},{self.longitude}"


class ReportDraft(BaseModel):
    category: Category = "other"
    location: Location = Field(default_factory=Location)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    photos: list[str] = Field(default_factory=list, max_length=9, description="微信图片的 MediaId")
    occurred_at: str | None = Field(default=None, max_length=64, description="发生时间（居民的说法或 ISO 时间）")
    urgency: Urgency = "routine"
    contact: str | None = Field(default=None, max_length=64, description="联系电话（可选）")

    def missing(self) -> list[str]:
        """Required fields still empty, in the order the assistant asks for them."""
        out = []
        if not self.description.strip():
            out.append("description")
        if not self.location.is_set():
            out.append("location")
        return out

    def summary(self) -> str:
        """The report as the resident is shown it to confirm: ID, bank card and phone numbers masked."""
        lines = [
            f"类别：{CATEGORIES[self.category]}",
            f"位置：{mask(self.location.describe()) or '（未填写）'}",
            f"情况：{mask(self.description) or '（未填写）'}",
            f"紧急程度：{URGENCY_ZH[self.urgency]}",
        ]
        if self.occurred_at:
            lines.append(f"发生时间：{mask(self.occurred_at)}")
        if self.photos:
            lines.append(f"照片：{len(self.photos)} 张")
        if self.contact:
            lines.append(f"联系电话：{mask_contact(self.contact)}")
        return "\n".join(lines)
