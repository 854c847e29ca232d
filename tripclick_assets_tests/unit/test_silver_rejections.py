"""silver_rejected_rows: the rule, where its figures come from (candidate or materialization), and the audit."""

from datetime import date
from types import SimpleNamespace

import dagster as dg
import pyarrow as pa
import pytest

from tripclick_assets.defs import keys
from tripclick_assets.defs.lake import checks  # noqa: F401  (registers the rules)
from tripclick_assets.defs.lake.publishing import audit
from tripclick_assets.defs.partition_checks import AUDIT_RULES
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, SILVER_COLUMNS, arrow_schema
from tripclick_assets.lib.quality import rules as quality

DAY = "2016-03-01"


def figures(rows=990, duplicates=0, rejected=10, dropped=0, **overrides) -> dict:
    out = {"rows": rows, "bronze_parsed_rows": rows + duplicates + rejected, "duplicates_removed": duplicates,
           "rejected_rows": rejected,
           "rejected_by_reason": {"event_ts_not_a_timestamp": rejected} if rejected else {},
           "dropped_document_ids": dropped,
           "dropped_document_ids_by_reason": {"document_id_out_of_range": dropped} if dropped else {}}
    return out | overrides


def verdict_of(f: dict):
    return quality.silver_rejections(f, f["bronze_parsed_rows"], f["rows"])


@pytest.mark.parametrize(("rows", "rejected", "passed", "severity"), [
    (1000, 0, True, "ERROR"),
    (0, 0, True, "ERROR"),        # a day without rows
    (999, 1, False, "WARN"),      # any rejected row is shown
    (900, 100, False, "WARN"),    # exactly 10%: still a warning (the quarantine's rule)
    (880, 120, False, "ERROR"),   # 12%: the candidate is not published
    (0, 3, False, "ERROR"),       # every row rejected
])
def test_the_rejected_share_warns_from_the_first_row_and_errors_over_10_percent(rows, rejected, passed, severity):
    verdict = verdict_of(figures(rows=rows, rejected=rejected))
    assert (verdict.passed, verdict.severity) == (passed, severity), verdict.description
    assert verdict.metadata["rejected_rows"] == rejected


def test_the_description_names_the_reasons():
    verdict = verdict_of(figures(rows=995, duplicates=3, rejected=2))
    assert verdict.description == ("2 of 1000 parsed bronze rows rejected (0.20%): event_ts_not_a_timestamp 2")
    assert verdict.metadata["rejected_rate"] == 0.002


def test_dropped_document_ids_warn_even_without_a_rejected_row():
    verdict = verdict_of(figures(rejected=0, dropped=3))
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert "3 document id(s) dropped from kept rows: document_id_out_of_range 3" in verdict.description
    worse = verdict_of(figures(rows=800, rejected=200, dropped=3))
    assert (worse.passed, worse.severity) == (False, "ERROR") and "3 document id(s)" in worse.description


def test_rows_not_accounted_for_are_an_error():
    f = figures(duplicates=5)
    verdict = quality.silver_rejections(f, f["bronze_parsed_rows"] - 10, f["rows"])  # bronze changed since
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert "re-materialize silver_events" in verdict.description
    doubled = quality.silver_rejections(f, f["bronze_parsed_rows"], 2 * f["rows"])  # silver edited
    assert not doubled.passed


def test_missing_figures_are_an_error_naming_the_asset():
    verdict = quality.silver_rejections({"rows": 3, "duplicates_removed": 0}, 3, 3)  # an older materialization
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert "materialize silver_events" in verdict.description and "rejected_rows" in verdict.metadata["missing"]
    assert not quality.silver_rejections(None, 3, 3).passed


def test_quarantine_rate_is_the_same_rule():
    verdict = quality.quarantine_rate({"produced": 980, "quarantined": 20, "quarantine_reasons": {"invalid JSON": 20}})
    assert verdict.description == "20 of 1000 lines quarantined (2.00%): invalid JSON 20, over 1%"
    assert (verdict.severity, verdict.metadata["quarantine_rate"]) == ("WARN", 0.02)


# --- the check's figures: the candidate's in the audit, the latest materialization's as a check ----------------


class FakeSource:
    """A partition source of ``silver_rows`` silver and ``parsed`` bronze rows, with the candidate's figures."""

    def __init__(self, silver_rows: int, parsed: int, candidate: dict | None):
        self.silver_rows, self.parsed, self.candidate = silver_rows, parsed, candidate

    def read(self, layer, day, columns=None):
        schema = arrow_schema(SILVER_COLUMNS if layer == "silver" else BRONZE_COLUMNS)
        n = self.silver_rows if layer == "silver" else self.parsed
        table = {f.name: pa.nulls(n, f.type) for f in schema}
        if layer == "silver":
            table |= {"event_date": pa.array([date.fromisoformat(day)] * n, pa.date32()),
                      "dedup_key": pa.array([f"k{i}" for i in range(n)]), "session_id": pa.array(["s"] * n),
                      "document_id": pa.array(range(n), pa.int64()),
                      "event_ts": pa.array([0] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC"))}
        out = pa.table(table, schema=schema)
        return out.select(columns) if columns is not None else out

    def schema(self, layer, day):
        return arrow_schema(SILVER_COLUMNS if layer == "silver" else BRONZE_COLUMNS)

    def figures(self, layer, day):
        return self.candidate


class Log:
    def __init__(self):
        self.warnings = []

    def warning(self, text):
        self.warnings.append(text)


def test_the_check_reads_the_candidates_figures_and_else_the_latest_materialization():
    rule = dict(AUDIT_RULES[keys.SILVER])["silver_rejected_rows"]
    with dg.instance_for_test() as instance:
        context = SimpleNamespace(instance=instance, log=Log())
        staged = FakeSource(990, 1000, figures())
        assert rule(context, DAY, staged).severity == "WARN"
        published = FakeSource(990, 1000, None)  # a published partition: the figures are its metadata
        never = rule(context, DAY, published)
        assert not never.passed and "materialize silver_events" in never.description
        instance.report_runless_asset_event(dg.AssetMaterialization(
            keys.SILVER, partition=DAY, metadata={k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
                                                  for k, v in figures().items()}))
        verdict = rule(context, DAY, published)
        assert (verdict.passed, verdict.severity) == (False, "WARN")
        assert verdict.description.startswith("10 of 1000 parsed bronze rows rejected")


def test_the_audit_publishes_a_warning_and_rejects_an_error():
    with dg.instance_for_test() as instance:
        context = SimpleNamespace(instance=instance, log=Log())
        assert audit(context, keys.SILVER, FakeSource(990, 1000, figures()), [DAY]) == {}
        assert any("silver_rejected_rows" in w and "WARN" in w for w in context.log.warnings)
        failures = audit(context, keys.SILVER, FakeSource(800, 1000, figures(rows=800, rejected=200)), [DAY])
        assert list(failures[DAY]) == ["silver_rejected_rows"]
        assert failures[DAY]["silver_rejected_rows"]["rejected_rows"] == 200
