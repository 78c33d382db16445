"""One module per instrument; each defines INSTRUMENT (C-SSRS: both versions)."""
