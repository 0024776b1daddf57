"""Office formats, sections and two hostile inputs (a zip bomb, a malformed sidecar) through ingest."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from tests.functional.conftest import Pipeline, s3_notification, sqs_batch
from tests.office_files import (
    loop_sector_chain,
    make_docx,
    make_pptx,
    make_xlsx,
    real_office_file,
    zip_bomb_docx,
    zip_bomb_odt,
)


def put(key: str, sequencer: str = "0065A1B2C3D4E50001") -> dict[str, Any]:
    return sqs_batch(s3_notification(quote_plus(key), sequencer=sequencer))


def ingest(pipeline: Pipeline, key: str, data: bytes) -> tuple[str, str | None]:
    pipeline.upload(key, data)
    assert pipeline.invoke(put(key)) == {"batchItemFailures": []}
    record = pipeline.record(key)
    assert record is not None
    return record.state, record.reason


def test_a_workbook_is_indexed_with_sheet_section_and_row_range(pipeline: Pipeline) -> None:
    rows = [["Region", "Revenue"]] + [[f"Region {n}", n * 10] for n in range(1, 121)]
    data = make_xlsx({"Revenue": rows, "Contacts": [["Name", "Phone"], ["Ana", "555-0101"]]})

    assert ingest(pipeline, "finance/q3.xlsx", data) == ("indexed", None)

    vectors = pipeline.vectors("finance/q3.xlsx")
    revenue = [v.metadata for v in vectors if v.metadata["sheet"] == "Revenue"]
    assert len(revenue) > 1 and {m["section"] for m in revenue} == {"Revenue"}
    assert revenue[0]["row_start"] == 2 and revenue[-1]["row_end"] == 121
    assert all(m["text"].startswith(f"Region: Region {m['row_start'] - 1}, ") for m in revenue)
    contacts = [v.metadata for v in vectors if v.metadata["sheet"] == "Contacts"]
    assert [(m["page"], m["row_start"], m["text"]) for m in contacts] == [
        (2, 2, "Name: Ana, Phone: 555-0101")
    ]


def test_a_deck_is_indexed_slide_by_slide_with_titles_as_sections(pipeline: Pipeline) -> None:
    data = make_pptx(
        [
            {"title": "Roadmap", "body": ["Ship the parser"], "notes": "Ask about budget"},
            {"title": "Risks", "table": [["Risk", "Owner"], ["Zip bombs", "Ana"]]},
        ]
    )

    assert ingest(pipeline, "decks/plan.pptx", data) == ("indexed", None)

    chunks = [
        (v.metadata["page"], v.metadata["section"], v.metadata["text"])
        for v in pipeline.vectors("decks/plan.pptx")
    ]
    assert chunks == [
        (1, "Roadmap", "Roadmap\n\nShip the parser\n\nNotes: Ask about budget"),
        (2, "Risks", "Risks\n\n| Risk | Owner |\n|---|---|\n| Zip bombs | Ana |"),
    ]


def test_a_csv_export_is_indexed_with_row_ranges(pipeline: Pipeline) -> None:
    data = b"id,city\n1,Lisbon\n2,Porto\n"

    assert ingest(pipeline, "exports/cities.csv", data) == ("indexed", None)

    (vector,) = pipeline.vectors("exports/cities.csv")
    assert vector.metadata["text"] == "id: 1, city: Lisbon\nid: 2, city: Porto"
    assert (vector.metadata["row_start"], vector.metadata["row_end"]) == (2, 3)
    assert vector.metadata["content_type"] == "text/csv"


def test_docx_headings_become_sections(pipeline: Pipeline) -> None:
    data = make_docx(
        [("heading", (1, "Scope")), ("p", "All offices."), ("heading", (1, "Terms")), ("p", "Net 30.")]
    )

    assert ingest(pipeline, "legal/contract.docx", data) == ("indexed", None)

    chunks = [(v.metadata["section"], v.metadata["text"]) for v in pipeline.vectors("legal/contract.docx")]
    assert chunks == [("Scope", "Scope\n\nAll offices."), ("Terms", "Terms\n\nNet 30.")]


def test_renamed_and_broken_files_are_skipped_with_their_reason(pipeline: Pipeline) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    workbook = make_xlsx({"S": [["a"], ["b"]]})

    assert ingest(pipeline, "misc/photo.xlsx", png) == ("skipped", "corrupt")
    assert ingest(pipeline, "misc/half.pptx", make_pptx([{"title": "T"}])[:500]) == ("skipped", "corrupt")
    assert ingest(pipeline, "misc/sheet.ods", b"PK\x03\x04" + b"\x00" * 100) == ("skipped", "corrupt")
    assert ingest(pipeline, "misc/drawing.odg", b"PK\x03\x04" + b"\x00" * 100) == (
        "skipped",
        "unsupported_type",
    )
    assert ingest(pipeline, "misc/workbook.csv", workbook) == ("indexed", None)  # the bytes win
    assert pipeline.record("misc/workbook.csv").content_type.endswith("spreadsheetml.sheet")  # type: ignore[union-attr]
    assert not pipeline.vectors("misc/photo.xlsx") and not pipeline.vectors("misc/half.pptx")


def test_a_zip_bomb_is_skipped_as_too_large_with_nothing_written(pipeline: Pipeline) -> None:
    bomb = zip_bomb_docx(400 * 1024 * 1024)

    assert ingest(pipeline, "hostile/bomb.docx", bomb) == ("skipped", "too_large")

    assert pipeline.vectors("hostile/bomb.docx") == []
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0


def test_legacy_office_opendocument_and_rtf_files_are_indexed_with_their_sections(pipeline: Pipeline) -> None:
    files = {
        "share/letter.doc": "harmless-clean.doc",
        "share/dates.xls": "date_field.xls",
        "share/deck.ppt": "embedded-simple-2007.ppt",
        "share/manual.odt": "api-for-odfpy.odt",
        "share/sheet.ods": "chinese_spreadsheet.ods",
        "share/slides.odp": "ol.odp",
        "share/manual.rtf": "api-for-odfpy.lo.rtf",
    }

    for key, name in files.items():
        assert ingest(pipeline, key, real_office_file(name)) == ("indexed", None), key

    assert {v.metadata["section"] for v in pipeline.vectors("share/letter.doc")} == {"Test"}
    (dates,) = pipeline.vectors("share/dates.xls")
    assert [dates.metadata[name] for name in ("sheet", "row_start", "row_end")] == ["Sheet1", 2, 5]
    assert pipeline.vectors("share/deck.ppt")[0].metadata["section"] == "Embedded Objects"
    manual = {v.metadata.get("section") for v in pipeline.vectors("share/manual.odt")}
    assert {"Introduction", "The Element classes > text module > text.VariableDecl"} <= manual
    assert pipeline.vectors("share/sheet.ods")[0].metadata["sheet"] == "工作表1"
    assert pipeline.vectors("share/slides.odp")[0].metadata["section"] == "OL"
    assert len(pipeline.vectors("share/manual.rtf")) > 10


def test_hostile_legacy_and_opendocument_files_are_skipped_with_nothing_written(pipeline: Pipeline) -> None:
    looped = loop_sector_chain(real_office_file("harmless-clean.doc"), "WordDocument")
    nested = b"{\\rtf1 " + b"{" * 50_000 + b"x" + b"}" * 50_000 + b"}"
    cases = {
        "hostile/looped.doc": (looped, "corrupt"),
        "hostile/bomb.odt": (zip_bomb_odt(200 * 1024 * 1024), "too_large"),
        "hostile/nested.rtf": (nested, "corrupt"),
        "hostile/locked.xls": (real_office_file("encrypted.xls"), "encrypted"),
        "hostile/half.ppt": (real_office_file("visual_table.ppt")[:150_000], "corrupt"),
    }

    for key, (data, reason) in cases.items():
        assert ingest(pipeline, key, data) == ("skipped", reason), key

    assert all(pipeline.vectors(key) == [] for key in cases)
    assert pipeline.embedder is not None and pipeline.embedder.calls == 0


def test_a_sidecar_value_of_the_wrong_shape_is_a_recorded_skip_not_a_retry(pipeline: Pipeline) -> None:
    key = "docs/notes.txt"
    pipeline.upload(key + ".metadata.json", b'{"metadataAttributes": {"team": {"value": 5}}}')

    assert ingest(pipeline, key, b"some notes worth indexing") == ("skipped", "invalid_sidecar")
    assert pipeline.vectors(key) == []

    # Fixing the sidecar re-indexes the document (the sidecar's own event).
    typed = b'{"metadataAttributes": {"team": {"value": {"type": "STRING", "stringValue": "geo"}}}}'
    pipeline.upload(key + ".metadata.json", typed)
    sidecar_event = sqs_batch(
        s3_notification(quote_plus(key + ".metadata.json"), sequencer="0065A1B2C3D4E50002")
    )
    assert pipeline.invoke(sidecar_event) == {"batchItemFailures": []}
    assert pipeline.record(key).state == "indexed"  # type: ignore[union-attr]
    assert {v.metadata["team"] for v in pipeline.vectors(key)} == {"geo"}


class RecordingEmbedder:
    def __init__(self, inner: Any) -> None:
        self.inner, self.texts = inner, []
        self.dimension, self.provider, self.model_id = inner.dimension, inner.provider, inner.model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += texts
        return list(self.inner.embed_documents(texts))

    def embed_query(self, text: str) -> list[float]:
        return list(self.inner.embed_query(text))


def test_embed_section_prefixes_the_path_to_the_embedded_text_only(pipeline: Pipeline) -> None:
    app = pipeline.start(EMBED_SECTION="true")
    recorder = RecordingEmbedder(app.service.embedder)
    app.service.embedder = recorder

    assert ingest(pipeline, "faq.md", b"# Billing\n\n## Refunds\n\nWithin 30 days.") == ("indexed", None)

    (vector,) = pipeline.vectors("faq.md")
    assert recorder.texts == ["Billing\n\n# Billing\n\n## Refunds\n\nWithin 30 days."]
    assert vector.metadata["text"] == "# Billing\n\n## Refunds\n\nWithin 30 days."
