"""The reader on hand-written lines in the real dump format, every quirk docs/contracts.md lists."""

import json
from datetime import date

import pytest

from tripclick_assets.lib.source.reader import (
    Article,
    MAX_LINE_BYTES,
    MalformedRecord,
    SourceNotFoundError,
    block_lines,
    find_day_source,
    iter_blocks,
    iter_lines,
    load_articles,
    parse_documents,
    parse_dotnet_date,
    parse_record,
)

REAL_LINE = (
    b'{"DateCreated": "/Date(1451648495927)/", "SessionId": "svdse145tl1h2o450xjkwg45", '
    b'"DocumentId": 8944284, "Url": "http://cks.nice.org.uk/immunizations-travel", '
    b'"Title": "Travel immunizations: Hepatitis A", "DOI": "", "ClinicalAreas": ",Infectious Disease", '
    b'"Keywords": "travel vaccination", "Documents": []}'
)


def test_real_line_parses_with_every_field_kept():
    record = parse_record(REAL_LINE)
    assert record.session_id == "svdse145tl1h2o450xjkwg45"
    assert record.document_id == 8944284
    assert record.epoch_ms == 1451648495927
    assert record.raw["Title"] == "Travel immunizations: Hepatitis A"
    assert record.raw["ClinicalAreas"] == ",Infectious Disease"
    assert record.raw["DOI"] == "" and record.raw["Documents"] == []
    assert list(record.raw) == ["DateCreated", "SessionId", "DocumentId", "Url", "Title", "DOI",
                                "ClinicalAreas", "Keywords", "Documents"]


def test_trip_query_syntax_and_unicode_kept_verbatim():
    line = json.dumps({
        "DateCreated": "/Date(1356998400000)/", "SessionId": "a" * 24, "DocumentId": 1,
        "Url": "u", "Title": "Éfficacité – ß", "DOI": "10.1000/xyz", "ClinicalAreas": "",
        "Keywords": '(title:asthma AND from:2011) OR "sickle cell" NOT child', "Documents": "12:3.5,99:1.0",
    }, ensure_ascii=False).encode()
    record = parse_record(line)
    assert record.raw["Keywords"] == '(title:asthma AND from:2011) OR "sickle cell" NOT child'
    assert record.raw["Title"] == "Éfficacité – ß"


@pytest.mark.parametrize("value,expected", [
    ("/Date(1451648495927)/", 1451648495927),
    ("/Date(1451648495927+0000)/", 1451648495927),
    ("/Date(1451648495927-0500)/", 1451648495927),  # the offset is informational; ms are UTC
    ("/Date(0)/", 0),
])
def test_dotnet_dates(value, expected):
    assert parse_dotnet_date(value) == expected


@pytest.mark.parametrize("value", ["/Date(abc)/", "2016-01-01", "", "/Date()/", 1451648495927, None])
def test_bad_dotnet_dates(value):
    with pytest.raises(MalformedRecord, match="DateCreated"):
        parse_dotnet_date(value)


def _line(**overrides) -> bytes:
    obj = json.loads(REAL_LINE)
    for key, value in overrides.items():
        if value is ...:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize("line,reason", [
    (b'{"DateCreated": "/Date(1451648495927)/", "SessionId": "x"', "invalid JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (_line(SessionId=...), "missing SessionId"),
    (_line(SessionId="  "), "missing SessionId"),
    (_line(DocumentId=...), "missing DocumentId"),
    (_line(DateCreated=...), "missing DateCreated"),
    (_line(DateCreated="/Date(abc)/"), "DateCreated is not a /Date"),
    (_line(DocumentId="12ab"), "DocumentId is not an integer"),
    (_line(DocumentId=1.5), "DocumentId is not an integer"),
    (_line(DocumentId=True), "DocumentId is not an integer"),
    (REAL_LINE.replace(b"Hepatitis", b"Hep\xff\xfetitis"), "not UTF-8"),
    (b'{"Title": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}', "byte limit"),
])
def test_malformed_lines_have_a_reason(line, reason):
    with pytest.raises(MalformedRecord) as info:
        parse_record(line)
    assert reason in info.value.reason


def test_one_megabyte_line_is_rejected_by_size():
    with pytest.raises(MalformedRecord, match="over the"):
        parse_record(b'{"Title": "' + b"y" * 1_000_000 + b'"}')


def test_document_id_as_digit_string_is_accepted():
    assert parse_record(_line(DocumentId="8944284")).document_id == 8944284


@pytest.mark.parametrize("value,expected", [
    ([], []), (None, []), ("", []),
    ([8944284, 1, 2], [8944284, 1, 2]),
    ("8944284:12.5,1234:3.1", [8944284, 1234]),
    ("8944284:12.5, 1234 : 3.1 ,bad,77", [8944284, 1234, 77]),
])
def test_documents_list_or_legacy_string(value, expected):
    assert parse_documents(value) == expected


def test_day_file_preferred_then_month_file_then_clear_error(tmp_path):
    with pytest.raises(SourceNotFoundError) as info:
        find_day_source(tmp_path, date(2013, 3, 4))
    assert "2013-03-04.json" in str(info.value) and "2013-03.json" in str(info.value)
    month = tmp_path / "2013-03.json"
    month.write_bytes(REAL_LINE + b"\n")
    assert find_day_source(tmp_path, date(2013, 3, 4)) == month
    day = tmp_path / "2013-03-04.json"
    day.write_bytes(REAL_LINE + b"\n")
    assert find_day_source(tmp_path, date(2013, 3, 4)) == day


def test_iter_lines_numbers_lines_and_skips_blanks(tmp_path):
    path = tmp_path / "2016-01-01.json"
    path.write_bytes(b"a\r\n\n  \nb\nc")
    assert list(iter_lines(path)) == [(1, b"a"), (4, b"b"), (5, b"c")]


def test_allarticles(tmp_path):
    path = tmp_path / "allarticles.txt"
    path.write_text("id\ttitle\turl\n8944284\tTravel immunizations: Hepatitis A\thttp://cks.nice.org.uk/x\n"
                    "12\tA \"quoted\" title\thttp://e/12\nnot-a-row\n", encoding="utf-8")
    result = load_articles(path)
    articles = result.articles
    assert articles[8944284].title == "Travel immunizations: Hepatitis A"
    assert articles[12].title == 'A "quoted" title' and articles[12].url == "http://e/12"
    assert len(articles) == 2
    assert result.skipped == {"no_id": 1} and result.repaired == {} and result.declared_rows is None
    (tmp_path / "bad.txt").write_text("a\tb\tc\n")
    with pytest.raises(ValueError, match="header"):
        load_articles(tmp_path / "bad.txt")


# allarticles.txt as the real dump has it (ir_datasets documents each quirk), written by hand.
DUMP_ARTICLES = (
    b"id\ttitle\turl\r\n"
    b"101\tPlain title\thttp://www.ncbi.nlm.nih.gov/pubmed/101\r\n"
    b"102\tTitle with\ta tab inside\thttps://www.nice.org.uk/guidance/ng102\r\n"
    b"103\tTitle split\r\n"
    b"over three\tlines, with a tab\r\n"
    b"and the URL at the end\thttp://example.org/103\r\n"
    b"104\tUnderscore URL\t_http://example.org/104\r\n"
    b"105\tTruncated scheme\tttp://example.org/105\r\n"
    b"106\tA local file\tfile:///C:/Trip/docs/106.pdf\r\n"
    b"107\tAn id without a URL\r\n"
    b"108\tNext after the missing URL\thttp://example.org/108\r\n"
    b"109\tInvalid \xff byte\thttp://example.org/109\r\n"
    b"101\tA second row for 101\thttp://example.org/dup\r\n"
    b"99999999999999999999\tAn id beyond int64\thttp://example.org/big\r\n"
    b"110\tAnother id without a URL\r\n"
    b"\r\n"
    b"(12 rows affected)\r\n"
)


def test_allarticles_as_the_dump_has_it_keeps_every_article_that_can_be_kept(tmp_path):
    path = tmp_path / "allarticles.txt"
    path.write_bytes(b"orphan text before any record\n" + DUMP_ARTICLES.split(b"\r\n", 1)[1])
    with pytest.raises(ValueError, match="header"):  # neither the header nor a record first: not the file
        load_articles(path)
    path.write_bytes(DUMP_ARTICLES.replace(b"101\tPlain", b"stray line outside any record\r\n101\tPlain"))
    result = load_articles(path)
    a = result.articles
    assert sorted(a) == list(range(101, 111))
    assert (a[101].title, a[101].url) == ("Plain title", "http://www.ncbi.nlm.nih.gov/pubmed/101")  # first row wins
    assert (a[102].title, a[102].url) == ("Title with\ta tab inside", "https://www.nice.org.uk/guidance/ng102")
    assert a[103].title == "Title split\nover three\tlines, with a tab\nand the URL at the end"
    assert a[103].url == "http://example.org/103"
    assert a[104].url == "http://example.org/104" and a[105].url == "http://example.org/105"
    assert (a[106].title, a[106].url) == ("A local file", "file:///C:/Trip/docs/106.pdf")
    assert (a[107].title, a[107].url) == ("An id without a URL", "")
    assert (a[108].title, a[108].url) == ("Next after the missing URL", "http://example.org/108")
    assert a[109].title == "Invalid \ufffd byte"
    assert (a[110].title, a[110].url) == ("Another id without a URL", "")
    assert result.skipped == {"no_id": 1, "duplicate_id": 1, "id_out_of_range": 1}
    assert result.repaired == {"title_with_tabs": 2, "title_with_line_breaks": 1, "url_prefix_underscore": 1,
                               "url_prefix_ttp": 1, "file_url": 1, "no_url": 2, "invalid_utf8": 1}
    assert result.declared_rows == 12
    # Every row the footer declares is a kept article or a skipped record.
    assert len(a) + result.skipped["duplicate_id"] + result.skipped["id_out_of_range"] == result.declared_rows


def test_allarticles_without_header_or_trailing_newline(tmp_path):
    path = tmp_path / "allarticles.txt"
    path.write_bytes(b"7\tNo header\thttp://e/7\n8\tLast, no URL, no newline")
    result = load_articles(path)
    assert result.articles == {7: Article(7, "No header", "http://e/7"), 8: Article(8, "Last, no URL, no newline", "")}
    assert result.repaired == {"no_url": 1}


def _reference_lines(path):
    """The reader's line rules, written the plain way: split on \\n, strip \\r\\n, skip blank lines."""
    with open(path, "rb") as handle:
        return [(n, line.rstrip(b"\r\n")) for n, line in enumerate(handle, start=1) if line.strip()]


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 1 << 20])
def test_blocks_cut_only_at_newlines_and_keep_line_numbers(tmp_path, block_bytes):
    long_line = b'{"Title": "' + b"x" * 300 + b'"}'  # longer than the small blocks
    content = b"".join([b"a\r\n", b"\n", b"  \n", REAL_LINE + b"\n", long_line + b"\r\n", b"b\n", b"\n", b"c"])
    path = tmp_path / "2016-01-01.json"
    path.write_bytes(content)
    blocks = list(iter_blocks(path, block_bytes))
    assert b"".join(block for _, block in blocks) == content
    assert all(block.endswith(b"\n") for _, block in blocks[:-1])
    lines = [pair for first, block in blocks for pair in block_lines(first, block)]
    assert lines == _reference_lines(path)
    assert list(iter_lines(path)) == lines
    assert [n for n, _ in lines] == [1, 4, 5, 6, 8]


def test_document_id_must_fit_the_lakes_int64():
    assert parse_record(_line(DocumentId=2**63 - 1)).document_id == 2**63 - 1
    with pytest.raises(MalformedRecord, match="64-bit"):
        parse_record(_line(DocumentId=2**63))
    with pytest.raises(MalformedRecord, match="64-bit"):
        parse_record(_line(DocumentId="99999999999999999999"))
