import json
from pathlib import Path

import pytest

from assistant.errors import DocumentError
from assistant.ingest import loaders

pytestmark = pytest.mark.unit

MINI_PDF_TEXT = "Article one applies"


def _pdf_bytes(text: str) -> bytes:
    """A minimal one-page PDF with a text layer (Helvetica, ASCII), written by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def test_formats(tmp_path: Path) -> None:
    import docx

    (tmp_path / "c01").mkdir()
    (tmp_path / "c01" / "a.md").write_text("# 甲条例\n\n第一条 甲。", encoding="utf-8")
    (tmp_path / "c01" / "b.txt").write_bytes("# 乙条例\n\n第一条 乙。".encode("gb18030"))
    (tmp_path / "c01" / "c.html").write_text(
        "<html><body><h1>丙条例</h1><script>x()</script><p>第一条 丙。</p></body></html>", encoding="utf-8"
    )
    d = docx.Document()
    d.add_heading("丁条例", level=1)
    d.add_paragraph("第一条 丁。")
    d.save(str(tmp_path / "c01" / "d.docx"))
    (tmp_path / "c01" / "e.pdf").write_bytes(_pdf_bytes(MINI_PDF_TEXT))
    (tmp_path / "README.md").write_text("not a document", encoding="utf-8")
    docs = list(loaders.load(tmp_path, {"c01": "社会救助"}))
    assert all(not isinstance(d, DocumentError) for d in docs), docs
    by_file = {d.file: d for d in docs}  # type: ignore[union-attr]
    assert sorted(by_file) == ["c01/a.md", "c01/b.txt", "c01/c.html", "c01/d.docx", "c01/e.pdf"]
    assert "乙条例" in by_file["c01/b.txt"].text  # GB18030 decoded
    assert by_file["c01/c.html"].text.startswith("# 丙条例") and "x()" not in by_file["c01/c.html"].text
    assert by_file["c01/d.docx"].text.startswith("# 丁条例")
    assert MINI_PDF_TEXT in by_file["c01/e.pdf"].text
    assert {d.category for d in by_file.values()} == {"c01"}
    assert by_file["c01/a.md"].category_name == "社会救助"


def test_bad_inputs_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 nope")
    (tmp_path / "ok.md").write_text("# 条例\n\n第一条 好。", encoding="utf-8")
    results = list(loaders.load(tmp_path, {}))
    errors = sorted(r.file for r in results if isinstance(r, DocumentError))
    assert errors == ["binary.txt", "broken.docx", "broken.pdf", "empty.md"]
    assert [r.file for r in results if not isinstance(r, DocumentError)] == ["ok.md"]


def test_manifest_shapes_and_front_matter(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "law(2020-01-01).md").write_text("# 某法\n\n第一条 文。", encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps({"categories": [{
        "id": "c09-civil", "name_zh": "民法", "documents": [
            {"file": "x/law(2020-01-01).md", "title": "某法", "level": "national-law", "date": "2020-01-01"}]}]},
        ensure_ascii=False), encoding="utf-8")
    (tmp_path / "x" / "guide.md").write_text(
        "---\ntitle: 走访指引\ncategory: c03-elderly\naudience: worker\nupdated: 2026-11-01\n---\n# 走访指引\n\n正文。",
        encoding="utf-8")
    docs = {d.file: d for d in loaders.load(tmp_path, {"c03-elderly": "养老"})}  # type: ignore[union-attr]
    law = docs["x/law(2020-01-01).md"]
    assert (law.category, law.category_name, law.level, law.title, law.date) == (
        "c09-civil", "民法", "national-law", "某法", "2020-01-01")
    guide = docs["x/guide.md"]
    assert (guide.category, guide.audience, guide.level, guide.title) == ("c03-elderly", "worker", "guide", "走访指引")
    assert guide.text.startswith("# 走访指引")


def test_list_manifest(tmp_path: Path) -> None:
    (tmp_path / "法.md").write_text("# 法\n\n第一条 文。", encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps([{"file": "法.md", "law_name": "中华人民共和国法"}]),
                                           encoding="utf-8")
    (doc,) = list(loaders.load(tmp_path, {}))
    assert doc.title == "中华人民共和国法"  # type: ignore[union-attr]


def test_a_link_out_of_the_folder_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26 #5: a symlink to a file outside the ingested folder was indexed (as public); #7: no size limit."""

    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("# 内部通知\n\n员工工资表。", encoding="utf-8")
    root = tmp_path / "corpus"
    (root / "c01").mkdir(parents=True)
    (root / "c01" / "ok.md").write_text("# 第一条\n\n低保申请。", encoding="utf-8")
    (root / "c01" / "inside.md").symlink_to(root / "c01" / "ok.md")  # a link inside the folder is fine
    (root / "c01" / "leak.md").symlink_to(secret)
    (root / "c01" / "huge.md").write_text("很长的文件。" * 10, encoding="utf-8")
    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 20)
    got = {(x.file or "") if isinstance(x, DocumentError) else x.file: x for x in loaders.load(root, {})}
    assert isinstance(got["c01/leak.md"], DocumentError) and "outside" in got["c01/leak.md"].reason
    assert isinstance(got["c01/huge.md"], DocumentError) and "MB" in got["c01/huge.md"].reason
    assert not isinstance(got["c01/inside.md"], DocumentError) or "outside" not in got["c01/inside.md"].reason
    assert all("工资" not in x.text for x in got.values() if not isinstance(x, DocumentError))
