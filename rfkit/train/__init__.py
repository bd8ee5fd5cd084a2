"""Training: `config` (a run's settings from the card's recipe and the flags),
`data` and `augment` (datasets, and their transforms on the device),
`loaders` (the fast device-resident loader and torchvision's), `trainer` (the
loop, checkpoints, resume), `plots` and `progress` (what a person sees)."""
