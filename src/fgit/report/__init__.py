"""A self-contained HTML report (plus PNG plots) of a pipeline run folder.

``load`` reads the run folder, ``pairs`` turns encoded pairs into marked text pieces, ``plots``
draws PNGs, ``html`` renders and writes the report.
"""

from fgit.report.html import render_report, write_report
from fgit.report.load import ReportError, ReportInputs, load_report_inputs
from fgit.report.pairs import pair_view, pair_views

__all__ = [
    "ReportError",
    "ReportInputs",
    "load_report_inputs",
    "pair_view",
    "pair_views",
    "render_report",
    "write_report",
]
