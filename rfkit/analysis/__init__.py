"""Analysis: tracing a model (`tracing`), the RF algebra and per-op rules (`rf`, `rules`),
MAC formulas (`macs`), per-module statistics (`stats`), the plain-data `Report` (`report`),
devices and the effective RF (`erf`). The bottom layer: imports only rfkit.analysis and
rfkit.errors, never output, checks, train or the CLI."""
