"""The strict, frozen base of every config model, and the value parsers (durations,
timezones) the models validate with."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`15m`, `2h`, `1d`, `90s` -> timedelta; raises ValueError on anything else."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"bad duration {text!r}: write a number and a unit s/m/h/d, e.g. 15m")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Asia/Baghdad)"
        ) from None
    return name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
