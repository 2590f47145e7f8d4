"""The one error tree of gridworker.

GridworkerError
 ├── ConfigError          a setting is missing or inconsistent (operator's fix)
 ├── IndexError_          the vector index cannot be opened, read or written
 │    ├── IndexMissing    there is no index yet at the configured place (run `gridworker ingest` first)
 │    └── SchemaMismatch  the index on disk was built with another schema/model; re-ingest with --rebuild
 ├── EmbedderError        an embedding model cannot be loaded or run
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
