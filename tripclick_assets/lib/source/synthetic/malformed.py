"""Malformed lines: otherwise plausible records (a fresh SessionId, a time inside the day)
with one defect each, of the kinds listed in :data:`MALFORMED_KINDS`."""

from __future__ import annotations

import numpy as np
import orjson

from tripclick_assets.lib.source.synthetic.articles import article_for
from tripclick_assets.lib.source.synthetic.model import DAY_MS, DOCUMENT_ID_SPACE
from tripclick_assets.lib.source.synthetic.sessions import session_ids

#: The defects of malformed lines, in the order the generator cycles through them. The
#: non-UTF-8 line is a complete record whose Keywords string holds ``b"\xff\xfe"``, so only
#: a reader that rejects undecodable lines drops it.
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


def malformed_line(
    kind: int, rng: np.random.Generator, day_start_ms: int, taken: set[bytes]
) -> bytes:
    """One malformed line of defect ``MALFORMED_KINDS[kind]``."""
    name = MALFORMED_KINDS[kind]
    if name == "empty_object":
        return b"{}\n"
    ts = day_start_ms + int(rng.integers(0, DAY_MS))
    sid = session_ids(rng, 1, taken)[0].decode()
    doc = int(rng.integers(1, DOCUMENT_ID_SPACE + 1))
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

