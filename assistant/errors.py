"""The one error tree of gridworker.

GridworkerError
 ├── ConfigError          a setting is missing or inconsistent (operator's fix)
 ├── IndexError_          the vector index cannot be opened, read or written
 │    ├── IndexMissing    there is no index yet at the configured place (run `gridworker ingest` first)
 │    └── SchemaMismatch  the index on disk was built with another schema/model; re-ingest with --rebuild
 ├── EmbedderError        an embedding model cannot be loaded or run
 ├── LLMUnavailable       the chat model server is down, too slow or keeps failing (answers fall back to extractive)
 ├── InputError           a user's request is invalid (empty, too long); its user_message says what to fix
 └── DocumentError        one input document cannot be read or parsed (ingest reports it and skips the file)

Every error carries `user_message`, a short sentence in simplified Chinese safe to show to residents;
the exception text itself is for operators and logs.
"""

from __future__ import annotations


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


class InputError(GridworkerError):
    """Bad input from a user: the message is the Chinese text to show them."""

    def __init__(self, user_message: str, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message
