"""Tools with their own command lines: kernel-histogram analysis (`python -m zoo.tools.histograms`), the
encoder x decoder matrix check (`python -m zoo.tools.matrix`), paper recipes, and paper 001's grid
(`python -m zoo.tools.grid`)."""
