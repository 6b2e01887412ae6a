"""Measuring suggestions against what the user wrote: metrics, and the harnesses behind `qwill eval`.

metrics.py scores a suggestion against what the file really holds (shared by the
benchmarks and `qwill eval`); for `qwill eval`, mining.py picks the cases from a
repository's files (tree-sitter), lsp_driver.py replays them through a real
`qwill serve` over stdio as an editor would, runner.py shares the time budget over
the runs, and report.py summarises (JSON, terminal tables, HTML with SVG plots).
Only lsp_driver.py speaks the protocol.
"""
