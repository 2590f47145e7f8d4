"""gridworker. Its version has one source, `[project] version` in pyproject.toml, read here from the installed
package's metadata (a source tree that was never installed reports `0+unknown`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridworker")
except PackageNotFoundError:  # pragma: no cover - only without package metadata
    __version__ = "0+unknown"
