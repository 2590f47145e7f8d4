import pytest

from assistant.retrieval.lexicon import Lexicon
from assistant.retrieval.normalize import normalize_query
from assistant.retrieval.sparse import Bm25SparseEncoder, term_id
from assistant.retrieval.tokenize import Tokenizer

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def encoder() -> Bm25SparseEncoder:
    return Bm25SparseEncoder(Tokenizer(), Lexicon.load())


def test_normalize_width_traditional_spaces() -> None:
    assert normalize_query("ＡＢＣ１２３\u3000請問\u200b低保") == "abc123 请问低保"
    assert normalize_query("  違建  怎麼辦？ ") == "违建 怎么办?"


def test_lexicon_expands_residents_words() -> None:
    lex = Lexicon.load()
    assert "最低生活保障" in lex.expand("低保怎么申请")
    assert "违法建设" in lex.expand("楼顶违建")
    assert "物业服务费用" in lex.expand("物业费太贵")
    assert "携带犬只出户" in lex.expand("遛狗不拴绳")
    assert lex.expand("最低生活保障怎么申请") == []  # the law's own words need no expansion


def test_custom_terms_stay_whole(encoder: Bm25SparseEncoder) -> None:
    tokens = encoder.tokenizer.tokens("网格员发现电动自行车在楼道充电")
    assert "网格员" in tokens and "电动自行车" in tokens
    assert "的" not in encoder.tokenizer.tokens("政府的责任")


def test_query_vector_carries_expansions_at_lower_weight(encoder: Bm25SparseEncoder) -> None:
    vec = dict(zip(encoder.encode_query("低保怎么申请").indices, encoder.encode_query("低保怎么申请").values,
                   strict=True))
    assert vec[term_id("低保")] == 1.0
    assert vec[term_id("最低生活保障")] == pytest.approx(0.5)
    assert term_id("怎么") not in vec  # stopword


def test_dense_query_text_is_rewritten_and_expanded(encoder: Bm25SparseEncoder) -> None:
    assert encoder.query_text("申请低保要带啥子材料", expand=False) == "申请低保要带什么材料"
    expanded = encoder.query_text("申请低保要带啥子材料")
    assert expanded.startswith("申请低保要带什么材料 ") and "最低生活保障" in expanded
    assert encoder.query_text("最低生活保障") == "最低生活保障"  # nothing to add


def test_document_weights_saturate_and_normalise_length(encoder: Bm25SparseEncoder) -> None:
    once = encoder.encode_document("燃气")
    many = encoder.encode_document("燃气 " * 10)
    w1 = dict(zip(once.indices, once.values, strict=True))[term_id("燃气")]
    w10 = dict(zip(many.indices, many.values, strict=True))[term_id("燃气")]
    assert w1 < w10 < encoder.k1 + 1
    long_doc = encoder.encode_document("燃气 " + "安全生产 检查 " * 200)
    wl = dict(zip(long_doc.indices, long_doc.values, strict=True))[term_id("燃气")]
    assert wl < w1
    assert list(once.indices) == sorted(once.indices)


def test_signature_tracks_vocabulary(encoder: Bm25SparseEncoder) -> None:
    other = Bm25SparseEncoder(Tokenizer(extra_terms=["新词"]), Lexicon.load())
    assert encoder.signature != other.signature


def test_retriever_dense_text_follows_the_setting(encoder: Bm25SparseEncoder) -> None:
    from assistant.retrieval.search import Retriever, Stages

    class _NoDense:
        has_dense = False

    def text(mode: str) -> str:
        return Retriever(_NoDense(), encoder, stages=Stages(dense_query=mode)).dense_text("低保咋个办")  # type: ignore[arg-type]

    assert text("raw") == "低保咋个办"
    assert text("rewritten") == "低保怎么办"
    assert text("expanded").startswith("低保怎么办 ") and "最低生活保障" in text("expanded")
