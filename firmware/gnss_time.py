"""Calendar arithmetic for GNSS fixes: civil dates to days since 1970 and back, and the
repair of dates from receivers whose 10-bit GPS week counter rolled over.

Pure integer code. MicroPython's time.mktime counts from 2000 on bare-metal ports and
from 1970 on unix, so the tag never uses it for evidence timestamps.
"""

DAY_MS = 86400000
# A receiver with a 10-bit week counter reports dates exactly this many days early
# after each rollover (1999-08-22, 2019-04-07, 2038-11-21).
ROLLOVER_DAYS = 1024 * 7


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the proleptic Gregorian date y-m-d (H. Hinnant's method)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """Inverse of days_from_civil: (y, m, d). Allocates a tuple: host tools and tests only."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d


def _month_days(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def valid_date(y, m, d):
    return 1 <= m <= 12 and 1 <= d <= _month_days(y, m)


# The tag's default "not before" date: firmware built in 2025 cannot be running earlier,
# so an earlier receiver date is a week rollover (valid until 2044-08).
NOT_BEFORE_DAYS = days_from_civil(2025, 1, 1)


def repair_rollover(days, not_before):
    """Days of a receiver date, moved forward by one 1024-week rollover when it lies before
    `not_before` (days since 1970). Returns None when even that is too early: the receiver
    is reporting its power-on default (1980-01-06 and the like), not a date."""
    if days >= not_before:
        return days
    days += ROLLOVER_DAYS
    return days if days >= not_before else None
