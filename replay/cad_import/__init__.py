"""Import real CAD history (computer-aided dispatch exports) into our event schemas.

A format module maps one source row to our events (pure: :mod:`replay.cad_import.sf_fire`);
:mod:`replay.cad_import.reader` streams a file row by row through it, reporting every bad
row with its line number and a stable reason code, in constant memory.
"""
