"""The figures the synthetic logs are tuned to (TripClick's published statistics and scale)
and the parameters of the generator's model, plus the day volume derived from them."""

from __future__ import annotations

from datetime import date

import xxhash

DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)
#: Document ids are drawn from 1..DOCUMENT_ID_SPACE (the size of Trip's catalogue).
DOCUMENT_ID_SPACE = 12_000_000

# --- scale ---------------------------------------------------------------------------------
# Linear growth from VOLUME_START to VOLUME_END over the period: mean (a+b)/2 = 1,843
# events a day = PUBLISHED_EVENTS / 2,861 days. Flat outside the period.
PERIOD_START = date(2013, 1, 1)
PERIOD_END = date(2020, 10, 31)
PUBLISHED_EVENTS = 5_272_064
VOLUME_START = 1_000
VOLUME_END = 2_686
# Mon..Sun multipliers, mean 1.
WEEKDAY_FACTORS = (1.08, 1.08, 1.08, 1.08, 1.08, 0.78, 0.82)
VOLUME_NOISE = 0.10  # +-5% deterministic day-to-day wobble

# --- sessions ------------------------------------------------------------------------------
# 42% of sessions have one click; the others 2 + Geometric clicks (capped at 40), ~3.3
# clicks per session. Gaps between clicks are lognormal with a per-session scale,
# exp(GAP_LOG_MEAN + GAP_SESSION_SIGMA z_session + GAP_SIGMA z_gap) seconds; a gap above
# MAX_GAP_S is folded back into 18-60 min. Over sessions with >= 2 clicks the span has
# median ~82 s and 90th percentile ~49 min.
SINGLE_CLICK_SHARE = 0.42
MULTI_EXTRA_CLICKS_P = 0.2521  # clicks = 2 + (Geometric(p) - 1) for multi-click sessions
MAX_SESSION_CLICKS = 40  # far below the anomaly threshold of 50 clicks per 5 minutes
GAP_LOG_MEAN = 2.8  # ln seconds
GAP_SESSION_SIGMA = 2.6
GAP_SIGMA = 1.5
MAX_GAP_S = 3600  # a longer gap is folded back into [0.3, 1] x MAX_GAP_S

# Relative traffic by hour of day (UTC) of session starts: European daytime plus American
# afternoons and evenings; the trough is 05-08 UTC.
HOURLY_PROFILE = (
    4.6, 4.0, 3.4, 2.8, 2.2, 1.6, 1.4, 1.5, 2.2, 3.6, 4.6, 5.0,
    5.2, 5.6, 6.0, 6.2, 6.0, 5.6, 5.2, 5.0, 4.8, 4.8, 4.8, 4.8,
)

# --- documents -----------------------------------------------------------------------------
# 30% of clicks go to a uniform draw from 1..DOCUMENT_ID_SPACE, 70% to a fixed pool of
# popular documents with Zipf popularity: at the default volume ~89% of a day's distinct
# documents are clicked exactly once. 38% of documents have a DOI.
UNIFORM_DOCUMENT_SHARE = 0.30
POPULAR_POOL_SIZE = 6_000
POPULAR_ZIPF = 0.67
# Pool rank r -> document id (r * M + O) % DOCUMENT_ID_SPACE + 1; M is coprime with
# DOCUMENT_ID_SPACE so the map is a bijection. O was picked so that the popularity-weighted
# DOI share of the pool is ~0.38, like the documents at large.
POOL_MULTIPLIER = 7_919_777
POOL_OFFSET = 9_876_543
DOI_SHARE = 0.38
# The Documents field (the result list the click came from): empty in 50% of records,
# otherwise 1-20 ids (20 in 60% of lists) holding the clicked document at a random rank.
DOCUMENTS_EMPTY_SHARE = 0.50
DOCUMENTS_FULL_PAGE_SHARE = 0.60
DOCUMENTS_PAGE = 20

# --- clinical areas ------------------------------------------------------------------------
#: Published share of each area among area mentions (one-day sample; the first ten are
#: published, the others share the remaining 31.6%, each below 4%).
AREA_SHARES: dict[str, float] = {
    "Endocrinology": 10.3, "Pediatrics": 8.8, "Gastroenterology": 8.6, "OB-Gyn": 7.5,
    "Oncology": 6.6, "Surgery": 6.2, "Neurology": 6.2, "Infectious Disease": 5.1,
    "Cardiology": 4.9, "Rheumatology": 4.2, "Psychiatry": 3.6, "Primary Care": 3.3,
    "Respiratory": 3.0, "Dermatology": 2.4, "Hematology": 1.9, "Nephrology": 1.8,
    "Urology": 1.6, "Geriatrics": 1.6, "Public Health": 1.5, "Emergency Medicine": 1.5,
    "Intensive Care": 1.4, "Ophthalmology": 1.2, "ENT": 1.1, "Orthopedics": 1.1,
    "Allergy & Immunology": 0.9, "Nursing": 0.8, "Anesthesiology": 0.7, "Pharmacy": 0.6,
    "Radiology": 0.6, "Sports Medicine": 0.5, "Dentistry": 0.5,
}
#: Probability of a record carrying 0, 1, 2, 3, 4, 5 areas (published: 13/42/31/14% for
#: 0/1/2/3+).
AREA_COUNT_PROBS = (0.13, 0.42, 0.31, 0.10, 0.03, 0.01)
#: Sampling weights (percent) that reproduce AREA_SHARES when areas are drawn without
#: replacement with AREA_COUNT_PROBS: sampling without replacement flattens shares a
#: little, so the big areas get slightly more weight. Derived offline by fixed-point
#: iteration (w <- w * target / simulated share; 3M simulated records, 12 rounds).
AREA_DRAW_WEIGHTS: dict[str, float] = {
    "Endocrinology": 10.652, "Pediatrics": 8.984, "Gastroenterology": 8.800,
    "OB-Gyn": 7.611, "Oncology": 6.632, "Surgery": 6.221, "Neurology": 6.198,
    "Infectious Disease": 5.071, "Cardiology": 4.858, "Rheumatology": 4.145,
    "Psychiatry": 3.559, "Primary Care": 3.237, "Respiratory": 2.950, "Dermatology": 2.342,
    "Hematology": 1.848, "Nephrology": 1.750, "Urology": 1.562, "Geriatrics": 1.562,
    "Public Health": 1.455, "Emergency Medicine": 1.455, "Intensive Care": 1.363,
    "Ophthalmology": 1.166, "ENT": 1.068, "Orthopedics": 1.068,
    "Allergy & Immunology": 0.867, "Nursing": 0.768, "Anesthesiology": 0.677,
    "Pharmacy": 0.583, "Radiology": 0.580, "Sports Medicine": 0.483, "Dentistry": 0.483,
}
# An area is spelled as its canonical name 70% of the time, otherwise as one of its
# SLUG_VARIANTS; a record's areas start with a comma 90% of the time.
CANONICAL_SPELLING_SHARE = 0.70
LEADING_COMMA_SHARE = 0.90

# --- keywords ------------------------------------------------------------------------------
# A session is a sequence of searches: the first click starts one, every later click starts
# a new one with probability NEW_SEARCH_SHARE. A search's query is empty with probability
# EMPTY_KEYWORDS_SHARE, otherwise drawn (Zipf) from a fixed pool of medical queries.
EMPTY_KEYWORDS_SHARE = 0.13
NEW_SEARCH_SHARE = 0.40
QUERY_POOL_SIZE = 6_000
QUERY_ZIPF = 0.9

# --- bots ----------------------------------------------------------------------------------
# A bot session has 60..150 clicks inside one clock-aligned 5-minute window; humans have at
# most MAX_SESSION_CLICKS, so only bots reach the anomaly mart's 50 clicks per window.
BOT_MIN_CLICKS = 60
BOT_MAX_CLICKS = 150
WINDOW_MS = 5 * 60 * 1000


def _unit_hash(text: str, seed: int) -> float:
    """Deterministic uniform number in [0, 1) from a string."""
    return xxhash.xxh64_intdigest(text.encode("ascii"), seed=seed) / 2.0**64


def default_volume(event_date: date) -> int:
    """Clicks on ``event_date`` at TripClick scale.

    Grows linearly from ~1,000 a day (Jan 2013) to ~2,700 a day (Oct 2020), flat
    outside that period; weekdays x1.08, Saturdays x0.78, Sundays x0.82; a deterministic
    +-5% day-to-day wobble. Over Jan 2013 .. Oct 2020 the mean is ~1,843 events a day
    (5,272,064 events / 2,861 days).
    """
    span = (PERIOD_END - PERIOD_START).days
    frac = min(max((event_date - PERIOD_START).days / span, 0.0), 1.0)
    level = VOLUME_START + (VOLUME_END - VOLUME_START) * frac
    weekday = WEEKDAY_FACTORS[event_date.weekday()]
    wobble = 1.0 + VOLUME_NOISE * (_unit_hash(event_date.isoformat(), seed=20130101) - 0.5)
    return max(1, int(round(level * weekday * wobble)))
