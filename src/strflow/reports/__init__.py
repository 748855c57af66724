"""Figures and reports: the QC report (:mod:`strflow.reports.qc`), the STRF report
(:mod:`strflow.reports.strf_report`) and the deterministic page writer they share
(:mod:`strflow.reports.figures`)."""
