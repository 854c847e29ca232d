"""Deterministic generator of synthetic TripClick logs in exactly the real format.

The TripClick dump (Rekabsaz et al., SIGIR 2021; Trip Database) may not be
redistributed, so the project generates days of logs that look like it: the same layout
(``logs/YYYY-MM-DD.json``, one JSON object per line, plus ``logs/allarticles.txt``), the
same keys in the same order, the same quirks, and statistics tuned to the published
figures (``shared/DESIGN.md`` section 2). Nothing here imports Dagster.

A record (keys verbatim, in this order)::

    {"DateCreated":"/Date(1451648495927)/","SessionId":"svdse145tl1h2o450xjkwg45",
     "DocumentId":8944284,"Url":"http://cks.nice.org.uk/...","Title":"...","DOI":"",
     "ClinicalAreas":",Infectious Disease","Keywords":"travel vaccination","Documents":[]}

Lines are compact JSON (no spaces), UTF-8, terminated by ``\\n``.

Model (all sampling with numpy's ``default_rng`` seeded from ``(event_date, seed)``):

* **Sessions.** 42% of sessions have one click; the others have ``2 + Geometric`` clicks
  (capped at 40), which gives ~3.3 clicks per session. Gaps between clicks are
  lognormal with a per-session scale (``exp(2.8 + 2.6 z_session + 1.5 z_gap)``
  seconds; a gap above 1 h is folded back into 18-60 min): over sessions with >= 2
  clicks the span has median ~82 s and 90th percentile ~49 min. Session starts follow
  an hour-of-day profile (:data:`HOURLY_PROFILE`) that dips at 05-08 UTC; a session
  that would run past midnight is moved earlier so every record falls inside the UTC
  day.
* **Documents.** 30% of clicks go to a uniform draw from 1..12,000,000, 70% to a fixed
  pool of 6,000 popular documents with Zipf(0.67) popularity: at the default volume
  (~1,850 clicks a day) ~89% of a day's distinct documents are clicked exactly once.
  Title, Url and DOI are properties of the document (:func:`article_for`); 38% of
  documents have a DOI.
* **Clinical areas.** Per record, 0/1/2/3/4/5 areas with probability
  13/42/31/10/3/1%; areas drawn without replacement with weights calibrated so that
  area shares among mentions match the published one-day sample. Spelled as the
  canonical name 70% of the time, otherwise one of ``SLUG_VARIANTS``; a leading comma
  90% of the time; an empty string for records without areas.
* **Keywords.** A session is a sequence of searches: the first click starts one, every
  later click starts a new one with probability 0.4. A search's query is empty with
  probability 0.13, otherwise drawn (Zipf) from a fixed pool of medical queries, some
  with Trip syntax (``title:``, ``from:2011``, ``AND``/``OR``/``NOT``, parentheses,
  quoted phrases).
* **Documents field.** Empty in 50% of records, otherwise 1-20 retrieved ids (20 in 60%
  of lists) holding the clicked document at a random rank. With
  ``legacy_documents=True`` the field is the older ``"docid:score,docid:score"`` string
  (``""`` when empty), scores descending with one decimal.
* **Bots.** Each bot session has 60..150 clicks (uniform) at distinct milliseconds inside
  one clock-aligned 5-minute window, crawling consecutive document ids with empty
  ClinicalAreas, Keywords and Documents. Human sessions have at most 40 clicks, so only
  bots reach the anomaly mart's 50 clicks per 5-minute window.
* **Malformed lines** are otherwise plausible records of their own (a fresh SessionId, a
  time inside the day) with one defect each; the non-UTF-8 one is a complete record whose
  Keywords string holds ``b"\xff\xfe"``, so only a reader that rejects undecodable lines
  drops it.

Accounting (the fields of :class:`GenerationSummary`):

* ``volume`` is the number of valid, distinct click records in the file: the requested
  human clicks (``volume`` argument, or :func:`default_volume`) **plus** the clicks of
  the bot sessions, which are added on top. ``bot_clicks`` says how many of them are bot
  clicks.
* ``duplicates = round(duplicate_rate * volume)`` extra lines, each an exact byte copy of
  an earlier valid line, inserted at a random position after its original.
* ``malformed = round(malformed_rate * volume)`` extra lines cycling through
  :data:`MALFORMED_KINDS` (in that order), at random positions.
* ``lines = volume + duplicates + malformed``; ``sessions`` counts the distinct sessions
  of the valid records (bot sessions included); ``bot_sessions`` the bot sessions.

Valid lines are in ``DateCreated`` order (ties keep generation order); duplicates and
malformed lines break that order where they are inserted. Valid records never share a
``(SessionId, DocumentId, DateCreated)`` triple, so each has its own ``dedup_key``.
The valid records depend only on ``(event_date, seed, volume, bot_sessions,
legacy_documents)``: changing the duplicate or malformed rate only adds or removes
extra lines.

Files are written atomically (a temporary file in the same directory, then
``os.replace``, mode 0644), and identical arguments give identical bytes.

Speed: about 150,000 events/s on one core (1,000,000 events in ~6-7 s, 400 MB);
``legacy_documents`` roughly halves that; merging into an existing allarticles.txt adds about
1 s per million rows in it.

Command line::

    python -m tripclick_assets.lib.source.synthetic --logs-dir DIR --date YYYY-MM-DD [--seed N]
        [--volume N] [--duplicate-rate F] [--malformed-rate F] [--bot-sessions N]
        [--legacy-documents]

prints the summary as one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import xxhash

from tripclick_assets.lib.source.clinical_areas import CANONICAL_AREAS, SLUG_VARIANTS

__all__ = [
    "ARTICLES_FILE",
    "MALFORMED_KINDS",
    "GenerationSummary",
    "article_for",
    "day_file",
    "default_volume",
    "generate_day",
    "main",
    "write_articles",
]

ARTICLES_FILE = "allarticles.txt"
ARTICLES_HEADER = "id\ttitle\turl"

#: The defects of malformed lines, in the order the generator cycles through them.
MALFORMED_KINDS: tuple[str, ...] = (
    "invalid_json",  # a truncated object
    "missing_session_id",
    "missing_document_id",
    "missing_date_created",
    "bad_date_created",  # "/Date(abc)/"
    "non_integer_document_id",  # "12ab"
    "non_utf8",  # b"\xff\xfe" inside the Keywords string; otherwise a whole record
    "empty_object",  # {}
)

DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
MAX_DOCUMENT_ID = 12_000_000

# --- published scale (DESIGN section 2) -------------------------------------------------
PERIOD_START = date(2013, 1, 1)
PERIOD_END = date(2020, 10, 31)
PUBLISHED_EVENTS = 5_272_064
# Linear growth from VOLUME_START to VOLUME_END over the period: mean (a+b)/2 = 1,843
# events a day = 5,272,064 / 2,861 days. Flat outside the period.
VOLUME_START = 1_000
VOLUME_END = 2_686
# Mon..Sun multipliers, mean 1.
WEEKDAY_FACTORS = (1.08, 1.08, 1.08, 1.08, 1.08, 0.78, 0.82)
VOLUME_NOISE = 0.10  # +-5% deterministic day-to-day wobble

# --- sessions -----------------------------------------------------------------------------
SINGLE_CLICK_SHARE = 0.42
MULTI_EXTRA_CLICKS_P = 0.2521  # clicks = 2 + (Geometric(p) - 1) for multi-click sessions
MAX_SESSION_CLICKS = 40  # far below the anomaly threshold of 50 clicks per 5 minutes
GAP_LOG_MEAN = 2.8  # ln seconds
GAP_SESSION_SIGMA = 2.6
GAP_SIGMA = 1.5
MAX_GAP_S = 3600  # a longer gap is folded back into [0.3, 1] x MAX_GAP_S

# Relative traffic by hour of day (UTC): European daytime plus American afternoons and
# evenings; the trough is 05-08 UTC.
HOURLY_PROFILE = (
    4.6, 4.0, 3.4, 2.8, 2.2, 1.6, 1.4, 1.5, 2.2, 3.6, 4.6, 5.0,
    5.2, 5.6, 6.0, 6.2, 6.0, 5.6, 5.2, 5.0, 4.8, 4.8, 4.8, 4.8,
)

# --- documents ----------------------------------------------------------------------------
UNIFORM_DOCUMENT_SHARE = 0.30
POPULAR_POOL_SIZE = 6_000
POPULAR_ZIPF = 0.67
# Pool rank r -> document id (r * M + O) % 12,000,000 + 1; M is coprime with 12,000,000
# so the map is a bijection. O was picked so that the popularity-weighted DOI share of
# the pool is ~0.38, like the documents at large.
_POOL_MULTIPLIER = 7_919_777
_POOL_OFFSET = 9_876_543
DOI_SHARE = 0.38
DOCUMENTS_EMPTY_SHARE = 0.50
DOCUMENTS_FULL_PAGE_SHARE = 0.60
DOCUMENTS_PAGE = 20

# --- clinical areas -----------------------------------------------------------------------
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
#: little, so the big areas get slightly more weight. Derived with
#: :func:`_calibrate_area_weights` (3M simulated records, 12 fixed-point rounds).
_AREA_DRAW_WEIGHTS: dict[str, float] = {
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
CANONICAL_SPELLING_SHARE = 0.70
LEADING_COMMA_SHARE = 0.90

# --- keywords -----------------------------------------------------------------------------
EMPTY_KEYWORDS_SHARE = 0.13
NEW_SEARCH_SHARE = 0.40
QUERY_POOL_SIZE = 6_000
QUERY_ZIPF = 0.9

# --- bots -----------------------------------------------------------------------------------
BOT_MIN_CLICKS = 60
BOT_MAX_CLICKS = 150
WINDOW_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate_day` wrote (see the module docstring for the accounting)."""

    path: Path
    event_date: date
    seed: int
    volume: int  # valid distinct click records, bot clicks included
    lines: int  # volume + duplicates + malformed
    duplicates: int
    malformed: int
    sessions: int  # distinct sessions among the valid records, bot sessions included
    bot_sessions: int
    seconds: float
    bot_clicks: int = 0  # how many of `volume` are bot clicks

    def to_json_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["event_date"] = self.event_date.isoformat()
        return data


def day_file(logs_dir: Path | str, event_date: date) -> Path:
    """``logs_dir/YYYY-MM-DD.json``."""
    return Path(logs_dir) / f"{event_date.isoformat()}.json"


# ==========================================================================================
# Volume
# ==========================================================================================


def _unit_hash(text: str, seed: int = 0) -> float:
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


# ==========================================================================================
# Articles
# ==========================================================================================

# (condition, area) pairs; conditions feed both titles and queries.
_CONDITIONS: dict[str, tuple[str, ...]] = {
    "Endocrinology": (
        "type 2 diabetes", "type 1 diabetes", "hypothyroidism", "hyperthyroidism",
        "obesity", "osteoporosis", "Cushing's syndrome", "diabetic ketoacidosis",
        "adrenal insufficiency", "primary hyperparathyroidism", "vitamin D deficiency",
        "subclinical hypothyroidism", "hypoglycaemia",
    ),
    "Pediatrics": (
        "bronchiolitis", "croup", "febrile seizures", "acute otitis media",
        "infantile colic", "neonatal jaundice", "ADHD", "autism spectrum disorder",
        "Kawasaki disease", "childhood obesity", "nocturnal enuresis", "fever in under 5s",
    ),
    "Gastroenterology": (
        "irritable bowel syndrome", "Crohn's disease", "ulcerative colitis",
        "gastro-oesophageal reflux disease", "coeliac disease", "Helicobacter pylori",
        "non-alcoholic fatty liver disease", "acute pancreatitis", "chronic constipation",
        "diverticulitis", "hepatitis C", "dyspepsia",
    ),
    "OB-Gyn": (
        "pre-eclampsia", "endometriosis", "postpartum haemorrhage", "preterm labour",
        "menopause", "hyperemesis gravidarum", "polycystic ovary syndrome",
        "heavy menstrual bleeding", "gestational diabetes", "induction of labour",
        "vulvovaginal candidiasis", "miscarriage",
    ),
    "Oncology": (
        "breast cancer", "prostate cancer", "lung cancer", "colorectal cancer", "melanoma",
        "ovarian cancer", "pancreatic cancer", "non-Hodgkin lymphoma",
        "cancer-related fatigue", "chemotherapy-induced nausea and vomiting",
    ),
    "Surgery": (
        "acute appendicitis", "inguinal hernia", "acute cholecystitis",
        "surgical site infection", "postoperative ileus", "bariatric surgery",
        "varicose veins", "abdominal aortic aneurysm",
    ),
    "Neurology": (
        "migraine", "epilepsy", "Parkinson's disease", "multiple sclerosis", "stroke",
        "dementia", "Bell's palsy", "restless legs syndrome", "trigeminal neuralgia",
        "Guillain-Barré syndrome", "transient ischaemic attack",
    ),
    "Infectious Disease": (
        "urinary tract infection", "community-acquired pneumonia", "cellulitis", "sepsis",
        "Lyme disease", "influenza", "HIV", "tuberculosis", "hepatitis A", "malaria",
        "Clostridium difficile infection", "herpes zoster",
    ),
    "Cardiology": (
        "atrial fibrillation", "heart failure", "hypertension", "acute coronary syndrome",
        "stable angina", "hyperlipidaemia", "infective endocarditis", "pericarditis",
        "deep vein thrombosis", "aortic stenosis",
    ),
    "Rheumatology": (
        "rheumatoid arthritis", "gout", "osteoarthritis", "polymyalgia rheumatica",
        "systemic lupus erythematosus", "ankylosing spondylitis", "fibromyalgia",
        "Sjögren's syndrome", "giant cell arteritis",
    ),
    "Psychiatry": (
        "depression", "generalised anxiety disorder", "schizophrenia", "bipolar disorder",
        "insomnia", "post-traumatic stress disorder", "alcohol dependence",
        "eating disorders",
    ),
    "Primary Care": (
        "low back pain", "common cold", "acute cough", "sore throat", "smoking cessation",
        "chronic fatigue syndrome",
    ),
    "Respiratory": (
        "asthma", "COPD", "bronchiectasis", "pulmonary embolism",
        "obstructive sleep apnoea", "idiopathic pulmonary fibrosis",
    ),
    "Dermatology": (
        "psoriasis", "atopic eczema", "acne vulgaris", "urticaria", "scabies", "rosacea",
    ),
    "Nephrology": (
        "chronic kidney disease", "acute kidney injury", "nephrotic syndrome",
        "hyperkalaemia",
    ),
    "Urology": (
        "benign prostatic hyperplasia", "renal colic", "overactive bladder",
        "erectile dysfunction", "urinary incontinence",
    ),
    "Ophthalmology": (
        "glaucoma", "cataract", "age-related macular degeneration", "conjunctivitis",
        "diabetic retinopathy",
    ),
    "ENT": ("tonsillitis", "acute sinusitis", "tinnitus", "Ménière's disease", "vertigo"),
    "Geriatrics": ("falls in older people", "delirium", "frailty", "polypharmacy"),
    "Hematology": (
        "iron deficiency anaemia", "sickle cell disease", "immune thrombocytopenia",
        "haemophilia",
    ),
    "Intensive Care": ("septic shock", "acute respiratory distress syndrome"),
    "Dentistry": ("dental caries", "periodontitis"),
    "Nursing": ("pressure ulcers", "chronic wounds"),
    "Pharmacy": ("drug interactions", "medication adherence"),
    "Orthopedics": (
        "hip fracture", "carpal tunnel syndrome", "ankle sprain", "frozen shoulder",
        "plantar fasciitis",
    ),
    "Radiology": ("contrast-induced nephropathy", "incidental pulmonary nodules"),
    "Anesthesiology": ("postoperative nausea and vomiting", "postoperative pain"),
    "Allergy & Immunology": ("anaphylaxis", "allergic rhinitis", "food allergy"),
    "Emergency Medicine": ("head injury", "acute chest pain", "cardiac arrest", "burns"),
    "Sports Medicine": ("concussion", "anterior cruciate ligament injury", "tendinopathy"),
    "Public Health": ("travel immunizations", "childhood vaccination", "cancer screening"),
}
_CONDITION_LIST: tuple[str, ...] = tuple(c for cs in _CONDITIONS.values() for c in cs)

_INTERVENTIONS: tuple[str, ...] = (
    "metformin", "insulin", "statins", "aspirin", "amoxicillin", "corticosteroids",
    "inhaled corticosteroids", "physiotherapy", "cognitive behavioural therapy",
    "exercise therapy", "vitamin D supplementation", "acupuncture", "antidepressants",
    "proton pump inhibitors", "SGLT2 inhibitors", "probiotics", "direct oral anticoagulants",
    "warfarin", "beta blockers", "ACE inhibitors", "magnesium sulfate", "antibiotics",
    "paracetamol", "ibuprofen", "gabapentin", "melatonin", "zinc", "honey",
    "laparoscopic surgery", "telemonitoring", "self-management education",
    "compression stockings", "omega-3 fatty acids", "low-dose naltrexone",
    "topical NSAIDs", "tranexamic acid", "corticosteroid injection", "mindfulness",
)
_POPULATIONS: tuple[str, ...] = (
    "adults", "children", "older people", "pregnant women", "primary care",
    "hospitalised patients", "adolescents", "infants", "people with diabetes",
)
_ASPECTS: tuple[str, ...] = (
    "management", "diagnosis", "treatment", "prevention", "assessment and management",
    "scenario: management", "referral", "prognosis", "investigations", "follow-up",
)
_STUDY_SUFFIXES: tuple[str, ...] = (
    "a randomised controlled trial", "systematic review and meta-analysis",
    "a cohort study", "a network meta-analysis", "a cluster randomised trial",
    "an economic evaluation",
)
_JOURNALS: tuple[tuple[str, str], ...] = (
    # (DOI prefix pattern, URL host pattern)
    ("10.1016/j.amjmed", "http://www.sciencedirect.com/science/article/pii/S0002934"),
    ("10.1016/S0140-6736", "http://www.thelancet.com/journals/lancet/article/PIIS0140-6736"),
    ("10.1056/NEJMoa", "http://www.nejm.org/doi/full/10.1056/NEJMoa"),
    ("10.1001/jama", "http://jamanetwork.com/journals/jama/fullarticle/"),
    ("10.1186/s12875", "https://bmcprimcare.biomedcentral.com/articles/10.1186/s12875"),
    ("10.3399/bjgp", "http://bjgp.org/content/"),
)


@functools.cache
def _slug(text: str) -> str:
    out = []
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


@functools.cache
def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def article_for(document_id: int) -> tuple[str, str, str]:
    """``(title, url, doi)`` of a document: a deterministic function of the id alone.

    ``doi`` is ``""`` for ~62% of documents. Titles and URLs mimic Trip's sources (NICE
    CKS and guidance, Cochrane reviews, PubMed records, journals); no tab, newline or
    double quote appears in a title, so ``allarticles.txt`` stays a plain TSV.
    """
    bits = xxhash.xxh128_intdigest(document_id.to_bytes(8, "little", signed=True), seed=0x7EC1)
    h = bits & 0xFFFF_FFFF_FFFF_FFFF
    g = bits >> 64
    has_doi = (h % 10_000) < DOI_SHARE * 10_000
    h //= 10_000
    cond = _CONDITION_LIST[h % len(_CONDITION_LIST)]
    h //= len(_CONDITION_LIST)
    interv = _INTERVENTIONS[h % len(_INTERVENTIONS)]
    h //= len(_INTERVENTIONS)
    interv2 = _INTERVENTIONS[h % len(_INTERVENTIONS)]
    h //= len(_INTERVENTIONS)
    pop = _POPULATIONS[h % len(_POPULATIONS)]
    h //= len(_POPULATIONS)
    template = h % 8
    h //= 8
    year = 1995 + g % 26
    g //= 26
    if interv2 == interv:
        interv2 = "placebo"

    if has_doi:
        kind = g % 4
        g //= 4
        if kind == 0:  # Cochrane review
            number = 1_000 + g % 14_000
            version = 1 + (g >> 20) % 4
            doi = f"10.1002/14651858.CD{number:06d}" + (f".pub{version}" if version > 1 else "")
            url = f"http://onlinelibrary.wiley.com/doi/{doi}/abstract"
            title = (
                f"{_capitalise(interv)} for {cond} in {pop}"
                if template % 2
                else f"{_capitalise(interv)} for {cond}"
            )
            return title, url, doi
        if kind == 1:  # BMJ
            number = 1 + g % 9_000
            doi = f"10.1136/bmj.{'h' if year >= 2015 else 'f'}{number}"
            url = f"http://www.bmj.com/content/{300 + (year - 1995) * 12 + g % 12}/bmj.{doi[-5:]}"
        else:  # another journal
            prefix, host = _JOURNALS[g % len(_JOURNALS)]
            g //= len(_JOURNALS)
            serial = 10_000 + g % 90_000
            doi = f"{prefix}.{year}.{serial}"
            url = f"{host}{year % 100:02d}{serial}"
        if template < 3:
            title = f"{_capitalise(interv)} versus {interv2} for {cond}: {_STUDY_SUFFIXES[g % 6]}"
        elif template < 5:
            title = f"{_capitalise(interv)} in {cond}: {_STUDY_SUFFIXES[g % 6]}"
        elif template < 7:
            title = f"Effectiveness of {interv} in {pop} with {cond}"
        else:
            other = _CONDITION_LIST[g % len(_CONDITION_LIST)]
            title = f"Association between {cond} and {other}: a cohort study"
        return title, url, doi

    kind = g % 4
    g //= 4
    if kind == 0:  # NICE Clinical Knowledge Summaries
        aspect = _ASPECTS[template % len(_ASPECTS)]
        title = f"{_capitalise(cond)}: {aspect}"
        url = f"http://cks.nice.org.uk/{_slug(cond)}"
    elif kind == 1:  # NICE guidance
        title = f"{_capitalise(cond)} in {pop}: diagnosis and management"
        url = f"https://www.nice.org.uk/guidance/{'ng' if year >= 2015 else 'cg'}{1 + g % 200}"
    elif kind == 2:  # PubMed record without a DOI
        title = f"{_capitalise(interv)} for {cond}: {_STUDY_SUFFIXES[g % 6]}"
        url = f"http://www.ncbi.nlm.nih.gov/pubmed/{10_000_000 + g % 23_000_000}"
    else:  # clinical question-and-answer / evidence summaries
        title = f"What is the evidence for {interv} in {cond}?"
        url = f"https://www.tripdatabase.com/qa/{document_id}"
    return title, url, ""


def _article_fragment(document_id: int) -> tuple[bytes, bytes]:
    """JSON fragment ``"Url":..,"Title":..,"DOI":..`` and the TSV row of a document."""
    title, url, doi = article_for(document_id)
    fragment = orjson.dumps({"Url": url, "Title": title, "DOI": doi})[1:-1]
    return fragment, f"{document_id}\t{title}\t{url}".encode()


def _atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``path`` through a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; log files are read by other users
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read_article_rows(path: Path) -> tuple[np.ndarray, list[bytes]]:
    """Ids and rows (without newline) of an existing allarticles.txt, header skipped.

    Lines that do not start with a numeric id are dropped; for an id listed twice the
    first row wins.
    """
    data = path.read_bytes()
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    lines = data.split(b"\n")
    if lines and not lines[0].partition(b"\t")[0].isdigit():
        lines = lines[1:]  # the header
    try:
        ids = [int(line.partition(b"\t")[0]) for line in lines if line]
        kept = [line for line in lines if line]
    except ValueError:  # a stray non-data line: take the slow, tolerant path
        pairs = [(line.partition(b"\t")[0], line) for line in lines]
        kept = [line for head, line in pairs if head.isdigit()]
        ids = [int(head) for head, _ in pairs if head.isdigit()]
    id_array = np.array(ids, dtype=np.int64)
    unique, first = np.unique(id_array, return_index=True)
    if unique.size != id_array.size:
        kept = [kept[i] for i in first.tolist()]
        id_array = unique
    return id_array, kept


def _write_article_rows(logs_dir: Path, rows: dict[int, bytes]) -> Path:
    """Merge ``rows`` (id -> TSV row without newline) into allarticles.txt, sorted by id."""
    path = Path(logs_dir) / ARTICLES_FILE
    new_ids = np.sort(np.fromiter(rows, dtype=np.int64, count=len(rows)))
    if path.exists():
        old_ids, old_rows = _read_article_rows(path)
        new_ids = new_ids[~np.isin(new_ids, old_ids)]
        if not new_ids.size:
            return path  # nothing new: leave the file alone
    else:
        old_ids, old_rows = np.zeros(0, dtype=np.int64), []
    all_rows = old_rows + [rows[i] for i in new_ids.tolist()]
    order = np.argsort(np.concatenate([old_ids, new_ids]), kind="stable").tolist()
    del old_rows

    def chunks() -> Iterable[bytes]:
        yield ARTICLES_HEADER.encode() + b"\n"
        block = 65_536
        for start in range(0, len(order), block):
            yield b"\n".join([all_rows[i] for i in order[start : start + block]]) + b"\n"

    _atomic_write(path, chunks())
    return path


def write_articles(logs_dir: Path, document_ids: Iterable[int]) -> Path:
    """Write ``logs_dir/allarticles.txt`` (TSV, header ``id\\ttitle\\turl``).

    One row per id from :func:`article_for`, merged with the rows already in the file
    (an existing row is kept as it is), sorted by id, written atomically. Returns the path.
    """
    rows = {int(i): _article_fragment(int(i))[1] for i in set(document_ids)}
    return _write_article_rows(Path(logs_dir), rows)


# ==========================================================================================
# Queries
# ==========================================================================================


@functools.lru_cache(maxsize=1)
def _query_pool() -> tuple[tuple[bytes, ...], np.ndarray]:
    """A fixed pool of JSON-encoded queries and their cumulative Zipf popularity."""
    rng = np.random.default_rng(0x51A7)
    conds = _CONDITION_LIST
    ivs = _INTERVENTIONS
    aspects = (
        "treatment", "diagnosis", "management", "guidelines", "children", "pregnancy",
        "elderly", "prognosis", "screening", "prevention", "nice", "cochrane",
    )
    seen: set[str] = set()
    pool: list[str] = []
    attempts = 0
    while len(pool) < QUERY_POOL_SIZE and attempts < QUERY_POOL_SIZE * 20:
        attempts += 1
        lower = rng.random() < 0.85  # most users type in lower case
        c = conds[rng.integers(len(conds))]
        c2 = conds[rng.integers(len(conds))]
        iv = ivs[rng.integers(len(ivs))]
        if lower:
            c, c2, iv = c.lower(), c2.lower(), iv.lower()
        t = rng.random()
        if t < 0.30:
            q = c
        elif t < 0.42:
            q = f"{c} {iv}"
        elif t < 0.50:
            q = f"{iv} {c}"
        elif t < 0.64:
            q = f"{c} {aspects[rng.integers(len(aspects))]}"
        elif t < 0.69:
            q = iv
        elif t < 0.74:
            q = f"title:{c.split()[-1] if rng.random() < 0.5 else c}"
        elif t < 0.77:
            q = f"title:({c} AND {iv})"
        elif t < 0.82:
            q = f"{c} AND {iv}"
        elif t < 0.85:
            q = f"({c} OR {c2}) AND {iv}"
        elif t < 0.87:
            q = f"{c} NOT {_POPULATIONS[rng.integers(len(_POPULATIONS))]}"
        elif t < 0.91:
            q = f"{c} from:{2005 + rng.integers(16)}"
        elif t < 0.93:
            q = f"from:{2005 + rng.integers(16)} {iv} {c}"
        elif t < 0.97:
            q = f'"{c}"'
        else:
            q = f"{c} {iv} {_POPULATIONS[rng.integers(len(_POPULATIONS))]}"
        if q not in seen:
            seen.add(q)
            pool.append(q)
    encoded = tuple(orjson.dumps(q) for q in pool)
    weights = 1.0 / np.arange(1, len(pool) + 1) ** QUERY_ZIPF
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return encoded, cdf


# ==========================================================================================
# Clinical areas
# ==========================================================================================


@functools.lru_cache(maxsize=1)
def _area_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes]]:
    """Area cdf; per area its first spelling id and spelling count; the spelling table.

    Spelling id ``i`` (``0 <= i < T``) is ``table[i]``; ``i + T`` is the same spelling with
    a leading comma, so one lookup builds "first area, with or without leading comma" and
    "next area, always after a comma".
    """
    names = list(_AREA_DRAW_WEIGHTS)
    assert set(names) == set(CANONICAL_AREAS), "area weights must cover every canonical area"
    w = np.array([_AREA_DRAW_WEIGHTS[n] for n in names], dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    per_area = [[n.encode()] + [v.encode() for v in SLUG_VARIANTS.get(n, ())] for n in names]
    n_spell = np.array([len(x) for x in per_area], dtype=np.int64)
    first = np.cumsum(n_spell) - n_spell
    flat = [sp for x in per_area for sp in x]
    return cdf, first, n_spell, flat + [b"," + sp for sp in flat]


def _draw_areas(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw ClinicalAreas strings (without JSON quotes) for ``n`` records (object array)."""
    cdf, first_id, n_spell, table = _area_tables()
    n_areas = len(cdf)
    n_table = len(table) // 2
    counts = rng.choice(len(AREA_COUNT_PROBS), size=n, p=AREA_COUNT_PROBS)
    max_k = len(AREA_COUNT_PROBS) - 1
    chosen = np.full((n, max_k), -1, dtype=np.int64)
    for j in range(max_k):
        pending = np.flatnonzero(counts > j)
        while pending.size:  # redraw clashes: sampling without replacement
            draw = np.minimum(
                np.searchsorted(cdf, rng.random(pending.size), side="right"), n_areas - 1
            )
            clash = (chosen[pending, :j] == draw[:, None]).any(axis=1)
            chosen[pending[~clash], j] = draw[~clash]
            pending = pending[clash]
    # spelling: the canonical name, or (30%) one of its SLUG_VARIANTS
    variant = rng.random((n, max_k)) >= CANONICAL_SPELLING_SHARE
    pick = rng.integers(0, 1 << 30, size=(n, max_k))
    leading = rng.random(n) < LEADING_COMMA_SHARE
    area = np.maximum(chosen, 0)
    n_var = n_spell[area] - 1
    spelling = first_id[area] + np.where(variant & (n_var > 0), 1 + pick % np.maximum(n_var, 1), 0)
    spelling[:, 0] += np.where(leading, n_table, 0)  # first area: optional leading comma
    spelling[:, 1:] += n_table  # later areas: always after a comma

    out = np.full(n, b"", dtype=object)
    for k in range(1, max_k + 1):
        rows = np.flatnonzero(counts == k)
        if not rows.size:
            continue
        cols = spelling[rows, :k].T.tolist()
        strs = [table[i] for i in cols[0]]
        for col in cols[1:]:
            strs = [s + table[i] for s, i in zip(strs, col)]
        out[rows] = strs
    return out


def _calibrate_area_weights(records: int = 3_000_000, rounds: int = 12) -> dict[str, float]:
    """Re-derive ``_AREA_DRAW_WEIGHTS`` from AREA_SHARES (offline helper, not used at run time)."""
    names = list(AREA_SHARES)
    target = np.array([AREA_SHARES[n] for n in names]) / 100.0
    rng = np.random.default_rng(0)
    k = rng.choice(len(AREA_COUNT_PROBS), records, p=AREA_COUNT_PROBS)
    gumbel = rng.gumbel(size=(records, len(names))).astype(np.float32)
    max_k = len(AREA_COUNT_PROBS) - 1
    w = target.copy()
    for _ in range(rounds):
        keys = gumbel + np.log(w).astype(np.float32)
        order = np.argsort(-keys, axis=1)[:, :max_k]
        mask = np.arange(max_k)[None, :] < k[:, None]
        share = np.bincount(order[mask], minlength=len(names)) / mask.sum()
        w = w * (target / share)
        w /= w.sum()
    return {n: round(float(x) * 100, 3) for n, x in zip(names, w)}


# ==========================================================================================
# Generation
# ==========================================================================================

_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)


def _session_ids(rng: np.random.Generator, n: int, taken: set[bytes]) -> list[bytes]:
    """``n`` distinct 24-character ``[a-z0-9]`` ids, none in ``taken`` (which grows)."""
    out: list[bytes] = []
    while len(out) < n:
        need = n - len(out)
        raw = _ALPHABET[rng.integers(0, 36, size=(need, 24))]
        for sid in raw.view("S24").ravel().tolist():
            if sid not in taken:
                taken.add(sid)
                out.append(sid)
    return out


def _pool_ids(ranks: np.ndarray) -> np.ndarray:
    return (ranks.astype(np.int64) * _POOL_MULTIPLIER + _POOL_OFFSET) % MAX_DOCUMENT_ID + 1


@functools.lru_cache(maxsize=1)
def _pool_cdf() -> np.ndarray:
    w = 1.0 / np.arange(1, POPULAR_POOL_SIZE + 1) ** POPULAR_ZIPF
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return cdf


def _draw_documents(rng: np.random.Generator, n: int) -> np.ndarray:
    uniform = rng.random(n) < UNIFORM_DOCUMENT_SHARE
    rank = np.minimum(np.searchsorted(_pool_cdf(), rng.random(n), side="right"),
                      POPULAR_POOL_SIZE - 1)
    random_ids = rng.integers(1, MAX_DOCUMENT_ID + 1, size=n)
    return np.where(uniform, random_ids, _pool_ids(rank))


def _session_lengths(rng: np.random.Generator, volume: int) -> np.ndarray:
    chunks: list[np.ndarray] = []
    total = 0
    while total < volume:
        m = max(16, int((volume - total) / 3.0) + 16)
        single = rng.random(m) < SINGLE_CLICK_SHARE
        multi = np.minimum(1 + rng.geometric(MULTI_EXTRA_CLICKS_P, size=m), MAX_SESSION_CLICKS)
        k = np.where(single, 1, multi)
        chunks.append(k)
        total += int(k.sum())
    k = np.concatenate(chunks)
    csum = np.cumsum(k)
    last = int(np.searchsorted(csum, volume))  # first session reaching the volume
    k = k[: last + 1].copy()
    k[-1] -= int(csum[last] - volume)
    return k


def _human_timestamps(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """Millisecond offsets in the day for each click, sessions consecutive."""
    n_sessions = lengths.size
    n_clicks = int(lengths.sum())
    session_of = np.repeat(np.arange(n_sessions), lengths)
    starts_idx = np.cumsum(lengths) - lengths
    pos = np.arange(n_clicks) - starts_idx[session_of]  # click index in session

    z_session = rng.standard_normal(n_sessions)
    z_gap = rng.standard_normal(n_clicks)
    fold = rng.random(n_clicks)
    gaps_s = np.exp(GAP_LOG_MEAN + GAP_SESSION_SIGMA * z_session[session_of] + GAP_SIGMA * z_gap)
    gaps_s = np.where(gaps_s > MAX_GAP_S, MAX_GAP_S * (0.3 + 0.7 * fold), gaps_s)
    gaps = np.maximum(np.rint(gaps_s * 1000.0), 1).astype(np.int64)
    gaps[pos == 0] = 0
    offsets = np.cumsum(gaps)
    offsets -= offsets[starts_idx][session_of]  # per-session cumulative offset
    span = offsets[starts_idx + lengths - 1]

    # a span longer than the day (vanishingly rare) is compressed, keeping order strict
    too_long = span > DAY_MS - lengths
    if too_long.any():
        factor = (DAY_MS - lengths - 1) / np.maximum(span, 1)
        scale = np.where(too_long, factor, 1.0)[session_of]
        offsets = np.where(
            too_long[session_of], np.floor(offsets * scale).astype(np.int64) + pos, offsets
        )
        span = offsets[starts_idx + lengths - 1]

    hours_p = np.asarray(HOURLY_PROFILE, dtype=np.float64)
    hour = rng.choice(24, size=n_sessions, p=hours_p / hours_p.sum())
    start = hour * 3_600_000 + rng.integers(0, 3_600_000, size=n_sessions)
    start = np.minimum(start, DAY_MS - 1 - span)
    return start[session_of] + offsets


def _keywords(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """JSON-encoded Keywords per click (object array): one query per search."""
    encoded, cdf = _query_pool()
    n_clicks = int(lengths.sum())
    starts_idx = np.cumsum(lengths) - lengths
    new_search = rng.random(n_clicks) < NEW_SEARCH_SHARE
    new_search[starts_idx] = True
    search_of = np.cumsum(new_search) - 1
    n_searches = int(search_of[-1]) + 1 if n_clicks else 0
    empty = rng.random(n_searches) < EMPTY_KEYWORDS_SHARE
    q = np.minimum(np.searchsorted(cdf, rng.random(n_searches), side="right"), len(cdf) - 1)
    q = np.where(empty, -1, q)
    table = np.array(list(encoded) + [b'""'], dtype=object)  # index -1 -> empty
    return table[q[search_of]]


def _documents_field(
    rng: np.random.Generator, clicked: np.ndarray, legacy: bool
) -> np.ndarray:
    """JSON values of the Documents field (object array of bytes)."""
    n = clicked.size
    empty = rng.random(n) < DOCUMENTS_EMPTY_SHARE
    full = rng.random(n) < DOCUMENTS_FULL_PAGE_SHARE
    size = np.where(full, DOCUMENTS_PAGE, rng.integers(1, DOCUMENTS_PAGE, size=n))
    size = np.where(empty, 0, size)
    rows = np.flatnonzero(size > 0)
    ids = rng.integers(1, MAX_DOCUMENT_ID + 1, size=(rows.size, DOCUMENTS_PAGE), dtype=np.int64)
    rank = (rng.random(rows.size) * size[rows]).astype(np.int64)
    ids[np.arange(rows.size), rank] = clicked[rows]
    out = np.full(n, b'""' if legacy else b"[]", dtype=object)
    row_size = size[rows]
    if not legacy:
        # one orjson call per list length; split the nested list into rows
        for k in range(1, DOCUMENTS_PAGE + 1):
            g = np.flatnonzero(row_size == k)
            if not g.size:
                continue
            blob = orjson.dumps(
                np.ascontiguousarray(ids[g, :k]), option=orjson.OPT_SERIALIZE_NUMPY
            )
            out[rows[g]] = [b"[" + body + b"]" for body in blob[2:-2].split(b"],[")]
        return out
    top = rng.uniform(6.0, 30.0, size=rows.size)
    decay = rng.uniform(0.85, 0.99, size=(rows.size, DOCUMENTS_PAGE))
    tenths = np.rint(top[:, None] * np.cumprod(decay, axis=1) * 10).astype(np.int64)
    # interleave id, whole, tenth, id, whole, tenth ... ("docid:12.5") and format each
    # row with one %-operation on integers (much faster than float formatting)
    triples = np.empty((rows.size, 3 * DOCUMENTS_PAGE), dtype=np.int64)
    triples[:, 0::3] = ids
    triples[:, 1::3] = tenths // 10
    triples[:, 2::3] = tenths % 10
    formats = [b""] + [
        b'"' + b",".join([b"%d:%d.%d"] * k) + b'"' for k in range(1, DOCUMENTS_PAGE + 1)
    ]
    strs = [
        formats[k] % tuple(row[: 3 * k])
        for row, k in zip(triples.tolist(), row_size.tolist())
    ]
    if rows.size:
        out[rows] = strs
    return out


_RECORD_FORMAT = (
    b'{"DateCreated":"/Date(%d)/","SessionId":"%s","DocumentId":%d,%s,'
    b'"ClinicalAreas":"%s","Keywords":%s,"Documents":%s}\n'
)


def _malformed_line(
    kind: int, rng: np.random.Generator, day_start_ms: int, taken: set[bytes]
) -> bytes:
    """One malformed line of defect ``MALFORMED_KINDS[kind]``."""
    name = MALFORMED_KINDS[kind]
    if name == "empty_object":
        return b"{}\n"
    ts = day_start_ms + int(rng.integers(0, DAY_MS))
    sid = _session_ids(rng, 1, taken)[0].decode()
    doc = int(rng.integers(1, MAX_DOCUMENT_ID + 1))
    title, url, doi = article_for(doc)
    record: dict[str, object] = {
        "DateCreated": f"/Date({ts})/",
        "SessionId": sid,
        "DocumentId": doc,
        "Url": url,
        "Title": title,
        "DOI": doi,
        "ClinicalAreas": ",Cardiology",
        "Keywords": "heart failure",
        "Documents": [],
    }
    if name == "invalid_json":
        full = orjson.dumps(record)
        return full[: full.index(b',"DocumentId"')] + b"\n"  # cut: object never closed
    if name == "missing_session_id":
        del record["SessionId"]
    elif name == "missing_document_id":
        del record["DocumentId"]
    elif name == "missing_date_created":
        del record["DateCreated"]
    elif name == "bad_date_created":
        record["DateCreated"] = "/Date(abc)/"
    elif name == "non_integer_document_id":
        record["DocumentId"] = "12ab"
    elif name == "non_utf8":
        record["Keywords"] = "@@NON_UTF8@@"
        return orjson.dumps(record).replace(b"@@NON_UTF8@@", b"heart \xff\xfe failure") + b"\n"
    return orjson.dumps(record) + b"\n"


def _rng_for(event_date: date, seed: int) -> np.random.SeedSequence:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.SeedSequence([seed, event_date.toordinal(), 0x7C11C])


def generate_day(
    logs_dir: Path,
    event_date: date,
    *,
    seed: int = 0,
    volume: int | None = None,
    duplicate_rate: float = 0.0,
    malformed_rate: float = 0.0,
    bot_sessions: int = 0,
    legacy_documents: bool = False,
) -> GenerationSummary:
    """Write ``logs_dir/YYYY-MM-DD.json`` for ``event_date`` and update allarticles.txt.

    ``volume`` is the number of human clicks (default :func:`default_volume`); each of
    the ``bot_sessions`` bot sessions adds 60..150 clicks inside one clock-aligned
    5-minute window on top of it. The summary's ``volume`` counts all valid records
    (human + bot), and ``duplicate_rate``/``malformed_rate`` are fractions of that total.
    See the module docstring for the model and the accounting.
    """
    t0 = time.perf_counter()
    logs_dir = Path(logs_dir)
    human_volume = default_volume(event_date) if volume is None else int(volume)
    if human_volume < 0:
        raise ValueError(f"volume must be >= 0, got {volume}")
    if not 0.0 <= duplicate_rate or not 0.0 <= malformed_rate:
        raise ValueError("duplicate_rate and malformed_rate must be >= 0")
    if bot_sessions < 0:
        raise ValueError(f"bot_sessions must be >= 0, got {bot_sessions}")

    ss = _rng_for(event_date, seed)
    (r_sess, r_time, r_docs, r_areas, r_kw, r_list, r_bots, r_extra) = (
        np.random.default_rng(s) for s in ss.spawn(8)
    )
    day_start_ms = (event_date - _EPOCH).days * DAY_MS

    # --- human sessions -------------------------------------------------------------------
    if human_volume:
        lengths = _session_lengths(r_sess, human_volume)
        ts = _human_timestamps(r_time, lengths)
    else:
        lengths = np.zeros(0, np.int64)
        ts = np.zeros(0, np.int64)
    taken: set[bytes] = set()
    sids = _session_ids(r_sess, lengths.size, taken)
    session_of = np.repeat(np.arange(lengths.size), lengths)
    docs = _draw_documents(r_docs, human_volume)
    areas = _draw_areas(r_areas, human_volume)
    keywords = _keywords(r_kw, lengths) if human_volume else np.zeros(0, dtype=object)

    # --- bot sessions ---------------------------------------------------------------------
    bot_sizes = r_bots.integers(BOT_MIN_CLICKS, BOT_MAX_CLICKS + 1, size=bot_sessions)
    bot_clicks = int(bot_sizes.sum())
    if bot_sessions:
        sids += _session_ids(r_bots, bot_sessions, taken)
        windows = r_bots.integers(0, DAY_MS // WINDOW_MS, size=bot_sessions)
        bot_ts = np.concatenate([
            w * WINDOW_MS + np.sort(r_bots.choice(WINDOW_MS, size=int(k), replace=False))
            for w, k in zip(windows.tolist(), bot_sizes.tolist())
        ])
        step = int(r_bots.integers(1, 4))
        first = int(r_bots.integers(1, MAX_DOCUMENT_ID - step * bot_clicks))
        bot_docs = first + step * np.arange(bot_clicks, dtype=np.int64)  # a crawl
        ts = np.concatenate([ts, bot_ts])
        session_of = np.concatenate(
            [session_of, lengths.size + np.repeat(np.arange(bot_sessions), bot_sizes)]
        )
        docs = np.concatenate([docs, bot_docs])
        areas = np.concatenate([areas, np.full(bot_clicks, b"", dtype=object)])
        keywords = np.concatenate([keywords, np.full(bot_clicks, b'""', dtype=object)])

    total = human_volume + bot_clicks
    documents = _documents_field(r_list, docs, legacy_documents)
    if bot_sessions:  # bots fetch pages directly: no search results
        documents[human_volume:] = b'""' if legacy_documents else b"[]"

    # --- articles ---------------------------------------------------------------------------
    unique_docs, doc_index = np.unique(docs, return_inverse=True)
    rows: dict[int, bytes] = {}
    frag_list: list[bytes] = []
    for d in unique_docs.tolist():
        frag, row = _article_fragment(d)
        rows[d] = row
        frag_list.append(frag)
    fragments = np.array(frag_list, dtype=object)

    # --- valid lines in time order --------------------------------------------------------------
    order = np.lexsort((np.arange(total), ts))
    sid_arr = np.array(sids, dtype=object)
    fmt = _RECORD_FORMAT
    valid = [
        fmt % fields
        for fields in zip(
            (ts[order] + day_start_ms).tolist(),
            sid_arr[session_of[order]].tolist(),
            docs[order].tolist(),
            fragments[doc_index.reshape(-1)[order]].tolist(),
            areas[order].tolist(),
            keywords[order].tolist(),
            documents[order].tolist(),
        )
    ]
    del sid_arr, fragments

    # --- duplicates and malformed lines -------------------------------------------------------
    n_dup = int(round(duplicate_rate * total)) if total else 0
    n_bad = int(round(malformed_rate * total))
    # anchor 2*i = valid line i; anchor 2*p - 1 = just before valid line p (2*total - 1: end)
    dup_src = r_extra.integers(0, total, size=n_dup) if n_dup else np.zeros(0, np.int64)
    dup_pos = dup_src + 1 + (r_extra.random(n_dup) * (total - dup_src)).astype(np.int64)
    bad_pos = r_extra.integers(0, total + 1, size=n_bad)
    extras = [valid[i] for i in dup_src.tolist()]
    extras += [
        _malformed_line(j % len(MALFORMED_KINDS), r_extra, day_start_ms, taken)
        for j in range(n_bad)
    ]
    anchors = np.concatenate([
        2 * np.arange(total, dtype=np.int64),
        2 * dup_pos - 1,
        2 * bad_pos - 1,
    ])
    if extras:
        all_lines = valid + extras
        final = np.argsort(anchors, kind="stable").tolist()
        ordered = [all_lines[i] for i in final]
        del all_lines, final
    else:
        ordered = valid

    path = day_file(logs_dir, event_date)
    block = 65_536

    def chunks() -> Iterable[bytes]:
        for start in range(0, len(ordered), block):
            yield b"".join(ordered[start : start + block])

    _atomic_write(path, chunks())
    _write_article_rows(logs_dir, rows)

    return GenerationSummary(
        path=path,
        event_date=event_date,
        seed=seed,
        volume=total,
        lines=total + n_dup + n_bad,
        duplicates=n_dup,
        malformed=n_bad,
        sessions=lengths.size + bot_sessions,
        bot_sessions=bot_sessions,
        seconds=round(time.perf_counter() - t0, 3),
        bot_clicks=bot_clicks,
    )


# ==========================================================================================
# Command line
# ==========================================================================================


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tripclick_assets.lib.source.synthetic",
        description="Generate one day of synthetic TripClick logs in the real format.",
    )
    parser.add_argument("--logs-dir", required=True, type=Path)
    parser.add_argument("--date", required=True, type=_parse_date)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--volume", type=int, default=None,
                        help="human clicks (default: TripClick scale for the date)")
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--malformed-rate", type=float, default=0.0)
    parser.add_argument("--bot-sessions", type=int, default=0)
    parser.add_argument("--legacy-documents", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = generate_day(
            args.logs_dir,
            args.date,
            seed=args.seed,
            volume=args.volume,
            duplicate_rate=args.duplicate_rate,
            malformed_rate=args.malformed_rate,
            bot_sessions=args.bot_sessions,
            legacy_documents=args.legacy_documents,
        )
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(orjson.dumps(summary.to_json_dict()).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
