"""One module per paper section, mirroring the notebooks one to one; each function runs or loads
what one figure needs and returns tidy results for `paperlib.plots`."""
