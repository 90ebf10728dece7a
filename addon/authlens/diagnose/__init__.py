"""Diagnosis: from exchanges to ranked, explained causes (DESIGN.md §3, §5).

This package's public face is :class:`Analyzer`; everything else in it is internal.
The mitmproxy layer and the offline CLI both feed exchanges to one Analyzer and apply the
:class:`Verdict` objects it returns, so live and recorded traffic are judged alike.
"""

from authlens.diagnose.api import Analyzer, AnalyzerConfig, Verdict

__all__ = ["Analyzer", "AnalyzerConfig", "Verdict"]
