"""A topic shared by the hostile-document tagging tests and benchmark (not a test module)."""

from __future__ import annotations

# Sides that occur all over long U.S.–Iran news text (tests/pipeline_support.py's
# US_IRAN_PARAGRAPHS, the tagging corpus): "near" holds (U.S. and Iranian are two words
# apart), "never" cannot ("sanctions" is never within a word of a U.S. name), so every hit
# of its sides is compared.
NEAR_TOPIC = """
threshold = 1
[groups]
us = ["United States", "U.S.", "White House", "Washington", "Trump"]
iran = ["Iran", "Iranian", "Iran's", "Tehran", "Khamenei"]

[[rules]]
id = "never"
match = "sanctions NEAR/1 @us"
scope = "paragraph"

[[rules]]
id = "never-document"
match = "sanctions NEAR/1 @us"
scope = "document"

[[rules]]
id = "near"
match = "@us NEAR/8 @iran"
scope = "document"
"""
