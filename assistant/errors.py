"""The one error tree of gridworker.

GridworkerError
 ├── ConfigError          a setting is missing or inconsistent (operator's fix)
 ├── IndexError_          the vector index cannot be opened, read or written
 │    ├── IndexMissing    there is no index yet at the configured place (run `gridworker ingest` first)
 │    ├── IndexLocked     another process holds the embedded index; says which, and what to do
 │    └── SchemaMismatch  the index on disk was built with another schema/model; re-ingest with --rebuild
 ├── EmbedderError        an embedding model cannot be loaded or run
 ├── LLMUnavailable       the chat model server is down, too slow or keeps failing (answers fall back to extractive)
 ├── DependencyUnavailable  a service the deployment is configured with (Redis) is unreachable or too slow
 ├── InputError           a user's request is invalid (empty, too long); its user_message says what to fix
 └── DocumentError        one input document cannot be read or parsed (ingest reports it and skips the file)

Every error carries `user_message`, a short sentence in simplified Chinese safe to show to residents;
the exception text itself is for operators and logs. An optional dependency that is not installed is no
GridworkerError but the ModuleNotFoundError `missing_extra` makes, naming the extra that brings it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.index.holder import Holder


class GridworkerError(Exception):
    user_message = "系统暂时无法处理您的请求，请稍后再试。"


class ConfigError(GridworkerError):
    user_message = "系统配置有误，请联系管理员。"


class IndexError_(GridworkerError):  # noqa: N801 - avoid shadowing the builtin IndexError
    user_message = "知识库暂时不可用，请稍后再试。"


class IndexMissing(IndexError_):
    user_message = "知识库尚未建立，请联系管理员先导入政策文件。"


class SchemaMismatch(IndexError_):
    pass


class IndexLocked(IndexError_):
    """Another process holds the embedded index (Qdrant Edge locks a shard for one process). The message says in
    plain words which process, and what to do."""

    def __init__(self, path: Path, held: Holder | None, writes: bool) -> None:
        super().__init__(f"the Qdrant Edge shard at {path} is locked by another process"
                         + (f" (pid {held.pid}: {held.command})" if held else ""))
        who = held.describe() if held else "另一个进程（未能识别是哪个进程）"
        if held is not None and held.url and not writes:
            todo = (f"该服务已经在提供这个知识库：请直接使用 {held.url}；"
                    "要另起一个服务，请先停止它（在其终端按 Ctrl-C）或换一个 --index。")
        elif held is not None and held.url:
            todo = "请先停止该服务（在其终端按 Ctrl-C），导入完成后再启动它。"
        elif held is not None and held.writes:
            todo = "它正在写入知识库（例如导入）：请等它结束后再试。"
        else:
            todo = "请等它结束或停止它后再试，或用 --index 指定另一个知识库目录。"
        self.user_message = f"知识库 {path.parent} 正被{who}使用。{todo}"


class EmbedderError(GridworkerError):
    user_message = "语义检索模型暂时不可用，请稍后再试。"


class DocumentError(GridworkerError):
    user_message = "文档无法读取。"

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file
        self.reason = message


class LLMUnavailable(GridworkerError):
    user_message = "智能问答服务暂时不可用，已为您改用政策原文摘录答复。"


class DependencyUnavailable(GridworkerError):
    """A configured service (`dependency`: "redis") did not answer in time. The API answers 503 and /readyz names
    it; WeChat gets a passive 「请稍后再发」 instead of an answer."""

    user_message = "系统繁忙，请稍后再试。"

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} unavailable: {detail}")
        self.dependency = dependency


class InputError(GridworkerError):
    """Bad input from a user: the message is the Chinese text to show them."""

    def __init__(self, user_message: str, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


def missing_extra(exc: ModuleNotFoundError, extra: str) -> ModuleNotFoundError:
    """An optional dependency is missing (`exc`, from its import): the error says which extra of gridworker brings
    it. Raise it `from exc` where the import fails."""
    return ModuleNotFoundError(
        f"{exc.name or 'a module'} is not installed: it comes with gridworker's [{extra}] extra "
        f"(pip install 'gridworker[{extra}]'; in a checkout: pip install -e '.[{extra}]')",
        name=exc.name,
    )
