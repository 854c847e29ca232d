"""Clinical areas: one table mapping every spelling seen in TripClick logs to one name.

TripClick's ``ClinicalAreas`` field is a comma-separated string, usually with a leading
comma (``",Infectious Disease"``), sometimes empty, and it mixes display names with URL
slugs of the same area: ``OB-Gyn``/``obgyn``, ``Emergency Medicine``/``emergencymedicine``,
``sports_medicine``, ``public_health``, British spellings (``Paediatrics``), and so on.
Silver stores the canonical names of :data:`CANONICAL_AREAS`, produced by
:func:`parse_clinical_areas`.

Lookup goes through :func:`normalize_key`, which is **exactly**::

    re.sub("[^a-z0-9]", "", spelling.lower())

so that Spark can reproduce it column-wise with
``regexp_replace(lower(x), '[^a-z0-9]', '')`` and join against :data:`ALIASES`
(keep the two definitions identical; ``tripclick_assets_tests/unit/test_clinical_areas.py``
pins the Python side). Note that ``str.lower`` and Spark's ``lower`` agree on ASCII, and
every key in the table is ASCII.

A spelling that is not in the table is never dropped: :func:`canonical_area` returns the
stripped original, so an unknown area still reaches the marts under its own name.

This module is pure Python (no Dagster, no Spark) so the generator, the producers and the
Spark jobs can all import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "ALIASES",
    "CANONICAL_AREAS",
    "SLUG_VARIANTS",
    "canonical_area",
    "is_known",
    "normalize_key",
    "parse_clinical_areas",
]

#: The canonical area names, spelled as Trip displays them. Silver and the marts use these.
CANONICAL_AREAS: tuple[str, ...] = (
    "Endocrinology",
    "Pediatrics",
    "Gastroenterology",
    "OB-Gyn",
    "Oncology",
    "Surgery",
    "Neurology",
    "Infectious Disease",
    "Cardiology",
    "Rheumatology",
    "Emergency Medicine",
    "Sports Medicine",
    "Public Health",
    "Primary Care",
    "Psychiatry",
    "Dermatology",
    "Nephrology",
    "Urology",
    "Ophthalmology",
    "ENT",
    "Respiratory",
    "Geriatrics",
    "Hematology",
    "Intensive Care",
    "Dentistry",
    "Nursing",
    "Pharmacy",
    "Orthopedics",
    "Radiology",
    "Anesthesiology",
    "Allergy & Immunology",
)

_NON_KEY = re.compile("[^a-z0-9]")


def normalize_key(spelling: str) -> str:
    """Lookup key of a spelling: lower-case, then drop every character outside ``[a-z0-9]``.

    Exactly ``re.sub("[^a-z0-9]", "", spelling.lower())``; Spark's equivalent is
    ``regexp_replace(lower(x), '[^a-z0-9]', '')``. Do not add stripping, unicode folding
    or anything else here without changing the Spark side too.
    """
    return _NON_KEY.sub("", spelling.lower())


# Variant spellings, written readably (any case / punctuation): normalize_key turns each
# into its lookup key. The canonical name itself is added automatically.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "Endocrinology": (
        "endocrine", "endocrinology and diabetes", "diabetes and endocrinology",
        "diabetes & endocrinology", "diabetes",
    ),
    "Pediatrics": (
        "paediatrics", "pediatric", "paediatric", "paeds", "peds", "child health",
    ),
    "Gastroenterology": (
        "gastro", "gastroenterology and hepatology", "gastroenterology & hepatology",
        "hepatology",
    ),
    "OB-Gyn": (
        "ob/gyn", "obgyn", "obs & gynae", "obs and gynae", "obs/gyn", "ob-gyne",
        "obstetrics and gynecology", "obstetrics and gynaecology",
        "obstetrics & gynecology", "obstetrics & gynaecology", "obstetrics/gynecology",
        "obstetrics", "gynecology", "gynaecology", "women's health",
    ),
    "Oncology": ("cancer", "oncology/cancer", "cancer care"),
    "Surgery": ("general surgery", "surgical"),
    "Neurology": ("neurological", "neuro"),
    "Infectious Disease": (
        "infectious diseases", "infectious_disease", "infection", "infections",
        "infectious disease medicine",
    ),
    "Cardiology": ("cardiovascular", "cardiovascular medicine", "cardiovascular disease"),
    "Rheumatology": ("rheum",),
    "Emergency Medicine": (
        "emergency_medicine", "emergency", "emergency care", "accident and emergency",
        "a&e",
    ),
    "Sports Medicine": (
        "sports_medicine", "sport medicine", "sports and exercise medicine",
        "sport and exercise medicine",
    ),
    "Public Health": ("public_health", "public health medicine"),
    "Primary Care": (
        "primary_care", "general practice", "family medicine", "family practice", "gp",
    ),
    "Psychiatry": ("mental health", "psychiatric"),
    "Dermatology": ("derm",),
    "Nephrology": ("renal", "renal medicine", "kidney"),
    "Urology": (),
    "Ophthalmology": ("opthalmology", "eye", "eyes", "ophthalmic"),
    "ENT": (
        "ear nose and throat", "ear, nose and throat", "ear nose & throat",
        "otolaryngology", "otorhinolaryngology", "otolaryngology - head and neck surgery",
    ),
    "Respiratory": (
        "respiratory medicine", "pulmonology", "pulmonary", "pulmonary medicine",
        "respirology", "chest medicine",
    ),
    "Geriatrics": (
        "geriatric medicine", "geriatric", "elderly care", "care of the elderly",
        "gerontology",
    ),
    "Hematology": ("haematology",),
    "Intensive Care": (
        "intensive_care", "critical care", "critical care medicine",
        "intensive care medicine", "icu",
    ),
    "Dentistry": ("dental", "oral health"),
    "Nursing": (),
    "Pharmacy": ("pharmacist", "clinical pharmacy"),
    "Orthopedics": (
        "orthopaedics", "orthopedic", "orthopaedic", "orthopedic surgery",
        "orthopaedic surgery", "trauma and orthopaedics",
    ),
    "Radiology": ("diagnostic imaging", "imaging"),
    "Anesthesiology": (
        "anaesthesiology", "anesthesia", "anaesthesia", "anesthetics", "anaesthetics",
    ),
    "Allergy & Immunology": (
        "allergy and immunology", "allergy_immunology", "allergy/immunology",
        "allergy", "immunology", "clinical immunology",
    ),
}


def _build_aliases(variants: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for canonical in CANONICAL_AREAS:
        for spelling in (canonical, *variants.get(canonical, ())):
            key = normalize_key(spelling)
            previous = aliases.setdefault(key, canonical)
            if previous != canonical:  # pragma: no cover - guards edits of the table
                raise ValueError(f"alias key {key!r} maps to both {previous!r} and {canonical!r}")
    return aliases


#: normalized key -> canonical name. Every canonical name's own key maps to itself.
ALIASES: dict[str, str] = _build_aliases(_VARIANTS)

#: For the synthetic generator: canonical name -> raw spellings seen in dumps besides the
#: display name (slugs, snake_case, British spellings). Each maps back through
#: :func:`canonical_area`.
SLUG_VARIANTS: dict[str, tuple[str, ...]] = {
    "Endocrinology": ("endocrinology",),
    "Pediatrics": ("pediatrics", "Paediatrics"),
    "Gastroenterology": ("gastroenterology",),
    "OB-Gyn": ("obgyn", "OB-Gyn"),
    "Oncology": ("oncology",),
    "Surgery": ("surgery",),
    "Neurology": ("neurology",),
    "Infectious Disease": ("infectiousdisease", "infectious_disease"),
    "Cardiology": ("cardiology",),
    "Rheumatology": ("rheumatology",),
    "Emergency Medicine": ("emergencymedicine", "emergency_medicine"),
    "Sports Medicine": ("sports_medicine", "sportsmedicine"),
    "Public Health": ("public_health", "publichealth"),
    "Primary Care": ("primarycare", "primary_care"),
    "Psychiatry": ("psychiatry",),
    "Dermatology": ("dermatology",),
    "Nephrology": ("nephrology",),
    "Urology": ("urology",),
    "Ophthalmology": ("ophthalmology",),
    "ENT": ("ent",),
    "Respiratory": ("respiratory",),
    "Geriatrics": ("geriatrics",),
    "Hematology": ("hematology", "Haematology"),
    "Intensive Care": ("intensivecare", "intensive_care"),
    "Dentistry": ("dentistry",),
    "Nursing": ("nursing",),
    "Pharmacy": ("pharmacy",),
    "Orthopedics": ("orthopedics", "Orthopaedics"),
    "Radiology": ("radiology",),
    "Anesthesiology": ("anesthesiology", "Anaesthesiology"),
    "Allergy & Immunology": ("allergyimmunology", "allergy_immunology"),
}


def canonical_area(spelling: str) -> str | None:
    """Canonical name of one spelling.

    ``None`` for a blank spelling; the canonical name for a known spelling; otherwise the
    spelling itself, stripped of surrounding whitespace (unknown areas are kept, not lost).
    """
    stripped = spelling.strip()
    if not stripped:
        return None
    return ALIASES.get(normalize_key(stripped), stripped)


def is_known(spelling: str) -> bool:
    """Whether ``spelling`` is a known spelling of one of :data:`CANONICAL_AREAS`."""
    return normalize_key(spelling) in ALIASES


def parse_clinical_areas(raw: str | None) -> list[str]:
    """Split a raw ``ClinicalAreas`` value into canonical names.

    Splits on commas, skips blank parts (the usual leading comma, doubled commas),
    canonicalises each part with :func:`canonical_area` and removes duplicates keeping the
    first-seen order: ``",obgyn,OB-Gyn,Cardiology"`` -> ``["OB-Gyn", "Cardiology"]``.
    ``None`` and ``""`` give ``[]``.
    """
    if not raw:
        return []
    result: list[str] = []
    seen: set[str] = set()
    for part in raw.split(","):
        area = canonical_area(part)
        if area is not None and area not in seen:
            seen.add(area)
            result.append(area)
    return result
