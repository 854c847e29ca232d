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

import json
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
#
# The rule (DESIGN section 2): an alias is only *another spelling of the same name*: case,
# punctuation, spacing, slug or snake_case; singular, plural or the adjective of the name's own
# word (pediatric, orthopaedic); British or American spelling; a clipping or initialism of the
# name or its written-out form (gastro, paeds, ENT for ear nose and throat, OB-Gyn for obstetrics
# and gynaecology); the name with the generic word "medicine" (or "surgery" for orthopaedic
# surgery) added. A different name is a different area, even a related or overlapping one:
# diabetes, hepatology, mental health, kidney, renal, cancer, critical care, pulmonology,
# otolaryngology, family medicine, immunology, gynaecology on its own, ... are not listed here
# and reach the marts under their own names.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "Endocrinology": ("endocrine",),
    "Pediatrics": ("paediatrics", "pediatric", "paediatric", "paeds", "peds"),
    "Gastroenterology": ("gastro",),
    "OB-Gyn": (
        "ob/gyn", "obgyn", "obs & gynae", "obs and gynae", "obs/gyn", "ob-gyne",
        "obstetrics and gynecology", "obstetrics and gynaecology",
        "obstetrics & gynecology", "obstetrics & gynaecology", "obstetrics/gynecology",
    ),
    "Oncology": (),
    "Surgery": ("surgical",),
    "Neurology": ("neurological", "neuro"),
    "Infectious Disease": ("infectious diseases", "infectious_disease", "infectious disease medicine"),
    "Cardiology": (),
    "Rheumatology": ("rheum",),
    "Emergency Medicine": ("emergency_medicine", "emergency"),
    "Sports Medicine": ("sports_medicine", "sport medicine"),
    "Public Health": ("public_health", "public health medicine"),
    "Primary Care": ("primary_care",),
    "Psychiatry": ("psychiatric",),
    "Dermatology": ("derm",),
    "Nephrology": (),
    "Urology": (),
    "Ophthalmology": ("opthalmology", "ophthalmic"),
    "ENT": ("ear nose and throat", "ear, nose and throat", "ear nose & throat"),
    "Respiratory": ("respiratory medicine",),
    "Geriatrics": ("geriatric medicine", "geriatric"),
    "Hematology": ("haematology",),
    "Intensive Care": ("intensive_care", "intensive care medicine"),
    "Dentistry": ("dental",),
    "Nursing": (),
    "Pharmacy": (),
    "Orthopedics": (
        "orthopaedics", "orthopedic", "orthopaedic", "orthopedic surgery", "orthopaedic surgery",
    ),
    "Radiology": (),
    "Anesthesiology": ("anaesthesiology",),
    "Allergy & Immunology": ("allergy and immunology", "allergy_immunology", "allergy/immunology"),
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


def _parts(raw: object) -> list[str]:
    """The spellings of a raw value: a JSON list's strings, else the comma-separated parts."""
    if isinstance(raw, str) and raw[:1] == "[":
        try:
            parsed = json.loads(raw)  # a list stored as JSON text (bronze keeps non-strings so)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            raw = parsed
    if isinstance(raw, list):
        # Each item is one whole spelling ("Ear, Nose and Throat" stays one); non-strings are ignored.
        return [item for item in raw if isinstance(item, str)]
    if isinstance(raw, str):
        return raw.split(",")
    return []


def parse_clinical_areas(raw: str | list | None) -> list[str]:
    """Split a raw ``ClinicalAreas`` value into canonical names.

    A string is split on commas; a JSON list (the list itself, or its JSON text as bronze stores
    it) is read as a list, each string item one spelling. Blank parts are skipped (the usual
    leading comma, doubled commas), each part is canonicalised with :func:`canonical_area` and
    duplicates are removed keeping the first-seen order: ``",obgyn,OB-Gyn,Cardiology"`` ->
    ``["OB-Gyn", "Cardiology"]``. ``None``, ``""`` and ``[]`` give ``[]``.
    """
    if not raw:
        return []
    result: list[str] = []
    seen: set[str] = set()
    for part in _parts(raw):
        area = canonical_area(part)
        if area is not None and area not in seen:
            seen.add(area)
            result.append(area)
    return result
