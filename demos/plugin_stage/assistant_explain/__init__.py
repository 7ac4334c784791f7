"""An `assistant` plugin: the `explain` respond backend (see `assistant_explain.stage`)."""

from assistant_explain.stage import ExplainParams, ExplainResponder, explain

__all__ = ["ExplainParams", "ExplainResponder", "explain"]
__version__ = "0.1.0"
