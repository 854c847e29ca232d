"""The clinical-area mapping table: every spelling -> one canonical name."""

import re

import pytest

from tripclick_assets.lib.source.clinical_areas import (
    ALIASES,
    CANONICAL_AREAS,
    SLUG_VARIANTS,
    canonical_area,
    is_known,
    normalize_key,
    parse_clinical_areas,
)

REQUIRED = (
    "Endocrinology", "Pediatrics", "Gastroenterology", "OB-Gyn", "Oncology", "Surgery",
    "Neurology", "Infectious Disease", "Cardiology", "Rheumatology", "Emergency Medicine",
    "Sports Medicine", "Public Health", "Primary Care", "Psychiatry", "Dermatology",
    "Nephrology", "Urology", "Ophthalmology", "ENT", "Respiratory", "Geriatrics",
    "Hematology", "Intensive Care", "Dentistry", "Nursing", "Pharmacy", "Orthopedics",
    "Radiology", "Anesthesiology", "Allergy & Immunology",
)


def test_required_canonical_names_are_present_and_unique():
    assert set(REQUIRED) <= set(CANONICAL_AREAS)
    assert len(set(CANONICAL_AREAS)) == len(CANONICAL_AREAS)
    assert len({normalize_key(a) for a in CANONICAL_AREAS}) == len(CANONICAL_AREAS)


@pytest.mark.parametrize("area", CANONICAL_AREAS)
def test_every_canonical_name_maps_to_itself(area):
    assert ALIASES[normalize_key(area)] == area
    assert canonical_area(area) == area
    assert is_known(area)


def test_aliases_point_only_at_canonical_names_and_keys_are_normalised():
    assert set(ALIASES.values()) == set(CANONICAL_AREAS)
    for key in ALIASES:
        assert key == normalize_key(key)
        assert re.fullmatch("[a-z0-9]+", key)


def test_every_slug_variant_maps_back_to_its_canonical_name():
    assert set(SLUG_VARIANTS) == set(CANONICAL_AREAS)
    for canonical, variants in SLUG_VARIANTS.items():
        assert variants, canonical
        for spelling in variants:
            assert canonical_area(spelling) == canonical, spelling
            assert is_known(spelling)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("OB-Gyn", "OB-Gyn"),
        ("obgyn", "OB-Gyn"),
        ("Emergency Medicine", "Emergency Medicine"),
        ("emergencymedicine", "Emergency Medicine"),
        ("sports_medicine", "Sports Medicine"),
        ("public_health", "Public Health"),
        ("Infectious Disease", "Infectious Disease"),
        ("infectious diseases", "Infectious Disease"),
        ("Paediatrics", "Pediatrics"),
        ("Obstetrics & Gynaecology", "OB-Gyn"),
        ("Obstetrics and Gynecology", "OB-Gyn"),
        ("Haematology", "Hematology"),
        ("anaesthesiology", "Anesthesiology"),
        ("Orthopaedics", "Orthopedics"),
        ("Ear, Nose and Throat", "ENT"),
        ("paeds", "Pediatrics"),
        ("Respiratory Medicine", "Respiratory"),
        ("Intensive Care Medicine", "Intensive Care"),
        ("Orthopaedic Surgery", "Orthopedics"),
        ("allergy_immunology", "Allergy & Immunology"),
        ("  CARDIOLOGY  ", "Cardiology"),
    ],
)
def test_real_world_spellings(spelling, canonical):
    assert canonical_area(spelling) == canonical


# Each is a different area from the canonical name it used to be merged into (diabetes into
# Endocrinology, hepatology into Gastroenterology, ...): it keeps its own name.
DISTINCT_AREAS = (
    "Diabetes", "diabetes and endocrinology", "Endocrinology and Diabetes", "Hepatology",
    "Gastroenterology & Hepatology", "Mental Health", "Kidney", "Renal", "Renal Medicine",
    "Obstetrics", "Gynaecology", "gynecology", "Women's Health", "Child Health", "Cancer",
    "Cancer Care", "General Surgery", "Infection", "Cardiovascular", "Cardiovascular Disease",
    "Accident and Emergency", "A&E", "Emergency Care", "Sports and Exercise Medicine",
    "General Practice", "Family Medicine", "GP", "Eye", "Otolaryngology", "Otorhinolaryngology",
    "Pulmonology", "Pulmonary Medicine", "Respirology", "Chest Medicine", "Elderly Care",
    "Gerontology", "Critical Care", "ICU", "Oral Health", "Pharmacist", "Clinical Pharmacy",
    "Trauma and Orthopaedics", "Imaging", "Diagnostic Imaging", "Anaesthesia", "Anaesthetics",
    "Allergy", "Immunology", "Clinical Immunology",
)


@pytest.mark.parametrize("area", DISTINCT_AREAS)
def test_a_different_area_keeps_its_own_name(area):
    assert canonical_area(f" {area} ") == area
    assert not is_known(area)


def test_no_alias_key_is_the_key_of_a_distinct_area():
    assert not {normalize_key(a) for a in DISTINCT_AREAS} & set(ALIASES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["Cardiology", "obgyn", "Ear, Nose and Throat"], ["Cardiology", "OB-Gyn", "ENT"]),
        ('["Cardiology", "obgyn", "Ear, Nose and Throat"]', ["Cardiology", "OB-Gyn", "ENT"]),
        (["Diabetes", "", "  ", None, 7, "Diabetes", "endocrinology"], ["Diabetes", "Endocrinology"]),
        ([], []),
        ("[]", []),
        ("[not json", ["[not json"]),
    ],
)
def test_clinical_areas_given_as_a_json_list_are_read_as_a_list(raw, expected):
    assert parse_clinical_areas(raw) == expected


def test_blank_and_unknown_spellings():
    assert canonical_area("") is None
    assert canonical_area("   ") is None
    assert canonical_area("  Tropical Medicine ") == "Tropical Medicine"  # kept, stripped
    assert not is_known("Tropical Medicine")
    assert not is_known("")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        (",", []),
        (",Infectious Disease", ["Infectious Disease"]),
        ("Infectious Disease", ["Infectious Disease"]),
        (",obgyn,OB-Gyn,Cardiology", ["OB-Gyn", "Cardiology"]),
        (",Cardiology,,  ,cardiology", ["Cardiology"]),
        (",emergencymedicine,sports_medicine,public_health",
         ["Emergency Medicine", "Sports Medicine", "Public Health"]),
        (",Neurology,Tropical Medicine,neurology", ["Neurology", "Tropical Medicine"]),
        (", Surgery , Oncology", ["Surgery", "Oncology"]),
    ],
)
def test_parse_clinical_areas(raw, expected):
    assert parse_clinical_areas(raw) == expected


@pytest.mark.parametrize(
    "spelling",
    ["OB-Gyn", "Allergy & Immunology", "sports_medicine", "ÉMERGENCY médecine", "a1 B2-c3!",
     "  ", "", "Ménière"],
)
def test_normalize_key_is_exactly_the_spark_regex(spelling):
    # Spark reproduces it with regexp_replace(lower(x), '[^a-z0-9]', '').
    assert normalize_key(spelling) == re.sub("[^a-z0-9]", "", spelling.lower())
