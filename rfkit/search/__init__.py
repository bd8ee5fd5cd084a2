"""Search: what `rfkit design` runs, the hand loop (write a net, check RF and params, train, change
a layer, train again) run on Optuna. `space` (the built-in search space, user spaces and
exporting a trial as Python), `study` (storage, workers, constraints decided by the trace
before any training, trials trained by rfkit's own training path). It may import train,
checks, analysis, output and errors; nothing imports it but the CLI and the API."""
