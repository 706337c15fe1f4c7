"""glog line prefixes and their timestamps.

glog starts every line with `<severity><date> <time> <thread> <file>:<line>]`.
Older glog writes the date as MMDD (`I1129 18:15:24.761672 ...`); glog >= 0.6
writes YYYYMMDD (`I20261129 18:15:24.761672 ...`). Caffe's parse_log.py reads
only the first; both are read here.

A MMDD prefix has no year. parse_log.py takes the year from the log file's
ctime for every line, so a log that runs over New Year goes back in time.
Here the year is counted forward at each December -> January step, and the
ctime year is given to the *last* line (ctime is roughly when the log was last
written); a February 29 that would fall in a common year moves the whole log
back to the previous leap years. For logs inside one year this is exactly
parse_log.py's year. A log file glog wrote itself (caffe.INFO) starts with
`Log file created at: 2026/11/29 18:15:24`; that year, when present, is the
first line's year instead.
"""
from __future__ import annotations

import calendar
import datetime
import os
import re
from dataclasses import dataclass

# severity, date (4 or 8 digits), time with a fraction of a second
CREATED = re.compile(r"^Log file created at: (\d{4})/")
PREFIX = re.compile(r"^([IWEF])(\d{8}|\d{4}) (\d\d):(\d\d):(\d\d)\.(\d+)\s")


@dataclass(frozen=True)
class Stamp:
    """The time fields of one glog prefix; year is None for the MMDD form."""

    year: int | None
    month: int
    day: int
    hour: int
    minute: int
    second: int
    microsecond: int

    def at(self, year: int | None = None) -> datetime.datetime:
        """The datetime (raises ValueError for an impossible date)."""
        return datetime.datetime(self.year or year, self.month, self.day, self.hour, self.minute,
                                 self.second, self.microsecond)


def stamp(line: str) -> Stamp | None:
    """The timestamp of a glog line, or None when the line has no glog prefix."""
    m = PREFIX.match(line)
    if m is None:
        return None
    date, hh, mm, ss, frac = m.group(2, 3, 4, 5, 6)
    year = int(date[:4]) if len(date) == 8 else None
    # glog writes 6 digits (microseconds); read a shorter fraction as a decimal one
    micro = int(frac[:6].ljust(6, "0"))
    return Stamp(year, int(date[-4:-2]), int(date[-2:]), int(hh), int(mm), int(ss), micro)


def created_year(lines: list[str]) -> int | None:
    """The year in glog's file header, if the log has one."""
    for line in lines[:4]:
        m = CREATED.match(line)
        if m:
            return int(m.group(1))
    return None


def file_year(path) -> int:
    """The year parse_log.py assumes for MMDD prefixes: that of the file's ctime."""
    return datetime.datetime.fromtimestamp(os.path.getctime(path)).year


def first_year(month_days, last_year: int) -> int:
    """The year of the first MMDD stamp, given the (month, day) of every stamp in
    file order and the year of the last one (see the module docstring)."""
    rollovers, previous, leap_days = 0, None, []
    for month, day in month_days:
        if previous is not None and month < previous:
            rollovers += 1
        if (month, day) == (2, 29):
            leap_days.append(rollovers)
        previous = month
    first = last_year - rollovers
    for shift in range(8):  # consecutive leap years are at most 8 years apart
        if all(calendar.isleap(first - shift + r) for r in leap_days):
            return first - shift
    return first


class YearCounter:
    """Gives each MMDD stamp its year: `first`, plus one per December -> January."""

    def __init__(self, first: int):
        self.year, self.previous = first, None

    def __call__(self, month: int) -> int:
        if self.previous is not None and month < self.previous:
            self.year += 1
        self.previous = month
        return self.year
