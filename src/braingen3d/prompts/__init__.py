"""Prompt understanding: the caption vocabulary, the parser that reads a prompt's facts, the attribute vector the
U-Nets take, and the text encoder."""
