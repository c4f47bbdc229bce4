"""Getting datasets: registry, checksummed downloads and mirrors, parsers of the published
layouts, the synthetic generator, split protocols, and preparing a dataset (``prepare``)."""
