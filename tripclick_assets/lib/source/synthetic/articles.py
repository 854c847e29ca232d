"""The article behind a document id: its title, URL and DOI (a deterministic function of the
id alone), and its pieces as they appear in a log line and in allarticles.txt."""

from __future__ import annotations

import functools

import orjson
import xxhash

from tripclick_assets.lib.source.synthetic.model import DOI_SHARE
from tripclick_assets.lib.source.synthetic.vocabulary import (
    ASPECTS,
    CONDITION_LIST,
    INTERVENTIONS,
    JOURNALS,
    POPULATIONS,
    STUDY_SUFFIXES,
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
    cond = CONDITION_LIST[h % len(CONDITION_LIST)]
    h //= len(CONDITION_LIST)
    interv = INTERVENTIONS[h % len(INTERVENTIONS)]
    h //= len(INTERVENTIONS)
    interv2 = INTERVENTIONS[h % len(INTERVENTIONS)]
    h //= len(INTERVENTIONS)
    pop = POPULATIONS[h % len(POPULATIONS)]
    h //= len(POPULATIONS)
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
            prefix, host = JOURNALS[g % len(JOURNALS)]
            g //= len(JOURNALS)
            serial = 10_000 + g % 90_000
            doi = f"{prefix}.{year}.{serial}"
            url = f"{host}{year % 100:02d}{serial}"
        if template < 3:
            title = f"{_capitalise(interv)} versus {interv2} for {cond}: {STUDY_SUFFIXES[g % 6]}"
        elif template < 5:
            title = f"{_capitalise(interv)} in {cond}: {STUDY_SUFFIXES[g % 6]}"
        elif template < 7:
            title = f"Effectiveness of {interv} in {pop} with {cond}"
        else:
            other = CONDITION_LIST[g % len(CONDITION_LIST)]
            title = f"Association between {cond} and {other}: a cohort study"
        return title, url, doi

    kind = g % 4
    g //= 4
    if kind == 0:  # NICE Clinical Knowledge Summaries
        aspect = ASPECTS[template % len(ASPECTS)]
        title = f"{_capitalise(cond)}: {aspect}"
        url = f"http://cks.nice.org.uk/{_slug(cond)}"
    elif kind == 1:  # NICE guidance
        title = f"{_capitalise(cond)} in {pop}: diagnosis and management"
        url = f"https://www.nice.org.uk/guidance/{'ng' if year >= 2015 else 'cg'}{1 + g % 200}"
    elif kind == 2:  # PubMed record without a DOI
        title = f"{_capitalise(interv)} for {cond}: {STUDY_SUFFIXES[g % 6]}"
        url = f"http://www.ncbi.nlm.nih.gov/pubmed/{10_000_000 + g % 23_000_000}"
    else:  # clinical question-and-answer / evidence summaries
        title = f"What is the evidence for {interv} in {cond}?"
        url = f"https://www.tripdatabase.com/qa/{document_id}"
    return title, url, ""


def article_fragment(document_id: int) -> tuple[bytes, bytes]:
    """JSON fragment ``"Url":..,"Title":..,"DOI":..`` and the TSV row of a document."""
    title, url, doi = article_for(document_id)
    fragment = orjson.dumps({"Url": url, "Title": title, "DOI": doi})[1:-1]
    return fragment, f"{document_id}\t{title}\t{url}".encode()

