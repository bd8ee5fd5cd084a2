"""Output: renders reports as text, rich tables, HTML, JSON, CSV and plots (`render`,
`summaries`, `html`, `views`, `runs`, `erf`, `plots`): data in, text out. A leaf: imports
only rfkit.output and rfkit.errors (reports are read through their attributes, their types
under TYPE_CHECKING), never analysis, checks, train or the CLI."""
