from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.ingest.statute import INFO_END

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GRIDWORKER_SHARED_DIR", ROOT.parent / "shared"))
CORPUS = Path(os.environ.get("GRIDWORKER_CORPUS_DIR", SHARED / "corpus"))
STARD = SHARED / "eval" / "stard"

STATUTE = f"""# 重庆市示范条例

2008年7月25日 重庆市第三届人民代表大会常务委员会第五次会议通过

2016年3月31日 重庆市第四届人民代表大会常务委员会第二十四次会议修订）

{INFO_END}

## 第一章\u3000总\u2002则

第一条 为了保障居民基本生活，制定本条例。

第二条 本市居民适用本条例。

本条例所称居民，是指本市户籍居民\u200b。

## 第二章 申请与审批

### 第一节 申请

第十二条 申请最低生活保障，应当提交下列材料：

（一）户口簿；

（二）身份证明；

(三)收入证明。

第十二条之一 街道办事处应当在５个工作日内受理。

### 第二节 审批

第一千零八十三条 本条例自2016年6月1日起施行。"""


@pytest.fixture
def statute_text() -> str:
    return STATUTE


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path):  # type: ignore[no-untyped-def]
    """One Qdrant Edge index of the whole knowledge base (project guides + shared corpus), built once per run."""
    from assistant import wiring
    from assistant.settings import Settings

    settings = Settings(index_dir=tmp_path_factory.mktemp("kb") / "index")
    comp = wiring.build(settings)
    try:
        ingestor = wiring.build_ingestor(comp)
        for folder in (ROOT / "corpus", shared_corpus):
            report = ingestor.run(folder)
            assert not report.skipped
    finally:
        comp.close()
    return settings


@pytest.fixture(scope="session")
def answers(kb_settings):  # type: ignore[no-untyped-def]
    """The extractive answer service over the session's index (the index stays open for the session)."""
    from assistant import wiring

    comp = wiring.build(kb_settings, create=False)
    service = wiring.build_answers(comp)
    yield service
    comp.close()


@pytest.fixture(scope="session")
def pg_url():  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL database on 127.0.0.1 (trust auth) for this run, dropped afterwards."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("GRIDWORKER_REQUIRE_SERVICES"):
            pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}")
    name = f"gridworker_test_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def redis_url():  # type: ignore[no-untyped-def]
    """The Redis on 127.0.0.1:6379 (tests keep to a key prefix of their own and delete it afterwards)."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("GRIDWORKER_REQUIRE_SERVICES"):
            pytest.fail(f"Redis is not reachable on 127.0.0.1:6379: {exc}")
        pytest.skip(f"Redis is not reachable on 127.0.0.1:6379: {exc}")
    return "redis://127.0.0.1:6379/0"
